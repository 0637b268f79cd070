//! End users, their sessions and consents.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_store::UserRecord;
use serde::Deserialize;
use serde_json::{Value, json};

use super::clients::consent_json;
use super::{Admin, ApiError, ApiResult, env_for, ok};
use crate::admin;
use crate::state::AppState;

fn user_json(u: &UserRecord) -> Value {
    json!({ "id": u.id, "email": u.email, "name": u.name, "disabled": u.disabled, "created_at": u.created_at })
}

/// `GET /environments/{env}/users`.
pub async fn list(
    State(s): State<AppState>,
    admin: Admin,
    Path(env_id): Path<String>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let users = s.store.list_users(&env_id).await?;
    Ok(ok(
        StatusCode::OK,
        users.iter().map(user_json).collect::<Vec<_>>(),
    ))
}

/// Body of `POST /environments/{env}/users`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    email: String,
    password: String,
    #[serde(default)]
    name: Option<String>,
}

/// `POST /environments/{env}/users`.
pub async fn create(
    State(s): State<AppState>,
    admin: Admin,
    Path(env_id): Path<String>,
    Json(b): Json<NewUser>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let u = admin::add_user(
        &*s.store,
        &env_id,
        &b.email,
        &b.password,
        b.name.as_deref(),
        s.now(),
    )
    .await?;
    Ok(ok(StatusCode::CREATED, user_json(&u)))
}

/// `GET /environments/{env}/users/{id}`: the user with their sessions and consents.
pub async fn show(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let u = admin::get_user(&*s.store, &env_id, &id).await?;
    let sessions = s.store.list_sessions(&env_id, &id, s.now()).await?;
    let consents = s.store.list_consents(&env_id, Some(&id), None).await?;
    let mut v = user_json(&u);
    v["sessions"] = json!(
        sessions
            .iter()
            .map(|x| json!({"auth_time": x.auth_time, "expires_at": x.expires_at}))
            .collect::<Vec<_>>()
    );
    v["consents"] = json!(consents.iter().map(consent_json).collect::<Vec<_>>());
    Ok(ok(StatusCode::OK, v))
}

/// Body of `PATCH /environments/{env}/users/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    disabled: Option<bool>,
}

/// `PATCH /environments/{env}/users/{id}`: disabling ends the user's sessions and stops their
/// refresh tokens.
pub async fn update(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, id)): Path<(String, String)>,
    Json(b): Json<UserPatch>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let mut u = admin::get_user(&*s.store, &env_id, &id).await?;
    if let Some(name) = b.name {
        u = admin::rename_user(&*s.store, &env_id, &id, Some(name)).await?;
    }
    if let Some(d) = b.disabled {
        u = admin::set_user_disabled(&*s.store, &env_id, &id, d).await?;
    }
    Ok(ok(StatusCode::OK, user_json(&u)))
}

/// Body of `POST …/password`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordBody {
    password: String,
}

/// `POST /environments/{env}/users/{id}/password`: sets a new password, ends sessions.
pub async fn password(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, id)): Path<(String, String)>,
    Json(b): Json<PasswordBody>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    admin::reset_password(&*s.store, &env_id, &id, &b.password).await?;
    Ok(ok(
        StatusCode::OK,
        json!({ "id": id, "password_reset": true }),
    ))
}

/// `GET /environments/{env}/users/{id}/sessions`.
pub async fn sessions(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    admin::get_user(&*s.store, &env_id, &id).await?;
    let list = s.store.list_sessions(&env_id, &id, s.now()).await?;
    Ok(ok(
        StatusCode::OK,
        list.iter()
            .map(|x| json!({"auth_time": x.auth_time, "expires_at": x.expires_at}))
            .collect::<Vec<_>>(),
    ))
}

/// `DELETE /environments/{env}/users/{id}/sessions`: signs the user out everywhere.
pub async fn end_sessions(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    admin::get_user(&*s.store, &env_id, &id).await?;
    let n = s.store.delete_user_sessions(&env_id, &id).await?;
    Ok(ok(StatusCode::OK, json!({ "id": id, "sessions_ended": n })))
}

/// `GET /environments/{env}/users/{id}/consents`.
pub async fn consents(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let list = s.store.list_consents(&env_id, Some(&id), None).await?;
    Ok(ok(
        StatusCode::OK,
        list.iter().map(consent_json).collect::<Vec<_>>(),
    ))
}

/// Query of `GET /environments/{env}/consents`.
#[derive(Deserialize)]
pub struct ConsentQuery {
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
}

/// `GET /environments/{env}/consents`.
pub async fn all_consents(
    State(s): State<AppState>,
    admin: Admin,
    Path(env_id): Path<String>,
    Query(q): Query<ConsentQuery>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let list = s
        .store
        .list_consents(&env_id, q.user_id.as_deref(), q.client_id.as_deref())
        .await?;
    Ok(ok(
        StatusCode::OK,
        list.iter().map(consent_json).collect::<Vec<_>>(),
    ))
}

/// Body of `POST /environments/{env}/consents/revoke`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeBody {
    user_id: String,
    client_id: String,
    resource_id: String,
}

/// `POST /environments/{env}/consents/revoke`: forgets the consent and revokes every grant of
/// that user, client and MCP server with its refresh tokens (access tokens expire on their own
/// and are inactive at introspection).
pub async fn revoke_consent(
    State(s): State<AppState>,
    admin: Admin,
    Path(env_id): Path<String>,
    Json(b): Json<RevokeBody>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let existed = s
        .store
        .revoke_consent(&env_id, &b.user_id, &b.client_id, &b.resource_id, s.now())
        .await?;
    if !existed {
        return Err(ApiError::NotFound("no such consent".into()));
    }
    Ok(ok(StatusCode::OK, json!({ "revoked": true })))
}
