//! Dynamic client registration (RFC 7591): open, gated by an initial access token, or off,
//! per environment.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_oauth::client::{AuthMethod, RegistrationRequest};
use gatehouse_oauth::secret::Secret;
use gatehouse_oauth::{ErrorCode, OAuthError};
use gatehouse_store::{ClientKind, ClientRecord, RegistrationMode};
use serde_json::{Value, json};

use crate::audit::Ev;
use crate::clients::dcr;
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
    let cid = crypto::new_correlation_id("reg_");
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
    let metadata = RegistrationRequest::from_json(body)?.validate(env.redirect_policy())?;
    check_allowed_callbacks(env, &metadata.redirect_uris)?;
    let now = s.now();
    let logical = dcr::logical_id(env.id(), &metadata);
    // Rate limits (pain point 4): re-registering a known client is keyed by its fingerprint,
    // so clients on shared egress (claude.ai, chatgpt.com) that register on every connection
    // are not throttled by someone else's flood; creating a new client is keyed by address.
    let existing = s
        .store
        .get_client(env.id(), &logical)
        .await
        .map_err(|e| JsonError::from(internal("client lookup", e)))?;
    let now_ms = s.now_ms();
    let limited = match &existing {
        Some(_) => s.limiter.check(
            &format!("register-fp:{logical}"),
            s.limits.register_per_fingerprint,
            now_ms,
        ),
        None => s.limiter.check(
            &format!("register-ip:{}:{}", env.id(), ip.unwrap_or("-")),
            s.limits.register_per_ip,
            now_ms,
        ),
    };
    limited.map_err(|retry| JsonError::rate_limited(retry, "registration"))?;
    if existing.as_ref().is_some_and(|c| c.disabled) {
        return Err(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "a client with exactly this registration has been disabled by the administrator",
        )
        .into());
    }
    let (client_id, _) = dcr::issue(&s.master, env.id(), &metadata, now).ok_or_else(|| {
        JsonError::from(OAuthError::new(
            ErrorCode::InvalidClientMetadata,
            "the registration is too large; publish keys with jwks_uri instead of inline jwks, or shorten it",
        ))
    })?;
    let row = ClientRecord {
        env_id: env.id().to_owned(),
        client_id: logical.clone(),
        kind: ClientKind::Dynamic,
        metadata: metadata.clone(),
        created_at: now,
        disabled: false,
        last_used_at: None,
        registrations: 1,
    };
    let stored = s
        .store
        .record_registration(&row)
        .await
        .map_err(|e| JsonError::from(internal("recording registration", e)))?;
    if stored.registrations == 1 {
        // A new logical client: keep the never-used ones bounded. Forgotten registrations
        // keep working (their client_ids carry them).
        let cap = env.record.settings.max_unused_dynamic_clients;
        if let Err(e) = s.store.evict_unused_dynamic_clients(env.id(), cap).await {
            tracing::warn!(error = %e, "could not evict unused registrations");
        }
    }
    let mut out = serde_json::to_value(&metadata).unwrap_or_else(|_| json!({}));
    if let Value::Object(m) = &mut out {
        m.insert("client_id".into(), json!(client_id));
        m.insert("client_id_issued_at".into(), json!(now));
        if AuthMethod::parse(&metadata.token_endpoint_auth_method)
            .is_some_and(AuthMethod::uses_secret)
        {
            m.insert(
                "client_secret".into(),
                json!(dcr::secret(&s.master, env.id(), &client_id).expose()),
            );
            m.insert("client_secret_expires_at".into(), json!(0));
        }
    }
    Ok((client_id, json_no_store(StatusCode::CREATED, &out)))
}

/// The environment's allowed callback URLs, when set, bound what clients may register.
fn check_allowed_callbacks(env: &EnvHandle, redirect_uris: &[String]) -> Result<(), JsonError> {
    let allowed = &env.record.settings.allowed_callback_urls;
    if allowed.is_empty() {
        return Ok(());
    }
    match redirect_uris
        .iter()
        .find(|u| !gatehouse_oauth::redirect::callback_allowed(u, allowed))
    {
        None => Ok(()),
        Some(u) => Err(OAuthError::new(
            ErrorCode::InvalidRedirectUri,
            format!(
                "{u:?} is not one of this environment's allowed callback URLs ({})",
                allowed.join(", ")
            ),
        )
        .into()),
    }
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
