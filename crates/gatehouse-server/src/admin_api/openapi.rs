//! The OpenAPI 3.1 document of the admin API, built from one table of operations (a test
//! checks that every operation in it is routed).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::ok;

/// (method, path, summary, request body description or "").
pub const OPERATIONS: &[(&str, &str, &str, &str)] = &[
    ("get", "/openapi.json", "This document", ""),
    (
        "get",
        "/admin-keys",
        "List admin API keys (server-wide keys only)",
        "",
    ),
    (
        "post",
        "/admin-keys",
        "Create an admin API key; the key is returned once",
        "{name, environment?}",
    ),
    ("delete", "/admin-keys/{id}", "Revoke an admin API key", ""),
    ("get", "/environments", "List environments", ""),
    (
        "post",
        "/environments",
        "Create an environment with its own issuer and keys",
        "{id, issuer?, profile?: development|production}",
    ),
    (
        "get",
        "/environments/{env}",
        "Show an environment and its settings",
        "",
    ),
    (
        "patch",
        "/environments/{env}",
        "Change the profile or settings (JSON merge patch of settings)",
        "{profile?, settings?}",
    ),
    (
        "get",
        "/environments/{env}/keys",
        "Signing keys and which ones sign now",
        "",
    ),
    (
        "post",
        "/environments/{env}/keys/rotate",
        "Publish new keys now; they sign after activate_after seconds",
        "{activate_after?}",
    ),
    (
        "post",
        "/environments/{env}/registration-tokens",
        "Create an initial access token for gated registration",
        "{description?, ttl?}",
    ),
    (
        "get",
        "/environments/{env}/resources",
        "List MCP servers",
        "",
    ),
    (
        "post",
        "/environments/{env}/resources",
        "Register an MCP server",
        "{name, url, scopes, access_token_ttl?, refresh_without_offline_access?}",
    ),
    (
        "get",
        "/environments/{env}/resources/{id}",
        "Show an MCP server",
        "",
    ),
    (
        "patch",
        "/environments/{env}/resources/{id}",
        "Change an MCP server",
        "{name?, url?, scopes?, access_token_ttl?, refresh_without_offline_access?}",
    ),
    (
        "delete",
        "/environments/{env}/resources/{id}",
        "Delete an MCP server",
        "",
    ),
    (
        "get",
        "/environments/{env}/resources/{id}/connect",
        "What the MCP server must publish: metadata JSON, URLs, challenge, snippets",
        "",
    ),
    (
        "get",
        "/environments/{env}/clients",
        "List clients (dynamic clients once, with their registration count)",
        "",
    ),
    (
        "post",
        "/environments/{env}/clients",
        "Create a pre-registered client; a secret is returned once",
        "{name, grant_types?, scope?, redirect_uris?, public?, jwks?, jwks_uri?}",
    ),
    (
        "get",
        "/environments/{env}/clients/{client_id}",
        "Show a client",
        "",
    ),
    (
        "delete",
        "/environments/{env}/clients/{client_id}",
        "Delete a client",
        "",
    ),
    (
        "post",
        "/environments/{env}/clients/{client_id}/disable",
        "Disable a client",
        "",
    ),
    (
        "post",
        "/environments/{env}/clients/{client_id}/enable",
        "Enable a client",
        "",
    ),
    (
        "post",
        "/environments/{env}/clients/{client_id}/rotate-secret",
        "Add a new secret; old ones expire after keep_old_for",
        "{keep_old_for?}",
    ),
    (
        "get",
        "/environments/{env}/clients/{client_id}/consents",
        "Consents given to a client",
        "",
    ),
    ("get", "/environments/{env}/users", "List users", ""),
    (
        "post",
        "/environments/{env}/users",
        "Create a user",
        "{email, password, name?}",
    ),
    (
        "get",
        "/environments/{env}/users/{id}",
        "Show a user with sessions and consents",
        "",
    ),
    (
        "patch",
        "/environments/{env}/users/{id}",
        "Rename, disable or enable a user",
        "{name?, disabled?}",
    ),
    (
        "post",
        "/environments/{env}/users/{id}/password",
        "Set a new password (ends sessions)",
        "{password}",
    ),
    (
        "get",
        "/environments/{env}/users/{id}/sessions",
        "A user's sessions",
        "",
    ),
    (
        "delete",
        "/environments/{env}/users/{id}/sessions",
        "Sign a user out everywhere",
        "",
    ),
    (
        "get",
        "/environments/{env}/users/{id}/consents",
        "A user's consents",
        "",
    ),
    (
        "get",
        "/environments/{env}/consents",
        "Consents, filtered by user_id and client_id",
        "",
    ),
    (
        "post",
        "/environments/{env}/consents/revoke",
        "Revoke a consent and the grants and refresh tokens under it",
        "{user_id, client_id, resource_id}",
    ),
    (
        "get",
        "/environments/{env}/logs",
        "Authentication log (failures included), filtered, with explanations",
        "",
    ),
    (
        "get",
        "/environments/{env}/logs/export",
        "Authentication log as JSON lines",
        "",
    ),
    (
        "get",
        "/environments/{env}/logs/trace/{correlation_id}",
        "One connect attempt, step by step, with what went wrong",
        "",
    ),
];

const LOG_FILTERS: [&str; 12] = [
    "outcome",
    "event",
    "client_id",
    "resource",
    "user_id",
    "error",
    "correlation_id",
    "since",
    "until",
    "after_id",
    "limit",
    "order",
];

fn operation(method: &str, path: &str, summary: &str, body: &str) -> Value {
    let mut params: Vec<Value> = path
        .split('/')
        .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect();
    if path.ends_with("/logs") || path.ends_with("/logs/export") {
        params.extend(LOG_FILTERS.iter().map(|name| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}})));
    }
    let mut op = json!({
        "summary": summary,
        "operationId": format!("{method}{}", path.replace(['/', '{', '}', '-', '.'], "_")),
        "parameters": params,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {}}},
            "400": {"$ref": "#/components/responses/Error"},
            "401": {"$ref": "#/components/responses/Error"},
            "403": {"$ref": "#/components/responses/Error"},
            "404": {"$ref": "#/components/responses/Error"},
        },
    });
    if method == "post" && !body.is_empty() {
        op["responses"]["201"] =
            json!({"description": "Created", "content": {"application/json": {}}});
        op["responses"]["409"] = json!({"$ref": "#/components/responses/Error"});
    }
    if !body.is_empty() {
        op["requestBody"] = json!({"required": true, "description": body, "content": {"application/json": {"schema": {"type": "object"}}}});
    }
    op
}

/// The document.
pub fn build() -> Value {
    let mut paths = Map::new();
    for (method, path, summary, body) in OPERATIONS {
        let entry = paths.entry((*path).to_owned()).or_insert_with(|| json!({}));
        entry[*method] = operation(method, path, summary, body);
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Gatehouse admin API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Everything the dashboard can do. Authenticate with an admin API key: Authorization: Bearer gha_…"},
        "servers": [{"url": "/admin/api/v1"}],
        "security": [{"adminKey": []}],
        "components": {
            "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer", "description": "An admin API key (gatehouse admin-key create)"}},
            "responses": {"Error": {"description": "An error", "content": {"application/json": {"schema": {
                "type": "object", "required": ["error", "message"],
                "properties": {"error": {"type": "string"}, "message": {"type": "string"}}}}}}},
        },
        "paths": paths,
    })
}

/// `GET /openapi.json`.
pub async fn document() -> Response {
    ok(StatusCode::OK, build())
}
