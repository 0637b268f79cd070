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
use gatehouse_store::RefreshWithGrant;
use serde::Serialize;
use serde_json::{Value, json};

use crate::access;
use crate::env::EnvHandle;
use crate::http::Env;
use crate::respond::{JsonError, internal, json_no_store};
use crate::state::AppState;
use crate::token::client_auth::{Presented, authenticate};

/// The answer for an active access token (RFC 7662 §2.2), serialised straight from the
/// claims.
#[derive(Serialize)]
struct ActiveAccessToken<'a> {
    active: bool,
    token_type: &'static str,
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    client_id: &'a str,
    scope: &'a str,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    auth_time: Option<i64>,
}

/// `POST /introspect`.
pub async fn handle(
    State(s): State<AppState>,
    Env(env): Env,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match run(&s, &env, &headers, &Params::parse(&body)).await {
        Ok(resp) => resp,
        Err(e) => e.into_response(),
    }
}

async fn run(
    s: &AppState,
    env: &EnvHandle,
    headers: &HeaderMap,
    params: &Params,
) -> Result<Response, JsonError> {
    params.check_well_formed()?;
    let presented = Presented::read(headers, params)?.ok_or_else(|| {
        JsonError::from(OAuthError::invalid_client(
            "introspection requires client authentication",
        ))
    })?;
    let caller = authenticate(s, env, &presented, false).await?.client;
    let token = params.required("token")?;
    if let Ok(claims) = access::check(s, env, token).await? {
        return Ok(json_no_store(
            StatusCode::OK,
            &ActiveAccessToken {
                active: true,
                token_type: "Bearer",
                iss: &claims.iss,
                sub: &claims.sub,
                aud: &claims.aud,
                client_id: &claims.client_id,
                scope: &claims.scope,
                iat: claims.iat,
                nbf: claims.iat,
                exp: claims.exp,
                jti: &claims.jti,
                sid: claims.sid.as_deref(),
                auth_time: claims.auth_time,
            },
        ));
    }
    let answer =
        |v: Value| -> Result<Response, JsonError> { Ok(json_no_store(StatusCode::OK, &v)) };
    let inactive = || answer(json!({ "active": false }));
    let now = s.now();
    // The token and its grant in one query (a token whose grant is gone is not active, nor
    // one whose user is disabled or deleted: the token endpoint would refuse it).
    let Some(RefreshWithGrant {
        token: rt,
        grant: g,
        user_active,
    }) = s
        .store
        .get_refresh_with_grant(env.id(), &Secret::presented(token).hash())
        .await
        .map_err(|e| JsonError::from(internal("refresh lookup", e)))?
    else {
        return inactive();
    };
    // A refresh token is described only to the client it belongs to: a resource server
    // that ignored `token_type` could otherwise take it for an access token.
    if rt.client_id != caller.id() {
        return inactive();
    }
    let live = rt.revoked_at.is_none() && rt.rotated_at.is_none() && rt.expires_at > now;
    if !live || g.revoked_at.is_some() || !user_active {
        return inactive();
    }
    answer(json!({
        "active": true,
        "token_type": "refresh_token",
        "iss": env.issuer,
        "sub": g.user_id,
        "aud": env.resource_by_id(&g.resource_id).map(|r| r.record.uri.clone()),
        "client_id": rt.client_id,
        "scope": rt.scope,
        "iat": rt.created_at,
        "exp": rt.expires_at,
    }))
}
