//! Checking the access tokens this server issued (for revocation, introspection, userinfo).
//!
//! A token's signature is verified once: its claims are then kept (keyed by SHA-256 of the
//! token, until `exp`, see [`crate::cache::TokenCache`]). Revocation is never cached: every
//! check asks the store, which all nodes share, whether the `jti` or the grant was revoked.

use std::sync::Arc;

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
) -> Result<Result<Arc<AccessTokenClaims>, Inactive>, OAuthError> {
    let now = s.now();
    let cache = &s.envs.tokens;
    let key = crate::cache::token_key(token);
    let claims = match cache.get(env.id(), &key, now) {
        Some(c) => c,
        None => {
            let epoch = cache.epoch();
            let keys = env.keys.verifying_keys(now);
            let Ok((header, claims)) =
                jose::verify::<AccessTokenClaims>(token, &keys, ACCESS_TOKEN_TYP)
            else {
                return Ok(Err(Inactive::Foreign));
            };
            if claims.iss != env.issuer {
                return Ok(Err(Inactive::Foreign));
            }
            let claims = Arc::new(claims);
            let until = header
                .kid
                .as_deref()
                .map_or(i64::MIN, |kid| env.keys.verifies_until(kid))
                .min(claims.exp);
            cache.insert(epoch, env.id(), key, &claims, until, now);
            claims
        }
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
