//! Token revocation (RFC 7009). Public clients may revoke their own tokens (identified by
//! `client_id`), which beats SaaS servers that demand client authentication (AS-41).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_oauth::OAuthError;
use gatehouse_oauth::params::Params;
use gatehouse_oauth::secret::Secret;

use crate::access::{self, Inactive};
use crate::audit::Ev;
use crate::crypto;
use crate::env::EnvHandle;
use crate::http::{ClientIp, Env};
use crate::respond::{JsonError, internal, no_store};
use crate::state::AppState;
use crate::token::client_auth::{Presented, authenticate};

/// `POST /revoke`.
pub async fn handle(
    State(s): State<AppState>,
    Env(env): Env,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = Params::parse(&body);
    let mut ev = Ev::new(
        env.id(),
        &crypto::new_correlation_id("rv_"),
        "revoke",
        s.now_ms(),
    )
    .ip(ip);
    let result = run(&s, &env, &headers, &params, &mut ev).await;
    match result {
        Ok(()) => {
            s.audit.emit(ev.build()).await;
            let mut resp = StatusCode::OK.into_response();
            no_store(resp.headers_mut());
            resp
        }
        Err(e) => {
            s.audit.emit(ev.failed(&e.error).build()).await;
            e.into_response()
        }
    }
}

async fn run(
    s: &AppState,
    env: &EnvHandle,
    headers: &HeaderMap,
    params: &Params,
    ev: &mut Ev,
) -> Result<(), JsonError> {
    params.check_well_formed()?;
    let presented = Presented::read(headers, params)?.ok_or_else(|| {
        JsonError::from(OAuthError::invalid_client(
            "client authentication is required: send client_id or client credentials",
        ))
    })?;
    let client = authenticate(s, env, &presented, true).await?.client;
    ev.set_client(client.id());
    let token = params.required("token")?;
    let now = s.now();
    // RFC 7009 §2.1: the hint only speeds up the lookup; try both kinds.
    let as_refresh = s
        .store
        .get_refresh(env.id(), &Secret::presented(token).hash())
        .await
        .map_err(|e| JsonError::from(internal("refresh lookup", e)))?;
    if let Some(rt) = as_refresh {
        if rt.client_id != client.id() {
            // §2.1: not the client's token; answer as if done, and change nothing.
            ev.push("outcome_detail", "refresh token of another client; ignored");
            return Ok(());
        }
        // §2.1: revoking a refresh token SHOULD revoke its access tokens too: revoke the grant.
        s.store
            .revoke_grant(env.id(), &rt.grant_id, "revoked_by_client", now)
            .await
            .map_err(|e| JsonError::from(internal("revoking grant", e)))?;
        ev.push("token_type", "refresh_token");
        ev.push("grant_id", rt.grant_id.clone());
        return Ok(());
    }
    match access::check(s, env, token).await? {
        Ok(claims) if claims.client_id == client.id() => {
            s.store
                .revoke_jti(env.id(), &claims.jti, claims.exp)
                .await
                .map_err(|e| JsonError::from(internal("revoking jti", e)))?;
            ev.push("token_type", "access_token");
            ev.push("jti", claims.jti.clone());
        }
        Ok(_) => ev.push("outcome_detail", "access token of another client; ignored"),
        Err(Inactive::Foreign | Inactive::Expired | Inactive::Revoked) => {
            ev.push(
                "outcome_detail",
                "unknown, expired or already revoked token",
            );
        }
    }
    Ok(())
}
