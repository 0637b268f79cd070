//! A guarded MCP-ish handler and ways to get real Gatehouse tokens for it.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::post;
use gatehouse_guard::{Authenticated, Guard, GuardConfig, GuardConfigBuilder, VerifiedToken};
use gatehouse_server::clock::Clock as _;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

use crate::harness::{AuthRequest, TestApp, pkce_pair, split};

pub const CB: &str = "http://127.0.0.1:8765/callback";
pub const SCOPES: &str = "todo:read todo:write";

/// What the guarded handler received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub token: VerifiedToken,
    pub body: String,
    pub authorization: Option<String>,
}

/// A guarded server: its resource URI and what its handler saw.
pub struct Mcp {
    pub url: String,
    pub origin: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Mcp {
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn metadata_url(&self) -> String {
        format!("{}/.well-known/oauth-protected-resource/mcp", self.origin)
    }
}

/// A listener on 127.0.0.1:0 and the MCP URL it will serve.
pub async fn bind() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    (listener, url)
}

/// The usual configuration for `url` trusting the dev environment, on the harness clock.
pub fn config(app: &TestApp, url: &str) -> GuardConfigBuilder {
    let clock = app.clock.clone();
    GuardConfig::builder(url, app.issuer("dev"))
        .scopes_supported(["todo:read", "todo:write"])
        .clock(move || clock.now())
}

/// Serves a guarded `/mcp` that records what it saw and echoes the token's subject.
pub async fn serve(listener: tokio::net::TcpListener, guard: Guard) -> Mcp {
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = seen.clone();
    let handler =
        move |Authenticated(token): Authenticated, headers: axum::http::HeaderMap, body: String| {
            let record = record.clone();
            async move {
                let authorization = headers
                    .get("authorization")
                    .map(|v| v.to_str().unwrap().to_owned());
                let sub = token.subject.clone();
                record.lock().unwrap().push(Seen {
                    token,
                    body,
                    authorization,
                });
                axum::Json(json!({ "jsonrpc": "2.0", "id": 1, "result": { "sub": sub } }))
            }
        };
    let app = Router::new()
        .route("/mcp", post(handler.clone()).get(handler))
        .layer(guard.layer());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Mcp {
        url: format!("{origin}/mcp"),
        origin,
        seen,
    }
}

/// A Gatehouse with a user (alice), the MCP server registered, and its guard.
pub struct World {
    pub app: TestApp,
    pub mcp: Mcp,
    pub alice: String,
}

/// Gatehouse, alice, and a guarded MCP server configured by `tweak`.
pub async fn setup(tweak: impl FnOnce(GuardConfigBuilder) -> GuardConfigBuilder) -> World {
    let app = TestApp::spawn().await;
    let alice = app.add_user("dev", "alice@example.com").await;
    let (listener, url) = bind().await;
    app.add_resource("dev", &url, SCOPES).await;
    let guard = Guard::new(tweak(config(&app, &url)).build().unwrap());
    let mcp = serve(listener, guard).await;
    World { app, mcp, alice }
}

/// A `client_credentials` token for `resource` with `scope`.
pub async fn machine_token(app: &TestApp, env: &str, resource: &str, scope: &str) -> String {
    let (id, secret) = app.machine_client(env, Some(scope)).await;
    let (status, _, body) = app
        .token(
            env,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
                ("resource", resource),
                ("scope", scope),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// A user's tokens from a full code flow (authorize, login, consent, code exchange).
pub async fn user_tokens(app: &TestApp, resource: &str, scope: &str) -> Value {
    let client = app.register_public("dev", CB).await;
    let p = pkce_pair();
    let req = AuthRequest::new(&client, CB, &p)
        .scope(scope)
        .resource(resource);
    let (_, code) = app.code_flow("dev", &req).await;
    let (status, _, body) = app
        .token(
            "dev",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", &client),
                ("code_verifier", &p.verifier),
                ("resource", resource),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// POSTs a JSON-RPC body with an optional bearer token.
pub async fn rpc(
    app: &TestApp,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> (StatusCode, HeaderMap, Value) {
    let mut req = app
        .http
        .post(url)
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    split(req.send().await.unwrap()).await
}

/// A `tools/call` of `tool`.
pub fn call(tool: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": { "name": tool, "arguments": {} } })
}

/// The `WWW-Authenticate` header.
pub fn www(h: &HeaderMap) -> String {
    h.get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}
