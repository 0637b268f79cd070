//! The real binary: `gatehouse serve` plus the admin commands, run while it serves.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_gatehouse");

struct Server {
    child: Child,
    base: String,
    dir: tempfile::TempDir,
}

impl Server {
    fn start(extra: &[&str], env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .args(extra);
        cmd.env_remove("GATEHOUSE_PUBLIC_URL")
            .env_remove("GATEHOUSE_THREADS")
            .envs(env.iter().copied());
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let first = lines.next().expect("a line").unwrap();
        let addr = first
            .split("listening on ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .unwrap_or_else(|| panic!("{first}"));
        let base = format!("http://{addr}");
        // keep draining stdout so the server never blocks on it
        std::thread::spawn(move || for _ in lines {});
        Self { child, base, dir }
    }

    fn admin(&self, args: &[&str], stdin: Option<&str>) -> (bool, String, String) {
        let mut child = Command::new(BIN)
            .args(args)
            .arg("--data-dir")
            .arg(self.dir.path())
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
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn admin_json(&self, args: &[&str], stdin: Option<&str>) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let (ok, out, err) = self.admin(&all, stdin);
        assert!(ok, "{args:?} failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls until `check` passes: the server notices CLI changes within about a second.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

async fn get_json(url: &str) -> Option<Value> {
    let r = reqwest::get(url).await.ok()?;
    if !r.status().is_success() {
        return None;
    }
    r.json().await.ok()
}

#[tokio::test]
async fn admin_commands_work_while_the_server_runs() {
    let server = Server::start(&[], &[]);
    let base = server.base.clone();
    let meta = get_json(&format!("{base}/.well-known/oauth-authorization-server"))
        .await
        .expect("dev metadata");
    assert_eq!(
        meta["issuer"], base,
        "a fresh dev has the public URL as issuer"
    );

    let r = server.admin_json(
        &[
            "resource",
            "add",
            "--env",
            "dev",
            "--name",
            "Todo MCP",
            "--url",
            "http://127.0.0.1:3000/mcp",
            "--scopes",
            "todo:read todo:write",
            "--describe",
            "todo:read=Read your todo lists",
        ],
        None,
    );
    assert!(r["id"].as_str().unwrap().starts_with("res_"));
    eventually("the new MCP server's scopes in the metadata", || async {
        get_json(&format!("{base}/.well-known/oauth-authorization-server"))
            .await
            .is_some_and(|m| {
                m["scopes_supported"]
                    .as_array()
                    .unwrap()
                    .contains(&Value::from("todo:write"))
            })
    })
    .await;

    let u = server.admin_json(
        &[
            "user",
            "add",
            "--env",
            "dev",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
        Some("correct horse battery\n"),
    );
    assert!(u["id"].as_str().unwrap().starts_with("usr_"));
    let (ok, _, err) = server.admin(
        &[
            "user",
            "add",
            "--env",
            "dev",
            "--email",
            "alice@example.com",
            "--password-stdin",
        ],
        Some("another password\n"),
    );
    assert!(!ok && err.contains("already exists"), "{err}");

    let c = server.admin_json(
        &[
            "client",
            "add",
            "--env",
            "dev",
            "--name",
            "nightly-agent",
            "--grant",
            "client_credentials",
            "--scopes",
            "todo:read",
        ],
        None,
    );
    let (id, secret) = (
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
    );
    let http = reqwest::Client::new();
    let t: Value = http
        .post(format!("{base}/token"))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(t["scope"], "todo:read", "{t}");

    let prod_issuer = format!("{base}/prod");
    let e = server.admin_json(&["env", "add", "prod", "--issuer", &prod_issuer], None);
    assert_eq!(e["issuer"], prod_issuer);
    assert_eq!(e["profile"], "production");
    eventually("the prod issuer's metadata", || async {
        get_json(&format!(
            "{base}/.well-known/oauth-authorization-server/prod"
        ))
        .await
        .is_some_and(|m| m["issuer"] == prod_issuer)
    })
    .await;

    server.admin_json(
        &["keys", "rotate", "--env", "dev", "--activate-after", "0"],
        None,
    );
    eventually("both old and new keys in the JWKS", || async {
        get_json(&format!("{base}/jwks.json"))
            .await
            .is_some_and(|j| j["keys"].as_array().unwrap().len() == 4)
    })
    .await;

    server.admin_json(
        &[
            "env",
            "set",
            "dev",
            "--allowed-origin",
            "https://app.example.com",
        ],
        None,
    );
    let shown = server.admin_json(&["env", "show", "dev"], None);
    assert_eq!(
        shown["settings"]["allowed_origins"][0],
        "https://app.example.com"
    );

    let logs = server.admin_json(&["logs", "--env", "dev"], None);
    assert!(
        logs.as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"] == "token" && e["client_id"] == id),
        "{logs}"
    );
    let listed = server.admin_json(&["client", "list", "--env", "dev"], None);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["client_id"] == id && c["last_used_at"].is_number())
    );
}

#[tokio::test]
async fn serve_reads_config_files_and_environment_variables() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "listen = \"127.0.0.1:0\"\nlisen_typo = 1\n").unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&bad)
        .args(["--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("lisen_typo"),
        "unknown fields are named"
    );

    let good = dir.path().join("good.toml");
    std::fs::write(&good, "listen = \"127.0.0.1:0\"\n[rate_limits]\ntoken_per_client = { per_minute = 60, burst = 1 }\n").unwrap();
    let server = Server::start(
        &["--config", good.to_str().unwrap()],
        &[("GATEHOUSE_PUBLIC_URL", "https://auth.example.com")],
    );
    let meta: Value = reqwest::Client::new()
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            server.base
        ))
        .header("host", "auth.example.com")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["issuer"], "https://auth.example.com",
        "GATEHOUSE_PUBLIC_URL sets the dev issuer"
    );
    let flood = reqwest::Client::new();
    let mut statuses = Vec::new();
    for _ in 0..2 {
        statuses.push(
            flood
                .post(format!("{}/token", server.base))
                .form(&[("grant_type", "client_credentials"), ("client_id", "x")])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    assert_eq!(
        statuses[1], 429,
        "the config file's rate limit applies: {statuses:?}"
    );
}

#[tokio::test]
async fn admin_keys_administrators_and_policies_from_the_cli() {
    let server = Server::start(&[], &[]);
    let http = reqwest::Client::new();
    let api = |key: String| {
        let http = http.clone();
        let url = format!("{}/admin/api/v1/environments", server.base);
        async move {
            http.get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let created = server.admin_json(&["admin-key", "create", "--name", "ci"], None);
    let key = created["key"].as_str().unwrap().to_owned();
    assert!(key.starts_with("gha_"), "{created}");
    assert_eq!(api(key.clone()).await, 200);
    let scoped = server.admin_json(
        &["admin-key", "create", "--name", "dev only", "--env", "dev"],
        None,
    );
    assert_eq!(scoped["environment"], "dev");
    let (ok, _, err) = server.admin(
        &["admin-key", "create", "--name", "x", "--env", "nope"],
        None,
    );
    assert!(!ok && err.contains("nope"), "{err}");
    let list = server.admin_json(&["admin-key", "list"], None);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(
        !list.to_string().contains(&key),
        "the list never shows a key"
    );
    let id = created["id"].as_str().unwrap();
    server.admin_json(&["admin-key", "revoke", id], None);
    assert_eq!(api(key).await, 401, "a revoked key is refused");

    // Allowed callback URLs and log retention.
    let set = server.admin_json(
        &[
            "env",
            "set",
            "dev",
            "--allowed-callback-url",
            "https://*.preview.example.com/callback",
            "--allowed-callback-url",
            "http://127.0.0.1/callback",
            "--log-retention-days",
            "7",
        ],
        None,
    );
    assert_eq!(
        set["settings"]["allowed_callback_urls"],
        serde_json::json!([
            "https://*.preview.example.com/callback",
            "http://127.0.0.1/callback"
        ])
    );
    assert_eq!(set["settings"]["log_retention_days"], 7);
    let set = server.admin_json(
        &[
            "env",
            "set",
            "dev",
            "--remove-callback-url",
            "http://127.0.0.1/callback",
        ],
        None,
    );
    assert_eq!(
        set["settings"]["allowed_callback_urls"],
        serde_json::json!(["https://*.preview.example.com/callback"])
    );
    server.admin_json(&["env", "add", "prod", "--profile", "production"], None);
    let (ok, _, err) = server.admin(
        &[
            "env",
            "set",
            "prod",
            "--allowed-callback-url",
            "https://*.example.com/cb",
        ],
        None,
    );
    assert!(
        !ok && err.contains("development environments only"),
        "{err}"
    );
    let (ok, _, err) = server.admin(&["env", "set", "dev", "--log-retention-days", "0"], None);
    assert!(!ok && err.contains("log_retention_days"), "{err}");

    // Dashboard administrators: the setup link dies with the first one.
    assert_eq!(
        server.admin_json(&["admin-user", "list"], None),
        serde_json::json!([])
    );
    let (ok, _, err) = server.admin(
        &[
            "admin-user",
            "add",
            "--email",
            "ops@example.com",
            "--password-stdin",
        ],
        Some("short\n"),
    );
    assert!(!ok && err.contains("at least 8"), "{err}");
    server.admin_json(
        &[
            "admin-user",
            "add",
            "--email",
            "ops@example.com",
            "--password-stdin",
        ],
        Some("a long admin password\n"),
    );
    let admins = server.admin_json(&["admin-user", "list"], None);
    assert_eq!(admins[0]["email"], "ops@example.com");
    let login = http
        .get(format!("{}/admin/login", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
}

/// The worker-thread count `gatehouse serve` reports at start-up with these arguments and
/// environment; `Err(stderr)` if it refused to start.
fn reported_workers(extra: &[&str], env: &[(&str, &str)]) -> Result<usize, String> {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().to_str().unwrap();
    let serve = ["serve", "--listen", "127.0.0.1:0", "--data-dir", data_dir];
    reported_workers_of(extra, &serve, env)
}

/// The worker-thread count a subcommand (`command`, with its arguments) reports at start-up.
fn reported_workers_of(
    extra: &[&str],
    command: &[&str],
    env: &[(&str, &str)],
) -> Result<usize, String> {
    let mut child = Command::new(BIN)
        .args(extra)
        .args(command)
        .env_remove("GATEHOUSE_THREADS")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let found = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .find_map(|l| {
            l.trim()
                .strip_prefix("worker threads")
                .map(|n| n.trim().parse::<usize>().unwrap())
        });
    let _ = child.kill();
    let out = child.wait_with_output().unwrap();
    found.ok_or_else(|| String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn threads_sets_the_runtime_worker_count() {
    let cores = std::thread::available_parallelism().unwrap().get();
    assert_eq!(
        reported_workers(&[], &[]),
        Ok(cores),
        "default: one per core"
    );
    assert_eq!(reported_workers(&["--threads", "1"], &[]), Ok(1));
    assert_eq!(
        reported_workers(&[], &[("GATEHOUSE_THREADS", "3")]),
        Ok(3),
        "from the environment"
    );
    let refused = reported_workers(&["--threads", "0"], &[]).unwrap_err();
    assert!(refused.contains("--threads"), "{refused}");
}

#[test]
fn the_gateway_runs_on_half_the_cores_unless_told_otherwise() {
    let cores = std::thread::available_parallelism().unwrap().get();
    // Nothing listens at the issuer or the upstream: the proxy needs neither to start.
    let proxy = [
        "proxy",
        "--issuer",
        "http://127.0.0.1:9",
        "--resource",
        "http://127.0.0.1:9/mcp",
        "--upstream",
        "http://127.0.0.1:9/mcp",
        "--listen",
        "127.0.0.1:0",
    ];
    assert_eq!(
        reported_workers_of(&[], &proxy, &[]),
        Ok((cores / 2).max(1)),
        "default: half the cores, at least one"
    );
    assert_eq!(reported_workers_of(&["--threads", "3"], &proxy, &[]), Ok(3));
    assert_eq!(
        reported_workers_of(&[], &proxy, &[("GATEHOUSE_THREADS", "2")]),
        Ok(2),
        "from the environment"
    );
}
