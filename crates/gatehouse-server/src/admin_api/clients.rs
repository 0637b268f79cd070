//! Clients: dynamic (one row per logical client, with its registration count), metadata
//! document and pre-registered; create a machine client, disable, delete, rotate a secret.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_store::{ClientRecord, ConsentRecord};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, ApiError, ApiResult, env_for, ok};
use crate::admin::{self, NewClient};
use crate::clients::known;
use crate::state::AppState;

/// The JSON of a client row.
pub fn client_json(c: &ClientRecord) -> Value {
    let verified = match c.kind {
        gatehouse_store::ClientKind::Cimd => known::by_cimd_url(&c.client_id),
        _ => known::by_verified_redirects(&c.metadata.redirect_uris),
    };
    json!({
        "client_id": c.client_id,
        "kind": c.kind.as_str(),
        "name": c.metadata.client_name,
        "redirect_uris": c.metadata.redirect_uris,
        "grant_types": c.metadata.grant_types,
        "token_endpoint_auth_method": c.metadata.token_endpoint_auth_method,
        "application_type": c.metadata.application_type,
        "scope": c.metadata.scope,
        "software_id": c.metadata.software_id,
        "registrations": c.registrations,
        "created_at": c.created_at,
        "last_used_at": c.last_used_at,
        "disabled": c.disabled,
        "verified_as": verified.map(|k| k.name.clone()),
        "likely": known::guess(c.metadata.redirect_uris.first().map(String::as_str), c.metadata.client_name.as_deref()).map(|k| k.name.clone()),
    })
}

/// `GET /environments/{env}/clients`.
pub async fn list(
    State(s): State<AppState>,
    admin: Admin,
    Path(env_id): Path<String>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let list = s.store.list_clients(&env_id).await?;
    Ok(ok(
        StatusCode::OK,
        list.iter().map(client_json).collect::<Vec<_>>(),
    ))
}

/// Body of `POST /environments/{env}/clients` (a pre-registered client).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewClientBody {
    name: String,
    #[serde(default)]
    grant_types: Vec<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    jwks: Option<Value>,
    #[serde(default)]
    jwks_uri: Option<String>,
}

/// `POST /environments/{env}/clients`: the secret, if any, is in the answer, once.
pub async fn create(
    State(s): State<AppState>,
    admin: Admin,
    Path(env_id): Path<String>,
    Json(b): Json<NewClientBody>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let created = admin::add_client(
        &*s.store,
        &env_id,
        NewClient {
            name: b.name,
            grants: b.grant_types,
            scopes: b.scope,
            redirect_uris: b.redirect_uris,
            public: b.public,
            jwks: b.jwks,
            jwks_uri: b.jwks_uri,
        },
        s.now(),
    )
    .await?;
    let mut v = client_json(&created.client);
    if let Some(secret) = &created.secret {
        v["client_secret"] = json!(secret.expose());
    }
    Ok(ok(StatusCode::CREATED, v))
}

async fn row(s: &AppState, env_id: &str, client_id: &str) -> ApiResult<ClientRecord> {
    let id = admin::row_id(&s.master, env_id, client_id)?;
    s.store
        .get_client(env_id, &id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no client {client_id:?} in {env_id}")))
}

/// `GET /environments/{env}/clients/{client_id}` (a dynamic registration's client_id shows
/// its logical client).
pub async fn show(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, client_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    Ok(ok(
        StatusCode::OK,
        client_json(&row(&s, &env_id, &client_id).await?),
    ))
}

/// `DELETE /environments/{env}/clients/{client_id}`.
pub async fn delete(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, client_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let kind = row(&s, &env_id, &client_id).await?.kind;
    admin::delete_client(&*s.store, &s.master, &env_id, &client_id).await?;
    let note = match kind {
        gatehouse_store::ClientKind::Static => {
            "deleted; its secrets and tokens no longer authenticate"
        }
        _ => {
            "forgotten; it registered itself, so it will reappear when used again — disable it to block it"
        }
    };
    Ok(ok(
        StatusCode::OK,
        json!({ "client_id": client_id, "deleted": true, "note": note }),
    ))
}

async fn set_disabled(
    s: &AppState,
    admin: &Admin,
    env_id: &str,
    client_id: &str,
    disabled: bool,
) -> ApiResult<Response> {
    env_for(s, admin, env_id).await?;
    let id = admin::set_client_disabled(&*s.store, &s.master, env_id, client_id, disabled, s.now())
        .await?;
    Ok(ok(StatusCode::OK, client_json(&row(s, env_id, &id).await?)))
}

/// `POST /environments/{env}/clients/{client_id}/disable`.
pub async fn disable(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, client_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    set_disabled(&s, &admin, &env_id, &client_id, true).await
}

/// `POST /environments/{env}/clients/{client_id}/enable`.
pub async fn enable(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, client_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    set_disabled(&s, &admin, &env_id, &client_id, false).await
}

/// Body of `POST …/rotate-secret`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateBody {
    #[serde(default)]
    keep_old_for: Option<i64>,
}

/// `POST /environments/{env}/clients/{client_id}/rotate-secret`: the new secret, once.
pub async fn rotate_secret(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, client_id)): Path<(String, String)>,
    body: Option<Json<RotateBody>>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let keep = body
        .map(|b| b.0)
        .unwrap_or_default()
        .keep_old_for
        .unwrap_or(86_400);
    let secret = admin::rotate_client_secret(&*s.store, &env_id, &client_id, keep, s.now()).await?;
    Ok(ok(
        StatusCode::OK,
        json!({ "client_id": client_id, "client_secret": secret.expose(), "old_secrets_expire_at": s.now() + keep }),
    ))
}

/// The JSON of a consent.
pub fn consent_json(c: &ConsentRecord) -> Value {
    json!({
        "user_id": c.user_id, "client_id": c.client_id, "resource_id": c.resource_id,
        "scope": c.scope, "granted_at": c.granted_at, "updated_at": c.updated_at,
    })
}

/// `GET /environments/{env}/clients/{client_id}/consents` (for a dynamic client, the consents
/// of its logical client and of the registration itself).
pub async fn consents(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, client_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let logical = admin::row_id(&s.master, &env_id, &client_id)?;
    let mut list = s
        .store
        .list_consents(&env_id, None, Some(&client_id))
        .await?;
    if logical != client_id {
        list.extend(s.store.list_consents(&env_id, None, Some(&logical)).await?);
    }
    Ok(ok(
        StatusCode::OK,
        list.iter().map(consent_json).collect::<Vec<_>>(),
    ))
}
