//! Checking the access tokens this server issued (for revocation, introspection, userinfo).

use gatehouse_oauth::OAuthError;
use gatehouse_oauth::claims::{ACCESS_TOKEN_TYP, AccessTokenClaims};
use gatehouse_oauth::jose;

use crate::env::EnvHandle;
use crate::respond::internal;
use crate::state::AppState;

/// Why an access token is not active.
#[derive(Debug, PartialEq, Eq)]
pub enum Inactive {
    /// Not a token of this environment (bad signature, wrong issuer, malformed).
    Foreign,
    /// Expired.
    Expired,
    /// Revoked (its jti, or its grant).
    Revoked,
}

/// Verifies signature, `typ`, `iss` and `exp`, then revocation of the `jti` and of the grant.
pub async fn check(
    s: &AppState,
    env: &EnvHandle,
    token: &str,
) -> Result<Result<AccessTokenClaims, Inactive>, OAuthError> {
    let now = s.now();
    let keys = env.keys.verifying_keys(now);
    let Ok((_, claims)) = jose::verify::<AccessTokenClaims>(token, &keys, ACCESS_TOKEN_TYP) else {
        return Ok(Err(Inactive::Foreign));
    };
    if claims.iss != env.issuer {
        return Ok(Err(Inactive::Foreign));
    }
    if claims.exp <= now {
        return Ok(Err(Inactive::Expired));
    }
    if s.store
        .is_jti_revoked(env.id(), &claims.jti)
        .await
        .map_err(|e| internal("jti lookup", e))?
    {
        return Ok(Err(Inactive::Revoked));
    }
    if let Some(sid) = &claims.sid {
        let grant = s
            .store
            .get_grant(env.id(), sid)
            .await
            .map_err(|e| internal("grant lookup", e))?;
        if grant.is_none_or(|g| g.revoked_at.is_some()) {
            return Ok(Err(Inactive::Revoked));
        }
    }
    Ok(Ok(claims))
}
