//! The admin API: JSON REST under `/admin/api/v1`, described by an OpenAPI document at
//! `/admin/api/v1/openapi.json`. Everything the dashboard does goes through the same
//! operations (`crate::admin`), so the CLI, the API and the dashboard behave the same.
//!
//! Authentication: an admin API key (`Authorization: Bearer gha_…`, `gatehouse admin-key
//! create`), possibly limited to one environment, or the dashboard's session cookie (an
//! administrator signed in; `SameSite=Strict`, and mutations must be JSON, which a cross-site
//! form cannot send).

pub mod auth;
pub mod clients;
pub mod environments;
pub mod logs;
pub mod openapi;
pub mod resources;
pub mod users;

use axum::Json;
use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

pub use self::auth::{ADMIN_SESSION_COOKIE, Admin};
use crate::admin::AdminError;
use crate::env::EnvHandle;
use crate::state::AppState;

/// An admin API failure; the status is decided here only.
#[derive(Debug)]
pub enum ApiError {
    /// 400: the request is malformed or breaks a rule.
    Invalid(String),
    /// 401: no or bad credentials.
    Unauthorized(String),
    /// 403: credentials that may not do this.
    Forbidden(String),
    /// 404.
    NotFound(String),
    /// 409.
    Conflict(String),
    /// 500, logged.
    Internal(String),
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str, &str) {
        match self {
            Self::Invalid(m) => (StatusCode::BAD_REQUEST, "invalid_request", m),
            Self::Unauthorized(m) => (StatusCode::UNAUTHORIZED, "unauthorized", m),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, "forbidden", m),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m),
            Self::Conflict(m) => (StatusCode::CONFLICT, "conflict", m),
            Self::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, "server_error", m),
        }
    }

    /// A failure of the store or another unexpected error: logged, 500.
    pub fn internal(context: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "admin API: {context}");
        Self::Internal("internal error; the server log has the details".into())
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Invalid(m) => Self::Invalid(m),
            AdminError::NotFound(m) => Self::NotFound(m),
            AdminError::Conflict(m) => Self::Conflict(m),
            AdminError::Store(s) => Self::internal("storage", s),
        }
    }
}

impl From<gatehouse_store::StoreError> for ApiError {
    fn from(e: gatehouse_store::StoreError) -> Self {
        Self::internal("storage", e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code, message) = self.parts();
        let mut resp = (status, Json(json!({ "error": code, "message": message }))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"gatehouse-admin\""),
            );
        }
        resp.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        resp
    }
}

/// Result of an admin API handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// A JSON answer that must not be cached.
pub fn ok<T: serde::Serialize>(status: StatusCode, body: T) -> Response {
    let mut resp = (status, Json(body)).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

/// The served environment, after checking the caller may administer it.
pub async fn env_for(
    state: &AppState,
    admin: &Admin,
    env_id: &str,
) -> ApiResult<std::sync::Arc<EnvHandle>> {
    admin.check_env(env_id)?;
    let find = |s: &crate::env::Snapshot| s.envs.iter().find(|e| e.id() == env_id).cloned();
    if let Some(env) = find(&state.envs.snapshot()) {
        return Ok(env);
    }
    // Created a moment ago by the CLI or another node: look once more.
    let fresh = state
        .envs
        .refresh(state.now(), true)
        .await
        .map_err(|e| ApiError::internal("reloading environments", e))?;
    find(&fresh).ok_or_else(|| ApiError::NotFound(format!("environment {env_id:?} does not exist")))
}

/// Makes the running server see a change now rather than within a second.
pub async fn reload(state: &AppState) -> ApiResult<()> {
    state
        .envs
        .refresh(state.now(), true)
        .await
        .map(drop)
        .map_err(|e| ApiError::internal("reloading environments", e))
}

/// The admin API routes, to be nested at `/admin/api/v1`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi::document))
        .route("/admin-keys", get(auth::list_keys).post(auth::create_key))
        .route("/admin-keys/{id}", axum::routing::delete(auth::revoke_key))
        .route(
            "/environments",
            get(environments::list).post(environments::create),
        )
        .route(
            "/environments/{env}",
            get(environments::show).patch(environments::update),
        )
        .route("/environments/{env}/keys", get(environments::keys))
        .route(
            "/environments/{env}/keys/rotate",
            post(environments::rotate_keys),
        )
        .route(
            "/environments/{env}/registration-tokens",
            post(environments::registration_token),
        )
        .route(
            "/environments/{env}/resources",
            get(resources::list).post(resources::create),
        )
        .route(
            "/environments/{env}/resources/{id}",
            get(resources::show)
                .patch(resources::update)
                .delete(resources::delete),
        )
        .route(
            "/environments/{env}/resources/{id}/connect",
            get(resources::connect),
        )
        .route(
            "/environments/{env}/clients",
            get(clients::list).post(clients::create),
        )
        .route(
            "/environments/{env}/clients/{client_id}",
            get(clients::show).delete(clients::delete),
        )
        .route(
            "/environments/{env}/clients/{client_id}/disable",
            post(clients::disable),
        )
        .route(
            "/environments/{env}/clients/{client_id}/enable",
            post(clients::enable),
        )
        .route(
            "/environments/{env}/clients/{client_id}/rotate-secret",
            post(clients::rotate_secret),
        )
        .route(
            "/environments/{env}/clients/{client_id}/consents",
            get(clients::consents),
        )
        .route(
            "/environments/{env}/users",
            get(users::list).post(users::create),
        )
        .route(
            "/environments/{env}/users/{id}",
            get(users::show).patch(users::update),
        )
        .route(
            "/environments/{env}/users/{id}/password",
            post(users::password),
        )
        .route(
            "/environments/{env}/users/{id}/sessions",
            get(users::sessions).delete(users::end_sessions),
        )
        .route(
            "/environments/{env}/users/{id}/consents",
            get(users::consents),
        )
        .route("/environments/{env}/consents", get(users::all_consents))
        .route(
            "/environments/{env}/consents/revoke",
            post(users::revoke_consent),
        )
        .route("/environments/{env}/logs", get(logs::list))
        .route("/environments/{env}/logs/export", get(logs::export))
        .route(
            "/environments/{env}/logs/trace/{correlation_id}",
            get(logs::trace),
        )
        .with_state(state)
}
