//! Token introspection (RFC 7662). Only authenticated confidential clients of the
//! environment (typically an MCP server's own credentials) may ask, so the endpoint cannot be
//! used to probe tokens (§2.1).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_oauth::OAuthError;
use gatehouse_oauth::params::Params;
use gatehouse_oauth::secret::Secret;
use serde_json::{Value, json};

use crate::access;
use crate::env::EnvHandle;
use crate::http::Env;
use crate::respond::{JsonError, internal, json_no_store};
use crate::state::AppState;
use crate::token::client_auth::{Presented, authenticate};

/// `POST /introspect`.
pub async fn handle(
    State(s): State<AppState>,
    Env(env): Env,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match run(&s, &env, &headers, &Params::parse(&body)).await {
        Ok(v) => json_no_store(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

async fn run(
    s: &AppState,
    env: &EnvHandle,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Value, JsonError> {
    params.check_well_formed()?;
    let presented = Presented::read(headers, params)?.ok_or_else(|| {
        JsonError::from(OAuthError::invalid_client(
            "introspection requires client authentication",
        ))
    })?;
    let caller = authenticate(s, env, &presented, false).await?.client;
    let token = params.required("token")?;
    let inactive = json!({ "active": false });
    if let Ok(claims) = access::check(s, env, token).await? {
        let mut out = json!({
            "active": true,
            "token_type": "Bearer",
            "iss": claims.iss,
            "sub": claims.sub,
            "aud": claims.aud,
            "client_id": claims.client_id,
            "scope": claims.scope,
            "iat": claims.iat,
            "nbf": claims.iat,
            "exp": claims.exp,
            "jti": claims.jti,
        });
        if let Some(sid) = claims.sid {
            out["sid"] = json!(sid);
        }
        if let Some(at) = claims.auth_time {
            out["auth_time"] = json!(at);
        }
        return Ok(out);
    }
    let now = s.now();
    let Some(rt) = s
        .store
        .get_refresh(env.id(), &Secret::presented(token).hash())
        .await
        .map_err(|e| JsonError::from(internal("refresh lookup", e)))?
    else {
        return Ok(inactive);
    };
    // A refresh token is described only to the client it belongs to: a resource server
    // that ignored `token_type` could otherwise take it for an access token.
    if rt.client_id != caller.id() {
        return Ok(inactive);
    }
    let grant = s
        .store
        .get_grant(env.id(), &rt.grant_id)
        .await
        .map_err(|e| JsonError::from(internal("grant lookup", e)))?;
    let live = rt.revoked_at.is_none() && rt.rotated_at.is_none() && rt.expires_at > now;
    match grant {
        Some(g) if live && g.revoked_at.is_none() => Ok(json!({
            "active": true,
            "token_type": "refresh_token",
            "iss": env.issuer,
            "sub": g.user_id,
            "aud": env.resource_by_id(&g.resource_id).map(|r| r.record.uri.clone()),
            "client_id": rt.client_id,
            "scope": rt.scope,
            "iat": rt.created_at,
            "exp": rt.expires_at,
        })),
        _ => Ok(inactive),
    }
}
