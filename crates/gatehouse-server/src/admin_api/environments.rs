//! Environments, their signing keys and registration tokens.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_store::{EnvSettings, Profile};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, ApiError, ApiResult, env_for, ok, reload};
use crate::admin;
use crate::env::EnvHandle;
use crate::state::AppState;

/// The JSON of an environment.
pub fn env_json(e: &EnvHandle) -> Value {
    json!({
        "id": e.id(),
        "issuer": e.issuer,
        "profile": e.record.profile.as_str(),
        "settings": e.record.settings,
        "metadata_url": e.url("/.well-known/oauth-authorization-server"),
        "mcp_servers": e.resources.len(),
    })
}

/// `GET /environments`.
pub async fn list(State(s): State<AppState>, admin: Admin) -> ApiResult<Response> {
    let snapshot = s.envs.snapshot();
    let envs: Vec<Value> = snapshot
        .envs
        .iter()
        .filter(|e| admin.check_env(e.id()).is_ok())
        .map(|e| env_json(e))
        .collect();
    Ok(ok(StatusCode::OK, envs))
}

/// Body of `POST /environments`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewEnv {
    id: String,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    profile: Option<Profile>,
}

/// `POST /environments`.
pub async fn create(
    State(s): State<AppState>,
    admin: Admin,
    Json(body): Json<NewEnv>,
) -> ApiResult<Response> {
    admin.check_server_wide()?;
    let profile = body.profile.unwrap_or(Profile::Production);
    admin::create_environment(
        &*s.store,
        &s.master,
        &body.id,
        body.issuer.as_deref(),
        profile,
        s.now(),
    )
    .await?;
    reload(&s).await?;
    let env = env_for(&s, &admin, &body.id).await?;
    Ok(ok(StatusCode::CREATED, env_json(&env)))
}

/// `GET /environments/{env}`.
pub async fn show(
    State(s): State<AppState>,
    admin: Admin,
    Path(env): Path<String>,
) -> ApiResult<Response> {
    let env = env_for(&s, &admin, &env).await?;
    Ok(ok(StatusCode::OK, env_json(&env)))
}

/// Body of `PATCH /environments/{env}`: a profile and/or a JSON merge patch (RFC 7396) of
/// the settings.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvPatch {
    #[serde(default)]
    profile: Option<Profile>,
    #[serde(default)]
    settings: Option<Value>,
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        (t, p) => *t = p.clone(),
    }
}

/// `PATCH /environments/{env}`: rules are checked as the CLI checks them (ADM-04 origins, grace
/// bounds…), every origin normalised.
pub async fn update(
    State(s): State<AppState>,
    admin: Admin,
    Path(env_id): Path<String>,
    Json(patch): Json<EnvPatch>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let mut record = admin::get_environment(&*s.store, &env_id).await?;
    if let Some(p) = patch.profile {
        record.profile = p;
    }
    if let Some(sp) = patch.settings {
        let mut current = serde_json::to_value(&record.settings)
            .map_err(|e| ApiError::internal("settings", e))?;
        merge(&mut current, &sp);
        record.settings = serde_json::from_value::<EnvSettings>(current)
            .map_err(|e| ApiError::Invalid(format!("settings: {e}")))?;
    }
    let origins = std::mem::take(&mut record.settings.allowed_origins);
    for o in origins {
        let o = admin::check_origin(&o, record.profile)?;
        if !record.settings.allowed_origins.contains(&o) {
            record.settings.allowed_origins.push(o);
        }
    }
    admin::update_environment(&*s.store, &record).await?;
    reload(&s).await?;
    let env = env_for(&s, &admin, &env_id).await?;
    Ok(ok(StatusCode::OK, env_json(&env)))
}

/// `GET /environments/{env}/keys`: every published key and which ones sign now.
pub async fn keys(
    State(s): State<AppState>,
    admin: Admin,
    Path(env_id): Path<String>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let now = s.now();
    let keys = s.store.list_keys(&env_id, now).await?;
    let rows: Vec<Value> = keys.iter().map(|k| key_json(k, now)).collect();
    Ok(ok(StatusCode::OK, rows))
}

/// The JSON of a signing key: its dates, and whether it signs now (shared with the dashboard).
pub fn key_json(k: &gatehouse_store::SigningKeyRecord, now: i64) -> Value {
    let state = if k.activates_at > now {
        "published, not yet signing"
    } else if k.retired_at.is_some_and(|r| r <= now) {
        "retired, still published"
    } else {
        "signing"
    };
    json!({
        "kid": k.kid, "alg": k.alg, "created_at": k.created_at, "activates_at": k.activates_at,
        "retired_at": k.retired_at, "removed_at": k.removed_at, "state": state,
        "public_jwk": serde_json::from_str::<Value>(&k.public_jwk).unwrap_or(Value::Null),
    })
}

/// Body of `POST /environments/{env}/keys/rotate`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Rotate {
    #[serde(default)]
    activate_after: Option<i64>,
}

/// `POST /environments/{env}/keys/rotate`.
pub async fn rotate_keys(
    State(s): State<AppState>,
    admin: Admin,
    Path(env_id): Path<String>,
    body: Option<Json<Rotate>>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let after = body
        .map(|b| b.0)
        .unwrap_or_default()
        .activate_after
        .unwrap_or(600);
    let rotated = admin::rotate_keys(&*s.store, &s.master, &env_id, after, s.now()).await?;
    reload(&s).await?;
    Ok(ok(StatusCode::OK, rotated))
}

/// Body of `POST /environments/{env}/registration-tokens`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[serde(default)]
    description: String,
    #[serde(default)]
    ttl: Option<i64>,
}

/// `POST /environments/{env}/registration-tokens`: an initial access token, shown once.
pub async fn registration_token(
    State(s): State<AppState>,
    admin: Admin,
    Path(env_id): Path<String>,
    Json(body): Json<NewToken>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let token =
        admin::add_initial_access_token(&*s.store, &env_id, &body.description, body.ttl, s.now())
            .await?;
    Ok(ok(
        StatusCode::CREATED,
        json!({ "initial_access_token": token.expose(), "expires_in": body.ttl }),
    ))
}
