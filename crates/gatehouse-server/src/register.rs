//! Dynamic client registration (RFC 7591): open, gated by an initial access token, or off,
//! per environment.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_oauth::client::RegistrationRequest;
use gatehouse_oauth::secret::Secret;
use gatehouse_oauth::{ErrorCode, OAuthError};
use gatehouse_store::{ClientKind, RegistrationMode};
use serde_json::{Value, json};

use crate::admin::{self, AdminError};
use crate::audit::Ev;
use crate::crypto;
use crate::env::EnvHandle;
use crate::http::{ClientIp, Env};
use crate::respond::{JsonError, internal, json_no_store};
use crate::state::AppState;

/// Largest registration body accepted (larger bodies get 413 from the route's body limit).
pub const MAX_BODY: usize = 16 * 1024;

/// `POST /register`.
pub async fn handle(
    State(s): State<AppState>,
    Env(env): Env,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let cid = crypto::new_id("reg_");
    let result = run(&s, &env, ip.as_deref(), &headers, &body).await;
    let mut ev = Ev::new(env.id(), &cid, "register", s.now_ms()).ip(ip);
    if let Ok(req) = serde_json::from_slice::<Value>(&body) {
        for field in [
            "client_name",
            "redirect_uris",
            "grant_types",
            "token_endpoint_auth_method",
            "application_type",
            "software_id",
        ] {
            if let Some(v) = req.get(field) {
                ev = ev.data(field, v.clone());
            }
        }
    }
    match result {
        Ok((client_id, resp)) => {
            s.audit.emit(ev.client(Some(&client_id)).build()).await;
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
    ip: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(String, Response), JsonError> {
    match env.record.settings.registration {
        RegistrationMode::Off => {
            return Err(OAuthError::new(
                ErrorCode::AccessDenied,
                "dynamic client registration is disabled in this environment; ask the administrator for a pre-registered client",
            )
            .into());
        }
        RegistrationMode::Token => check_initial_access_token(s, env, headers).await?,
        RegistrationMode::Open => {}
    }
    s.limiter
        .check(
            &format!("register-ip:{}:{}", env.id(), ip.unwrap_or("-")),
            s.limits.register_per_ip,
            s.now_ms(),
        )
        .map_err(|retry| JsonError::rate_limited(retry, "registration"))?;
    let metadata = RegistrationRequest::from_json(body)?.validate(env.redirect_policy())?;
    let now = s.now();
    let created = admin::create_client(&*s.store, env.id(), metadata, ClientKind::Dynamic, now)
        .await
        .map_err(|e| match e {
            AdminError::Invalid(m) => {
                JsonError::from(OAuthError::new(ErrorCode::InvalidClientMetadata, m))
            }
            other => JsonError::from(internal("registering client", other)),
        })?;
    let mut out = serde_json::to_value(&created.client.metadata).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut out {
        m.insert("client_id".into(), json!(created.client.client_id));
        m.insert("client_id_issued_at".into(), json!(now));
        if let Some(secret) = &created.secret {
            m.insert("client_secret".into(), json!(secret.expose()));
            m.insert("client_secret_expires_at".into(), json!(0));
        }
    }
    Ok((
        created.client.client_id.clone(),
        json_no_store(StatusCode::CREATED, &out),
    ))
}

/// RFC 7591 §3: in gated mode the request carries `Authorization: Bearer <initial access token>`;
/// a missing or unknown token is an RFC 6750 `invalid_token` (401).
async fn check_initial_access_token(
    s: &AppState,
    env: &EnvHandle,
    headers: &HeaderMap,
) -> Result<(), JsonError> {
    let token = crate::http::bearer_token(headers);
    let Some(token) = token else {
        return Err(OAuthError::new(
            ErrorCode::InvalidToken,
            "registration in this environment requires an initial access token",
        )
        .into());
    };
    let found = s
        .store
        .find_initial_access_token(env.id(), &Secret::presented(&token).hash(), s.now())
        .await
        .map_err(|e| JsonError::from(internal("initial access token lookup", e)))?;
    match found {
        Some(_) => Ok(()),
        None => Err(OAuthError::new(
            ErrorCode::InvalidToken,
            "the initial access token is invalid or expired",
        )
        .into()),
    }
}
