//! The real binary on PostgreSQL: two `gatehouse serve` nodes share one database; a code
//! issued by one is redeemed at the other, refresh rotation and reuse detection hold across
//! them, and the admin CLI works against the same database.
//!
//! Needs PostgreSQL at 127.0.0.1:5432 (trust auth, user `postgres`; `GATEHOUSE_TEST_POSTGRES`
//! overrides the server URL). Under `CI=true` its absence fails the test; elsewhere the test
//! prints why it skips.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::{AuthRequest, Browser, PASSWORD, pkce_pair};

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");
const MCP: &str = "http://127.0.0.1:3000/mcp";
const REDIRECT: &str = "http://127.0.0.1:7777/callback";

/// A database of its own, dropped afterwards.
struct Db {
    server: String,
    name: String,
}

impl Db {
    fn create() -> Option<Self> {
        let server = std::env::var("GATEHOUSE_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let name = format!(
            "gatehouse_it_{}_{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let created = Command::new("psql")
            .arg(format!("{server}/postgres"))
            .args(["-v", "ON_ERROR_STOP=1", "-qc"])
            .arg(format!("CREATE DATABASE {name}"))
            .output();
        match created {
            Ok(out) if out.status.success() => Some(Self { server, name }),
            other => {
                let why = match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                    Err(e) => format!("psql: {e}"),
                };
                assert!(
                    std::env::var("CI").as_deref() != Ok("true"),
                    "PostgreSQL at {server} is needed under CI=true: {why}"
                );
                eprintln!("skipping the PostgreSQL end-to-end test: {why}");
                None
            }
        }
    }

    fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .arg(format!("{}/postgres", self.server))
            .arg("-qc")
            .arg(format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .output();
    }
}

struct Node(Child);

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn master_key() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([42u8; 32])
}

fn start(db: &Db, dir: &Path, port: u16, public: &str) -> Node {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--public-url", public, "--database-url", &db.url()])
        .arg("--data-dir")
        .arg(dir)
        .env("GATEHOUSE_MASTER_KEY", master_key())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("a line").unwrap();
    assert!(
        first.contains("listening on") && first.contains("PostgreSQL"),
        "{first}"
    );
    assert!(!first.contains("password"), "{first}");
    std::thread::spawn(move || for _ in lines {});
    Node(child)
}

fn cli(db: &Db, dir: &Path, args: &[&str], stdin: Option<&str>) -> Value {
    let mut child = Command::new(BIN)
        .args(args)
        .args(["--json", "--database-url", &db.url()])
        .arg("--data-dir")
        .arg(dir)
        .env("GATEHOUSE_MASTER_KEY", master_key())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

async fn token(http: &reqwest::Client, node: &str, form: &[(&str, &str)]) -> (StatusCode, Value) {
    let resp = http
        .post(format!("{node}/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn two_nodes_share_one_postgres_database() {
    let Some(db) = Db::create() else { return };
    let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
    let (pa, pb) = (free_port(), free_port());
    let (a, b) = (
        format!("http://127.0.0.1:{pa}"),
        format!("http://127.0.0.1:{pb}"),
    );
    let _node_a = start(&db, dirs[0].path(), pa, &a);
    let _node_b = start(&db, dirs[1].path(), pb, &a);

    // The admin CLI, from a third machine's point of view (an empty data directory).
    let admin_dir = dirs[2].path();
    cli(
        &db,
        admin_dir,
        &[
            "resource",
            "add",
            "--env",
            "dev",
            "--name",
            "Todo",
            "--url",
            MCP,
            "--scopes",
            "todo:read",
        ],
        None,
    );
    cli(
        &db,
        admin_dir,
        &[
            "user",
            "add",
            "--env",
            "dev",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
        Some(PASSWORD),
    );

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Register at B, authorize at A (the issuer), redeem at B.
    let reg: Value = http
        .post(format!("{b}/register"))
        .json(&json!({
            "client_name": "two nodes", "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let client_id = reg["client_id"].as_str().expect("client_id").to_owned();
    let pkce = pkce_pair();
    let req = AuthRequest::new(&client_id, REDIRECT, &pkce)
        .scope("todo:read")
        .resource(MCP);
    let mut browser = Browser {
        http: http.clone(),
        cookies: HashMap::new(),
    };
    let cb = browser
        .authorize_and_consent(&a, &req, "alice@example.com", PASSWORD)
        .await;
    let code = cb
        .get("code")
        .cloned()
        .unwrap_or_else(|| panic!("no code: {cb:?}"));
    let exchange = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("client_id", client_id.as_str()),
        ("code_verifier", pkce.verifier.as_str()),
        ("resource", MCP),
    ];
    let (status, tokens) = token(&http, &b, &exchange).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let rt0 = tokens["refresh_token"].as_str().expect("a refresh token");

    // The access token signed at B verifies with A's JWKS (one key ring in the database).
    let kid = {
        let header = tokens["access_token"]
            .as_str()
            .unwrap()
            .split('.')
            .next()
            .unwrap();
        let header: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(header)
                .unwrap(),
        )
        .unwrap();
        header["kid"].as_str().unwrap().to_owned()
    };
    let jwks: Value = http
        .get(format!("{a}/jwks.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        jwks["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == kid),
        "{jwks}"
    );

    // Rotation at A, reuse of the old token at B: the whole family is revoked.
    let refresh = |rt: String| {
        vec![
            ("grant_type".to_owned(), "refresh_token".to_owned()),
            ("refresh_token".to_owned(), rt),
            ("client_id".to_owned(), client_id.clone()),
        ]
    };
    let send = |node: String, form: Vec<(String, String)>| {
        let http = http.clone();
        async move {
            let resp = http
                .post(format!("{node}/token"))
                .form(&form)
                .send()
                .await
                .unwrap();
            (resp.status(), resp.json::<Value>().await.unwrap())
        }
    };
    let (status, rotated) = send(a.clone(), refresh(rt0.to_owned())).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let rt1 = rotated["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt0);
    // Inside the grace window the old token gives the same successor, on any node.
    let (status, again) = send(b.clone(), refresh(rt0.to_owned())).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["refresh_token"], rt1.as_str(), "the same successor");
    // The code was used: a replay at A is refused and revokes everything issued from it.
    let (status, replay) = token(&http, &a, &exchange).await;
    assert_eq!(
        (status, replay["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant"))
    );
    let (status, dead) = send(b.clone(), refresh(rt1)).await;
    assert_eq!(
        (status, dead["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "the family was revoked by the replay on the other node"
    );

    // Without the master key a PostgreSQL node refuses to start rather than invent one.
    let out = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--database-url",
            &db.url(),
        ])
        .arg("--data-dir")
        .arg(tempfile::tempdir().unwrap().path())
        .env_remove("GATEHOUSE_MASTER_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("master key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
