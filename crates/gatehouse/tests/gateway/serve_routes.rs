//! `gatehouse serve` with a `[[gateway]]` route: one process is the authorization server
//! and the gateway, and the gateway writes to the server's own log.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{BIN, Mcp, free_port, spawn_listening, strings, tool_text};

fn admin(dir: &std::path::Path, args: &[&str]) -> Value {
    let out = std::process::Command::new(BIN)
        .args(args)
        .arg("--json")
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

#[tokio::test]
async fn serve_runs_a_gateway_route_that_protects_the_demo_server_and_logs_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let resource = format!("http://127.0.0.1:{port}/mcp");
    let d = data.as_path();
    admin(
        d,
        &[
            "resource",
            "add",
            "--env",
            "dev",
            "--name",
            "Todo",
            "--url",
            &resource,
            "--scopes",
            "todo:read todo:write",
        ],
    );
    let client = admin(
        d,
        &[
            "client",
            "add",
            "--env",
            "dev",
            "--name",
            "agent",
            "--grant",
            "client_credentials",
            "--scopes",
            "todo:read",
        ],
    );
    let (id, secret) = (
        client["client_id"].as_str().unwrap(),
        client["client_secret"].as_str().unwrap(),
    );
    let config = dir.path().join("gatehouse.toml");
    std::fs::write(
        &config,
        format!(
            "[[gateway]]\nresource = \"{resource}\"\nlisten = \"127.0.0.1:{port}\"\n\
             upstream_stdio = [\"{BIN}\", \"demo-server\", \"--stdio\"]\n\
             tool_scopes = {{ add_todo = \"todo:write\" }}\n"
        ),
    )
    .unwrap();
    let args = strings(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        d.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ]);
    let (server, addr) = spawn_listening(&args, &[]).await;
    let base = format!("http://{addr}");

    let http = reqwest::Client::new();
    let token: Value = http
        .post(format!("{base}/token"))
        .basic_auth(id, Some(secret))
        .form(&[
            ("grant_type", "client_credentials"),
            ("resource", &resource),
            ("scope", "todo:read"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().expect("a token").to_owned();
    let prm: Value = http
        .get(format!(
            "http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(prm["authorization_servers"], json!([base]));
    assert_eq!(
        prm["scopes_supported"],
        json!(["todo:read", "todo:write"]),
        "the registered scopes"
    );

    let mut mcp = Mcp::new(&resource, &token);
    mcp.initialize().await;
    let list = mcp
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    let names: Vec<&str> = list.json["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(
        !names.contains(&"add_todo") && names.contains(&"list_todos"),
        "{names:?}"
    );
    let me: Value =
        serde_json::from_str(&tool_text(&mcp.call_tool(2, "whoami", json!({})).await)).unwrap();
    assert_eq!(me["subject"], id);
    let refused = mcp.call_tool(3, "add_todo", json!({"text": "x"})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    server.terminate().await;
    let log = admin(d, &["logs", "--env", "dev", "--event", "gateway"]);
    let events = log.as_array().unwrap();
    let find = |tool: &str| {
        events
            .iter()
            .find(|e| e["data"]["tool"] == tool)
            .unwrap_or_else(|| panic!("no {tool} event in {log:#}"))
    };
    assert_eq!(find("whoami")["outcome"], "success");
    assert_eq!(find("whoami")["client_id"], id);
    assert_eq!(find("add_todo")["error"], "insufficient_scope");
    assert_eq!(find("add_todo")["data"]["reporter"], "gateway");
}
