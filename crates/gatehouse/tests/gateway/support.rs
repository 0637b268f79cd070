//! Real processes (`gatehouse proxy`, `gatehouse demo-server`), tokens from the harness's
//! Gatehouse, and a raw Streamable HTTP client for what the rmcp client does not show.

use std::io::Read as _;
use std::process::Stdio;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::harness::{AuthRequest, PASSWORD, TestApp, pkce_pair};

pub const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
pub const SCOPES: &str = "todo:read todo:write";
pub const CB: &str = "http://127.0.0.1:8765/callback";

/// The scope rules every test proxy runs with (the demo server's tools).
pub const TOOL_RULES: [&str; 8] = [
    "--tool-scope",
    "list_todos=todo:read",
    "--tool-scope",
    "add_todo=todo:write",
    "--scope-implies",
    "todo:write=todo:read",
    "--scopes-supported",
    "todo:read",
];

/// A child process of the test, killed when dropped.
pub struct Proc {
    child: Child,
    stderr: tempfile::NamedTempFile,
}

impl Proc {
    /// Asks the process to stop (SIGTERM) and waits for it to exit.
    pub async fn terminate(mut self) {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(status.success());
        let exit = self.child.wait().await.expect("wait");
        assert!(exit.success(), "{exit}: {}", self.stderr());
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        let mut s = String::new();
        let _ = self
            .stderr
            .reopen()
            .and_then(|mut f| f.read_to_string(&mut s));
        s
    }
}

/// Runs `gatehouse <args>` and waits for the line naming where it listens; returns the
/// process and the URL after "listening on ".
pub async fn spawn_listening(args: &[String], env: &[(&str, &str)]) -> (Proc, String) {
    let stderr = tempfile::NamedTempFile::new().expect("temp file");
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("GATEHOUSE_PROXY_CLIENT_SECRET")
        .env_remove("GATEHOUSE_PUBLIC_URL")
        .env("GATEHOUSE_LOG", "info,gatehouse_gateway=debug")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr.reopen().expect("stderr file"))
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("spawn gatehouse");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut proc = Proc { child, stderr };
    loop {
        let Some(line) = lines.next_line().await.expect("read stdout") else {
            let status = proc.child.wait().await;
            panic!(
                "{args:?} exited ({status:?}) before listening: {}",
                proc.stderr()
            );
        };
        if let Some(rest) = line.split("listening on ").nth(1) {
            let url = rest.split_whitespace().next().expect("a URL").to_owned();
            // Keep draining stdout so the child never blocks on it.
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return (proc, url);
        }
    }
}

/// A port that was free a moment ago (for a resource URL that must be registered before
/// the proxy listens on it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// `gatehouse demo-server --listen 127.0.0.1:0`; returns it and its MCP URL.
pub async fn demo_http() -> (Proc, String) {
    spawn_listening(&strings(&["demo-server", "--listen", "127.0.0.1:0"]), &[]).await
}

pub fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// A running `gatehouse proxy`.
pub struct Proxy {
    pub proc: Proc,
    /// The MCP endpoint, which is the resource identifier.
    pub resource: String,
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
}

/// Registers `http://127.0.0.1:<free port>/mcp` at `app` (in `envs`) and starts a proxy for
/// it trusting `issuer`, with `args` (the upstream, scope rules…).
pub async fn proxy(
    app: &TestApp,
    envs: &[&str],
    issuer: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Proxy {
    let port = free_port();
    let origin = format!("http://127.0.0.1:{port}");
    let resource = format!("{origin}/mcp");
    for e in envs {
        app.add_resource(e, &resource, SCOPES).await;
    }
    let mut all = strings(&[
        "proxy",
        "--issuer",
        issuer,
        "--resource",
        &resource,
        "--listen",
        &format!("127.0.0.1:{port}"),
    ]);
    all.extend(strings(args));
    let (proc, url) = spawn_listening(&all, env).await;
    assert_eq!(url, origin);
    Proxy {
        proc,
        resource,
        origin,
    }
}

/// An access token of `email` (a user of `env`) for `resource` with `scope`, through the
/// real login and consent pages.
pub async fn user_token(
    app: &TestApp,
    env: &str,
    email: &str,
    resource: &str,
    scope: &str,
) -> String {
    let client = app.register_public(env, CB).await;
    let p = pkce_pair();
    let req = AuthRequest::new(&client, CB, &p)
        .scope(scope)
        .resource(resource);
    let cb = app
        .browser()
        .authorize_and_consent(&app.issuer(env), &req, email, PASSWORD)
        .await;
    let (status, _, body) = app
        .token(
            env,
            &[
                ("grant_type", "authorization_code"),
                ("code", &cb["code"]),
                ("client_id", &client),
                ("code_verifier", &p.verifier),
                ("redirect_uri", CB),
                ("resource", resource),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["access_token"]
        .as_str()
        .expect("access_token")
        .to_owned()
}

/// A `client_credentials` token of a new machine client for `resource`; returns
/// (token, client id).
pub async fn machine_token(
    app: &TestApp,
    env: &str,
    resource: &str,
    scope: &str,
) -> (String, String) {
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
    (body["access_token"].as_str().expect("token").to_owned(), id)
}

/// A raw Streamable HTTP client.
pub struct Mcp {
    pub http: reqwest::Client,
    pub url: String,
    pub token: String,
    pub session: Option<String>,
}

/// An answer: status, headers, the body text and the JSON-RPC response in it (from JSON or
/// from the last `data:` event with an `id`).
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Mcp {
    pub fn new(url: &str, token: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            url: url.to_owned(),
            token: token.to_owned(),
            session: None,
        }
    }

    pub async fn post(&self, body: &Value) -> Answer {
        let mut req = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .json(body);
        if let Some(s) = &self.session {
            req = req.header("mcp-session-id", s);
        }
        answer(req.send().await.expect("POST")).await
    }

    /// `initialize` + `notifications/initialized`; keeps the session id.
    pub async fn initialize(&mut self) -> Answer {
        let a = self
            .post(
                &json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {},
                "clientInfo": {"name": "gateway-test", "version": "1"}}}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text);
        self.session = a
            .headers
            .get("mcp-session-id")
            .map(|v| v.to_str().expect("ascii").to_owned());
        let n = self
            .post(&json!({"jsonrpc": "2.0", "method": "notifications/initialized"}))
            .await;
        assert_eq!(n.status, StatusCode::ACCEPTED, "{}", n.text);
        a
    }

    pub async fn call_tool(&self, id: u64, name: &str, arguments: Value) -> Answer {
        self.post(&json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": name, "arguments": arguments}}))
            .await
    }
}

pub async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or_else(|_| {
        text.lines()
            .filter_map(|l| l.strip_prefix("data:"))
            .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
            .rfind(|v| v.get("id").is_some())
            .unwrap_or(Value::Null)
    });
    Answer {
        status,
        headers,
        text,
        json,
    }
}

/// The text of a `tools/call` result.
pub fn tool_text(a: &Answer) -> String {
    a.json["result"]["content"][0]["text"]
        .as_str()
        .unwrap_or_else(|| panic!("no tool result: {} {}", a.status, a.text))
        .to_owned()
}
