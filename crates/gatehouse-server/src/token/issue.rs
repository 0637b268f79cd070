//! Minting and persisting tokens for a grant decision: the RFC 9068 access token, the
//! refresh token (stored as a hash) and the OIDC ID token.

use gatehouse_oauth::OAuthError;
use gatehouse_oauth::claims::{ACCESS_TOKEN_TYP, AccessTokenClaims, ID_TOKEN_TYP, IdTokenClaims};
use gatehouse_oauth::jose::{Algorithm, at_hash};
use gatehouse_store::RefreshTokenRecord;
use serde::Serialize;

use super::Trace;
use super::grants::{Decision, GrantCx, RefreshPlan};
use crate::crypto;
use crate::respond::internal;

/// The token response (RFC 6749 §5.1).
#[derive(Serialize)]
pub struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<String>,
}

/// Mints the tokens of a decision.
pub async fn issue(
    cx: &GrantCx<'_>,
    d: Decision,
    trace: &mut Trace,
) -> Result<TokenResponse, OAuthError> {
    let env = cx.env;
    let ttl = d.resource.record.access_token_ttl;
    let key = env
        .keys
        .signing_key(Algorithm::ES256, cx.now)
        .ok_or_else(|| {
            internal(
                "issuing access token",
                format!("environment {} has no active ES256 signing key", env.id()),
            )
        })?;
    let claims = AccessTokenClaims {
        iss: env.issuer.clone(),
        sub: d.subject.clone(),
        aud: d.resource.record.uri.clone(),
        client_id: cx.client.client_id.clone(),
        scope: d.scope.to_string(),
        iat: cx.now,
        exp: cx.now + ttl,
        jti: crypto::new_id(""),
        auth_time: d.grant.as_ref().map(|g| g.auth_time),
        sid: d.grant.as_ref().map(|g| g.id.clone()),
    };
    let access_token = key
        .sign_jwt(ACCESS_TOKEN_TYP, &claims)
        .map_err(|e| internal("signing access token", e))?;
    trace.data.push(("jti", claims.jti.clone()));
    let refresh_token = match &d.refresh {
        RefreshPlan::None => None,
        RefreshPlan::Issued(secret) => Some(secret.expose().to_owned()),
        RefreshPlan::NewFamily => {
            let grant = d.grant.as_ref().ok_or_else(|| {
                internal("issuing refresh token", "a refresh token needs a grant")
            })?;
            let secret = crypto::new_ordered_secret("ghr_");
            let record = RefreshTokenRecord {
                hash: secret.hash(),
                env_id: env.id().to_owned(),
                grant_id: grant.id.clone(),
                client_id: cx.client.client_id.clone(),
                scope: grant.scope.clone(),
                created_at: cx.now,
                expires_at: cx.now + env.record.settings.refresh_token_ttl,
                rotated_at: None,
                successor_hash: None,
                revoked_at: None,
            };
            cx.s.store
                .create_refresh(&record)
                .await
                .map_err(|e| internal("storing refresh token", e))?;
            Some(secret.expose().to_owned())
        }
    };
    trace
        .data
        .push(("refresh_token_issued", refresh_token.is_some().to_string()));
    let id_token = match &d.id_token {
        None => None,
        Some((user, nonce)) => Some(id_token(cx, &d, user, nonce.clone(), &access_token)?),
    };
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: ttl,
        scope: d.scope.to_string(),
        refresh_token,
        id_token,
    })
}

fn id_token(
    cx: &GrantCx<'_>,
    d: &Decision,
    user: &gatehouse_store::UserRecord,
    nonce: Option<String>,
    access_token: &str,
) -> Result<String, OAuthError> {
    let alg = Algorithm::parse(&cx.client.metadata.id_token_signed_response_alg)
        .unwrap_or(Algorithm::RS256);
    let key = cx.env.keys.signing_key(alg, cx.now).ok_or_else(|| {
        internal(
            "issuing ID token",
            format!(
                "environment {} has no active {} key",
                cx.env.id(),
                alg.as_str()
            ),
        )
    })?;
    let email = d.scope.contains("email");
    let claims = IdTokenClaims {
        iss: cx.env.issuer.clone(),
        sub: user.id.clone(),
        aud: cx.client.client_id.clone(),
        exp: cx.now + cx.env.record.settings.id_token_ttl,
        iat: cx.now,
        auth_time: d.grant.as_ref().map_or(cx.now, |g| g.auth_time),
        nonce,
        azp: cx.client.client_id.clone(),
        at_hash: Some(at_hash(access_token)),
        email: email.then(|| user.email.clone()),
        email_verified: email.then_some(false),
        name: if d.scope.contains("profile") {
            user.name.clone()
        } else {
            None
        },
    };
    key.sign_jwt(ID_TOKEN_TYP, &claims)
        .map_err(|e| internal("signing ID token", e))
}
