//! Who is calling the admin API, and the admin API keys themselves.

use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::Response;
use gatehouse_oauth::secret::Secret;
use serde::Deserialize;
use serde_json::json;

use super::{ApiError, ApiResult, ok};
use crate::admin;
use crate::state::AppState;

/// The dashboard's session cookie.
pub const ADMIN_SESSION_COOKIE: &str = "gh_admin";

/// An authenticated caller of the admin API.
#[derive(Clone, Debug)]
pub struct Admin {
    /// `adk_…` for an API key, `adm_…` for a signed-in administrator.
    pub id: String,
    /// The one environment an API key is limited to.
    pub env_scope: Option<String>,
}

impl Admin {
    /// May this caller administer `env_id`?
    pub fn check_env(&self, env_id: &str) -> ApiResult<()> {
        match &self.env_scope {
            Some(scope) if scope != env_id => Err(ApiError::Forbidden(format!(
                "this API key is limited to environment {scope:?}; it cannot administer {env_id:?}"
            ))),
            _ => Ok(()),
        }
    }

    /// May this caller act on the whole server (environments, admin keys)?
    pub fn check_server_wide(&self) -> ApiResult<()> {
        match &self.env_scope {
            Some(scope) => Err(ApiError::Forbidden(format!(
                "this API key is limited to environment {scope:?}; server-wide operations need an unrestricted key"
            ))),
            None => Ok(()),
        }
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let now = state.now();
        if let Some(key) = crate::http::bearer_token(&parts.headers) {
            let found = state
                .store
                .find_admin_key(&Secret::presented(&key).hash())
                .await?;
            let Some(k) = found else {
                return Err(ApiError::Unauthorized(
                    "the admin API key is unknown or revoked".into(),
                ));
            };
            if k.last_used_at.is_none_or(|t| now - t >= 60) {
                let _ = state.store.touch_admin_key(&k.id, now).await;
            }
            return Ok(Self {
                id: k.id,
                env_scope: k.env_id,
            });
        }
        if let Some(cookie) = crate::http::cookie(&parts.headers, ADMIN_SESSION_COOKIE)
            && let Some(session) = state
                .store
                .get_admin_session(&Secret::presented(&cookie).hash(), now)
                .await?
        {
            let mutating = !matches!(
                parts.method,
                axum::http::Method::GET | axum::http::Method::HEAD
            );
            let json = parts
                .headers
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            if mutating && !json {
                return Err(ApiError::Forbidden(
                    "with a session cookie, changes must be sent as application/json".into(),
                ));
            }
            let admin = state.store.get_admin_user(&session.admin_id).await?;
            if admin.is_some_and(|a| !a.disabled) {
                return Ok(Self {
                    id: session.admin_id,
                    env_scope: None,
                });
            }
        }
        Err(ApiError::Unauthorized(
            "send an admin API key (Authorization: Bearer gha_…; create one with `gatehouse admin-key create`)".into(),
        ))
    }
}

fn key_json(k: &gatehouse_store::AdminKeyRecord) -> serde_json::Value {
    json!({
        "id": k.id, "name": k.name, "environment": k.env_id, "created_at": k.created_at,
        "last_used_at": k.last_used_at, "revoked_at": k.revoked_at,
    })
}

/// `GET /admin-keys`.
pub async fn list_keys(State(s): State<AppState>, admin: Admin) -> ApiResult<Response> {
    admin.check_server_wide()?;
    let keys = s.store.list_admin_keys().await?;
    Ok(ok(
        StatusCode::OK,
        keys.iter().map(key_json).collect::<Vec<_>>(),
    ))
}

/// Body of `POST /admin-keys`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    name: String,
    #[serde(default)]
    environment: Option<String>,
}

/// `POST /admin-keys`: the key is in the answer, once.
pub async fn create_key(
    State(s): State<AppState>,
    admin: Admin,
    Json(body): Json<NewKey>,
) -> ApiResult<Response> {
    admin.check_server_wide()?;
    let (record, key) =
        admin::create_admin_key(&*s.store, &body.name, body.environment.as_deref(), s.now())
            .await?;
    let mut v = key_json(&record);
    v["key"] = json!(key.expose());
    Ok(ok(StatusCode::CREATED, v))
}

/// `DELETE /admin-keys/{id}`.
pub async fn revoke_key(
    State(s): State<AppState>,
    admin: Admin,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    admin.check_server_wide()?;
    if !s.store.revoke_admin_key(&id, s.now()).await? {
        return Err(ApiError::NotFound(format!("no admin key {id}")));
    }
    Ok(ok(StatusCode::OK, json!({ "id": id, "revoked": true })))
}
