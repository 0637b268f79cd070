//! A minimal MCP server protected by Gatehouse, standing in for a real resource server:
//! RFC 9728 metadata, RFC 6750 challenges, RFC 9068 access-token checks against Gatehouse's
//! JWKS, and just enough Streamable HTTP JSON-RPC (JSON responses, no session, no SSE) for
//! an MCP client to initialize, list tools and call `whoami`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use gatehouse_oauth::claims::AccessTokenClaims;
use gatehouse_oauth::jose::{self, VerifyingKey};
use serde_json::{Value, json};

/// The scope the server asks for in its challenge and publishes in its metadata.
pub const SCOPE: &str = "todo:read";
/// Protocol versions this server speaks; it answers `initialize` with the client's version
/// when it is one of these, else with the first (MCP lifecycle, version negotiation).
const VERSIONS: [&str; 3] = ["2025-11-25", "2025-06-18", "2025-03-26"];

/// An authenticated JSON-RPC message the server accepted.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub token: String,
}

pub struct McpServer {
    /// The MCP endpoint, which is also the resource identifier.
    pub url: String,
    /// Where the protected resource metadata is served (RFC 9728 §3.1).
    pub metadata_url: String,
    shared: Arc<Shared>,
}

struct Shared {
    issuer: String,
    resource: String,
    metadata_url: String,
    http: reqwest::Client,
    seen: Mutex<Vec<Seen>>,
    rejected: Mutex<HashSet<String>>,
    /// Seconds added to the real time when checking `exp` (see [`McpServer::advance`]).
    offset: AtomicI64,
}

impl McpServer {
    /// Serves on 127.0.0.1:0, trusting `issuer`.
    pub async fn spawn(issuer: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let origin = format!("http://{}", listener.local_addr().expect("addr"));
        let url = format!("{origin}/mcp");
        let metadata_url = format!("{origin}/.well-known/oauth-protected-resource/mcp");
        let shared = Arc::new(Shared {
            issuer: issuer.to_owned(),
            resource: url.clone(),
            metadata_url: metadata_url.clone(),
            http: reqwest::Client::new(),
            seen: Mutex::default(),
            rejected: Mutex::default(),
            offset: AtomicI64::new(0),
        });
        let app = Router::new()
            .route("/mcp", get(get_mcp).post(post_mcp))
            .route("/.well-known/oauth-protected-resource/mcp", get(metadata))
            .route("/.well-known/oauth-protected-resource", get(metadata))
            .with_state(shared.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Self {
            url,
            metadata_url,
            shared,
        }
    }

    /// Every authenticated message so far, oldest first.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("lock").clone()
    }

    /// Moves this server's clock (for `exp` checks) `secs` seconds ahead, like the test
    /// clock of the authorization server.
    pub fn advance(&self, secs: i64) {
        self.shared.offset.fetch_add(secs, Ordering::SeqCst);
    }

    /// From now on, answers `token` with `invalid_token`, as after a revocation.
    pub fn reject(&self, token: &str) {
        self.shared
            .rejected
            .lock()
            .expect("lock")
            .insert(token.to_owned());
    }
}

/// RFC 9728 §3.2.
async fn metadata(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(json!({
        "resource": s.resource,
        "authorization_servers": [s.issuer],
        "scopes_supported": [SCOPE],
        "bearer_methods_supported": ["header"],
    }))
    .into_response()
}

/// RFC 6750 §3 / RFC 9728 §5.1: no error code when no credentials were sent.
fn challenge(s: &Shared, error: Option<&str>) -> Response {
    let error = error
        .map(|e| format!("error=\"{e}\", "))
        .unwrap_or_default();
    let value = format!(
        "Bearer {error}resource_metadata=\"{}\", scope=\"{SCOPE}\"",
        s.metadata_url
    );
    let mut resp = StatusCode::UNAUTHORIZED.into_response();
    resp.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_str(&value).expect("header"),
    );
    resp
}

/// The bearer token and its verified claims, or the 401 to send.
async fn authenticate(
    s: &Shared,
    headers: &HeaderMap,
) -> Result<(String, AccessTokenClaims), Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned())
        .ok_or_else(|| challenge(s, None))?;
    match verify(s, &token).await {
        Ok(claims) => Ok((token, claims)),
        Err(why) => {
            eprintln!("mcp server: rejected token: {why}");
            Err(challenge(s, Some("invalid_token")))
        }
    }
}

/// RFC 9068 §4: signature by a key in the issuer's JWKS, `typ` `at+jwt`, `iss`, `aud`, `exp`.
async fn verify(s: &Shared, token: &str) -> Result<AccessTokenClaims, String> {
    if s.rejected.lock().expect("lock").contains(token) {
        return Err("revoked".into());
    }
    let jwks: Value = s
        .http
        .get(format!("{}/jwks.json", s.issuer))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let keys = jwks["keys"]
        .as_array()
        .ok_or("no keys")?
        .iter()
        .filter_map(|k| VerifyingKey::from_jwk(&serde_json::from_value(k.clone()).ok()?).ok())
        .collect::<Vec<_>>();
    let (_, claims): (_, AccessTokenClaims) =
        jose::verify(token, &keys, "at+jwt").map_err(|e| e.to_string())?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("time")
        .as_secs() as i64
        + s.offset.load(Ordering::SeqCst);
    if claims.iss != s.issuer {
        return Err(format!("iss {}", claims.iss));
    }
    if claims.aud != s.resource {
        return Err(format!("aud {}", claims.aud));
    }
    if claims.exp <= now {
        return Err("expired".into());
    }
    Ok(claims)
}

/// `GET /mcp`: challenged like every other method; no server-initiated stream.
async fn get_mcp(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    match authenticate(&s, &headers).await {
        Ok(_) => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        Err(resp) => resp,
    }
}

/// `POST /mcp`: one JSON-RPC message in, one JSON response (or 202) out.
async fn post_mcp(State(s): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let (token, claims) = match authenticate(&s, &headers).await {
        Ok(ok) => ok,
        Err(resp) => return resp,
    };
    let Ok(msg) = serde_json::from_slice::<Value>(&body) else {
        return rpc_error(&Value::Null, -32700, "parse error");
    };
    let method = msg["method"].as_str().unwrap_or_default().to_owned();
    s.seen.lock().expect("lock").push(Seen {
        method: method.clone(),
        token,
    });
    // Notifications and responses need no answer.
    let Some(id) = msg.get("id").filter(|_| !method.is_empty()) else {
        return StatusCode::ACCEPTED.into_response();
    };
    let result = match method.as_str() {
        "initialize" => initialize(&msg["params"]),
        "ping" => json!({}),
        "tools/list" => tools(),
        "tools/call" if msg["params"]["name"] == "whoami" => whoami(&claims),
        "tools/call" => return rpc_error(id, -32602, "unknown tool"),
        _ => return rpc_error(id, -32601, "method not found"),
    };
    axum::Json(json!({ "jsonrpc": "2.0", "id": id, "result": result })).into_response()
}

fn rpc_error(id: &Value, code: i64, message: &str) -> Response {
    axum::Json(json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": code, "message": message },
    }))
    .into_response()
}

fn initialize(params: &Value) -> Value {
    let asked = params["protocolVersion"].as_str().unwrap_or_default();
    let version = VERSIONS
        .into_iter()
        .find(|v| *v == asked)
        .unwrap_or(VERSIONS[0]);
    json!({
        "protocolVersion": version,
        "capabilities": { "tools": {} },
        "serverInfo": { "name": "gatehouse-interop-mcp", "version": "0.1.0" },
    })
}

fn tools() -> Value {
    json!({
        "tools": [{
            "name": "whoami",
            "description": "Who the access token speaks for.",
            "inputSchema": { "type": "object", "properties": {} },
        }]
    })
}

fn whoami(claims: &AccessTokenClaims) -> Value {
    let text = json!({
        "sub": claims.sub,
        "client_id": claims.client_id,
        "scope": claims.scope,
    })
    .to_string();
    json!({ "content": [{ "type": "text", "text": text }], "isError": false })
}
