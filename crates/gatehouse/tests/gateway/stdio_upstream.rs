//! (b) A stdio MCP server (`gatehouse demo-server --stdio`) behind
//! `gatehouse proxy --upstream-stdio`: one process per MCP session, bound to its user.

use gatehouse_store::Profile;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser;
use crate::checks;
use crate::harness::TestApp;
use crate::rmcp_flow::{authorize, call_text, connect, refused_challenge, tool_names};
use crate::support::{BIN, Mcp, TOOL_RULES, machine_token, proxy, tool_text, user_token};

fn demo_stdio() -> String {
    format!("'{BIN}' demo-server --stdio")
}

/// A stdio server in `sh`: answers `initialize` and `ping`, and exits (status 3) on a
/// message mentioning `exit_now` without answering it.
const DYING: &str = r#"sh -c 'read -r init; echo "{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"serverInfo\":{\"name\":\"sh\",\"version\":\"1\"}}}"; while read -r line; do case "$line" in *exit_now*) exit 3;; *ping*) echo "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}";; esac; done'"#;

#[tokio::test]
async fn rmcp_client_connects_through_the_proxy_to_a_stdio_server_within_its_scopes() {
    let app = TestApp::spawn().await;
    app.add_env("other", Profile::Development).await;
    let alice = app.add_user("dev", browser::EMAIL).await;
    let (reporter, secret) = app.machine_client("dev", Some("gatehouse:events")).await;
    let command = demo_stdio();
    let mut args = vec![
        "--upstream-stdio",
        command.as_str(),
        "--report-client-id",
        &reporter,
    ];
    args.extend(TOOL_RULES);
    let issuer = app.issuer("dev");
    let env = [("GATEHOUSE_PROXY_CLIENT_SECRET", secret.as_str())];
    let proxy = proxy(&app, &["dev", "other"], &issuer, &args, &env).await;

    checks::challenge_and_metadata_are_exact(&app, &proxy, &issuer).await;
    let auth = authorize(&app, &proxy.resource).await;
    let client = connect(&proxy.resource, &auth).await;
    assert_eq!(
        tool_names(&client).await,
        ["countdown", "list_todos", "whoami"]
    );
    assert_eq!(
        call_text(&client, "list_todos", json!({})).await,
        "no todos yet"
    );
    let challenge = refused_challenge(&client, "add_todo").await;
    assert!(
        challenge.starts_with(r#"Bearer error="insufficient_scope", scope="todo:write""#),
        "{challenge}"
    );
    let me: Value = serde_json::from_str(&call_text(&client, "whoami", json!({})).await).unwrap();
    assert_eq!(me["transport"], "stdio");
    assert_eq!(
        me["subject"],
        alice.as_str(),
        "the process runs for its session's user"
    );
    assert!(me["grant"].as_str().unwrap().starts_with("gr_"), "{me}");
    client.cancel().await.expect("close");

    checks::foreign_tokens_are_refused(&app, &proxy).await;
    proxy.proc.terminate().await;
    checks::log_follows_the_connect_attempt(&app, &proxy.resource).await;
}

#[tokio::test]
async fn stdio_session_whose_process_died_answers_404_and_a_new_initialize_works() {
    let app = TestApp::spawn().await;
    let proxy = proxy(
        &app,
        &["dev"],
        &app.issuer("dev"),
        &["--upstream-stdio", DYING],
        &[],
    )
    .await;
    let (token, _) = machine_token(&app, "dev", &proxy.resource, "todo:read").await;
    let mut mcp = Mcp::new(&proxy.resource, &token);
    mcp.initialize().await;
    let first = mcp.session.clone().expect("a session id");
    assert!(first.len() >= 43, "256 random bits: {first}");

    let died = mcp
        .post(&json!({"jsonrpc": "2.0", "id": 5, "method": "exit_now"}))
        .await;
    assert_eq!(died.status, StatusCode::BAD_GATEWAY, "{}", died.text);
    assert_eq!(died.json["error"], "upstream_unavailable");
    assert!(
        died.json["reason"].as_str().unwrap().contains("exited"),
        "{}",
        died.text
    );

    let gone = mcp
        .post(&json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}))
        .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND, "{}", gone.text);
    assert_eq!(gone.json["error"], "session_not_found");

    mcp.session = None;
    mcp.initialize().await;
    assert_ne!(mcp.session.as_deref(), Some(first.as_str()));
    let pong = mcp
        .post(&json!({"jsonrpc": "2.0", "id": 7, "method": "ping"}))
        .await;
    assert_eq!(pong.status, StatusCode::OK, "{}", pong.text);
    assert_eq!(pong.json["id"], 7);
    proxy.proc.terminate().await;
}

#[tokio::test]
async fn another_user_cannot_use_someone_elses_stdio_session() {
    let app = TestApp::spawn().await;
    app.add_user("dev", browser::EMAIL).await;
    let command = demo_stdio();
    let proxy = proxy(
        &app,
        &["dev"],
        &app.issuer("dev"),
        &["--upstream-stdio", &command],
        &[],
    )
    .await;
    let alice_token = user_token(&app, "dev", browser::EMAIL, &proxy.resource, "todo:read").await;
    let (mallory_token, _) = machine_token(&app, "dev", &proxy.resource, "todo:read").await;
    let mut alice = Mcp::new(&proxy.resource, &alice_token);
    alice.initialize().await;
    let mut mallory = Mcp::new(&proxy.resource, &mallory_token);
    mallory.session = alice.session.clone();

    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"});
    let stolen = mallory.post(&list).await;
    assert_eq!(stolen.status, StatusCode::NOT_FOUND, "{}", stolen.text);
    assert_eq!(stolen.json["error"], "session_not_found");
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let r = mallory
            .http
            .request(method.clone(), &proxy.resource)
            .bearer_auth(&mallory_token)
            .header("accept", "text/event-stream")
            .header("mcp-session-id", alice.session.as_deref().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND, "{method}");
    }
    let mine = alice.post(&list).await;
    assert_eq!(
        mine.status,
        StatusCode::OK,
        "alice's session is untouched: {}",
        mine.text
    );
    assert_eq!(mine.json["result"]["tools"].as_array().unwrap().len(), 4);
    proxy.proc.terminate().await;
}

#[tokio::test]
async fn stdio_answers_json_or_sse_as_the_server_speaks_and_follows_the_transport_rules() {
    let app = TestApp::spawn().await;
    let command = demo_stdio();
    let proxy = proxy(
        &app,
        &["dev"],
        &app.issuer("dev"),
        &["--upstream-stdio", &command],
        &[],
    )
    .await;
    let (token, client_id) =
        machine_token(&app, "dev", &proxy.resource, "todo:read todo:write").await;
    let mut mcp = Mcp::new(&proxy.resource, &token);

    let discover = mcp
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "server/discover"}))
        .await;
    assert_eq!(
        (discover.status, &discover.json["error"]["code"]),
        (StatusCode::OK, &json!(-32601))
    );
    let no_session = mcp
        .post(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .await;
    assert_eq!(no_session.status, StatusCode::BAD_REQUEST);
    assert_eq!(no_session.json["error"], "session_required");

    mcp.initialize().await;
    let added = mcp
        .call_tool(2, "add_todo", json!({"text": "buy milk"}))
        .await;
    assert_eq!(added.headers["content-type"], "application/json");
    assert_eq!(tool_text(&added), "added; 1 todo(s)");
    let me: Value =
        serde_json::from_str(&tool_text(&mcp.call_tool(3, "whoami", json!({})).await)).unwrap();
    assert_eq!(me["subject"], client_id.as_str());

    let countdown = mcp
        .post(
            &json!({"jsonrpc": "2.0", "id": 4, "method": "tools/call", "params": {
            "name": "countdown", "arguments": {"from": 2, "interval_ms": 0},
            "_meta": {"progressToken": "p4"}}}),
        )
        .await;
    assert_eq!(countdown.headers["content-type"], "text/event-stream");
    let events: Vec<Value> = countdown
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["method"].as_str().unwrap_or("response"))
        .collect();
    assert_eq!(
        kinds,
        [
            "notifications/progress",
            "notifications/progress",
            "response"
        ]
    );
    assert_eq!(events[0]["params"]["progressToken"], "p4");
    assert_eq!(tool_text(&countdown), "liftoff");

    let wrong_version = mcp
        .http
        .post(&proxy.resource)
        .bearer_auth(&token)
        .header("mcp-session-id", mcp.session.as_deref().unwrap())
        .header("mcp-protocol-version", "1999-01-01")
        .json(&json!({"jsonrpc": "2.0", "id": 5, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_version.status(), StatusCode::BAD_REQUEST);
    let deleted = mcp
        .http
        .delete(&proxy.resource)
        .bearer_auth(&token)
        .header("mcp-session-id", mcp.session.as_deref().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let ended = mcp
        .post(&json!({"jsonrpc": "2.0", "id": 6, "method": "tools/list"}))
        .await;
    assert_eq!(ended.status, StatusCode::NOT_FOUND);
    proxy.proc.terminate().await;
}
