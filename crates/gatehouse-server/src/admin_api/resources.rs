//! MCP servers, and the "Connect your MCP server" panel: everything the MCP server must
//! publish, exactly, with ready-to-paste snippets.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use gatehouse_guard::{BearerChallenge, metadata_url};
use gatehouse_store::{ResourceRecord, ScopeDef};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, ApiError, ApiResult, env_for, ok, reload};
use crate::admin::{self, NewResource};
use crate::env::EnvHandle;
use crate::state::AppState;

/// The JSON of an MCP server.
pub fn resource_json(r: &ResourceRecord) -> Value {
    json!({
        "id": r.id, "name": r.name, "url": r.uri, "scopes": r.scopes,
        "access_token_ttl": r.access_token_ttl, "refresh_without_offline_access": r.refresh_without_offline_access,
        "created_at": r.created_at,
    })
}

/// `GET /environments/{env}/resources`.
pub async fn list(
    State(s): State<AppState>,
    admin: Admin,
    Path(env_id): Path<String>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let list = s.store.list_resources(&env_id).await?;
    Ok(ok(
        StatusCode::OK,
        list.iter().map(resource_json).collect::<Vec<_>>(),
    ))
}

/// Scopes given as a list of `{name, description}` or as one space-separated string.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum Scopes {
    /// `"todo:read todo:write"`.
    Text(String),
    /// `[{"name": "todo:read", "description": "Read your todos"}]`.
    List(Vec<ScopeInput>),
}

/// A scope with an optional description.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeInput {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

/// Body of `POST` and `PATCH` (all fields optional for `PATCH`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResourceBody {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    scopes: Option<Scopes>,
    #[serde(default)]
    access_token_ttl: Option<i64>,
    #[serde(default)]
    refresh_without_offline_access: Option<bool>,
}

fn scope_defs(scopes: Scopes, name: &str) -> ApiResult<Vec<ScopeDef>> {
    Ok(match scopes {
        Scopes::Text(t) => admin::scope_defs(&t, &[], name)?,
        Scopes::List(list) => {
            let text = list
                .iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(" ");
            let descriptions: Vec<(String, String)> = list
                .iter()
                .filter_map(|s| {
                    s.description
                        .clone()
                        .filter(|d| !d.trim().is_empty())
                        .map(|d| (s.name.clone(), d))
                })
                .collect();
            admin::scope_defs(&text, &descriptions, name)?
        }
    })
}

/// `POST /environments/{env}/resources`.
pub async fn create(
    State(s): State<AppState>,
    admin: Admin,
    Path(env_id): Path<String>,
    Json(b): Json<ResourceBody>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let name = b
        .name
        .ok_or_else(|| ApiError::Invalid("name is required".into()))?;
    let url = b
        .url
        .ok_or_else(|| ApiError::Invalid("url is required".into()))?;
    let scopes = scope_defs(b.scopes.unwrap_or(Scopes::Text(String::new())), &name)?;
    let new = NewResource {
        name,
        url,
        scopes,
        access_token_ttl: b.access_token_ttl,
        refresh_without_offline_access: b.refresh_without_offline_access,
    };
    let r = admin::add_resource(&*s.store, &env_id, new, s.now()).await?;
    reload(&s).await?;
    Ok(ok(StatusCode::CREATED, resource_json(&r)))
}

async fn find(s: &AppState, env_id: &str, id: &str) -> ApiResult<ResourceRecord> {
    s.store
        .get_resource(env_id, id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no MCP server {id} in {env_id}")))
}

/// `GET /environments/{env}/resources/{id}`.
pub async fn show(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    Ok(ok(
        StatusCode::OK,
        resource_json(&find(&s, &env_id, &id).await?),
    ))
}

/// `PATCH /environments/{env}/resources/{id}`.
pub async fn update(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, id)): Path<(String, String)>,
    Json(b): Json<ResourceBody>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    let current = find(&s, &env_id, &id).await?;
    let name = b.name.unwrap_or(current.name);
    let scopes = match b.scopes {
        Some(sc) => scope_defs(sc, &name)?,
        None => current.scopes,
    };
    let new = NewResource {
        url: b.url.unwrap_or(current.uri),
        name,
        scopes,
        access_token_ttl: Some(b.access_token_ttl.unwrap_or(current.access_token_ttl)),
        refresh_without_offline_access: b.refresh_without_offline_access,
    };
    let r = admin::update_resource(&*s.store, &env_id, &id, new).await?;
    reload(&s).await?;
    Ok(ok(StatusCode::OK, resource_json(&r)))
}

/// `DELETE /environments/{env}/resources/{id}`.
pub async fn delete(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    admin::delete_resource(&*s.store, &env_id, &id).await?;
    reload(&s).await?;
    Ok(ok(StatusCode::OK, json!({ "id": id, "deleted": true })))
}

/// What an MCP server must publish to work with this environment.
pub fn connect_panel(env: &EnvHandle, r: &ResourceRecord) -> Value {
    let scopes: Vec<&str> = r.scopes.iter().map(|s| s.name.as_str()).collect();
    let scope_text = scopes.join(" ");
    let prm_url = metadata_url(&r.uri).unwrap_or_default();
    let root_url = url::Url::parse(&r.uri)
        .map(|u| {
            format!(
                "{}{}",
                u.origin().ascii_serialization(),
                gatehouse_guard::WELL_KNOWN_PRM
            )
        })
        .unwrap_or_default();
    let prm = json!({
        "resource": r.uri,
        "authorization_servers": [env.issuer],
        "scopes_supported": scopes,
        "bearer_methods_supported": ["header"],
        "resource_name": r.name,
    });
    let challenge = BearerChallenge {
        error: None,
        scope: Some(&scope_text)
            .filter(|s| !s.is_empty())
            .map(String::as_str),
        resource_metadata: &prm_url,
        error_description: None,
    }
    .render();
    let guard = format!(
        "use gatehouse_guard::{{Guard, GuardConfig}};\n\n\
         let guard = Guard::new(\n    GuardConfig::builder(\"{uri}\", \"{issuer}\")\n        .scopes_supported([{scopes_rs}])\n        .build()?,\n);\n\
         let app = axum::Router::new()\n    .route(\"/mcp\", axum::routing::post(mcp_handler))\n    .layer(guard.layer());",
        uri = r.uri,
        issuer = env.issuer,
        scopes_rs = scopes
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", "),
    );
    let gateway = format!(
        "gatehouse proxy --issuer {issuer} --resource {uri} \\\n  --upstream http://127.0.0.1:3000/mcp --listen 0.0.0.0:443 --tls-cert cert.pem --tls-key key.pem",
        issuer = env.issuer,
        uri = r.uri
    );
    let fastmcp = format!(
        "from fastmcp import FastMCP\nfrom fastmcp.server.auth.providers.jwt import JWTVerifier\n\n\
         auth = JWTVerifier(\n    jwks_uri=\"{jwks}\",\n    issuer=\"{issuer}\",\n    audience=\"{uri}\",\n)\n\
         mcp = FastMCP(\"{name}\", auth=auth)",
        jwks = env.url("/jwks.json"),
        issuer = env.issuer,
        uri = r.uri,
        name = r.name
    );
    let typescript = format!(
        "import {{ createRemoteJWKSet, jwtVerify }} from \"jose\";\n\n\
         const jwks = createRemoteJWKSet(new URL(\"{jwks}\"));\n\
         export async function verify(token: string) {{\n  const {{ payload }} = await jwtVerify(token, jwks, {{\n    issuer: \"{issuer}\",\n    audience: \"{uri}\",\n    typ: \"at+jwt\",\n  }});\n  return payload;\n}}\n\
         // On a missing or invalid token answer 401 with\n// WWW-Authenticate: {challenge}",
        jwks = env.url("/jwks.json"),
        issuer = env.issuer,
        uri = r.uri,
        challenge = challenge,
    );
    json!({
        "resource": r.uri,
        "issuer": env.issuer,
        "protected_resource_metadata": prm,
        "protected_resource_metadata_urls": [prm_url, root_url],
        "www_authenticate": challenge,
        "authorization_server_metadata_url": env.url("/.well-known/oauth-authorization-server"),
        "jwks_uri": env.url("/jwks.json"),
        "snippets": { "guard": guard, "gateway": gateway, "fastmcp": fastmcp, "typescript": typescript },
    })
}

/// `GET /environments/{env}/resources/{id}/connect`.
pub async fn connect(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let env = env_for(&s, &admin, &env_id).await?;
    Ok(ok(
        StatusCode::OK,
        connect_panel(&env, &find(&s, &env_id, &id).await?),
    ))
}
