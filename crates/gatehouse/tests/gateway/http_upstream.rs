//! (a) A Streamable HTTP MCP server (`gatehouse demo-server --listen`) behind
//! `gatehouse proxy --upstream`.

use gatehouse_store::Profile;
use serde_json::{Value, json};

use crate::browser;
use crate::checks;
use crate::harness::TestApp;
use crate::rmcp_flow::{authorize, call_text, connect, refused_challenge, tool_names};
use crate::support::{TOOL_RULES, demo_http, proxy};

#[tokio::test]
async fn rmcp_client_connects_through_the_proxy_to_an_http_server_within_its_scopes() {
    let app = TestApp::spawn().await;
    app.add_env("other", Profile::Development).await;
    let alice = app.add_user("dev", browser::EMAIL).await;
    let (reporter, secret) = app.machine_client("dev", Some("gatehouse:events")).await;
    let (demo, upstream) = demo_http().await;
    let mut args = vec![
        "--upstream",
        upstream.as_str(),
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
        ["countdown", "list_todos", "whoami"],
        "a token without todo:write does not see add_todo"
    );
    assert_eq!(
        call_text(&client, "list_todos", json!({})).await,
        "no todos yet"
    );
    let challenge = refused_challenge(&client, "add_todo").await;
    assert!(
        challenge.starts_with(
            r#"Bearer error="insufficient_scope", scope="todo:write", resource_metadata=""#
        ),
        "{challenge}"
    );
    let me: Value = serde_json::from_str(&call_text(&client, "whoami", json!({})).await).unwrap();
    assert_eq!(me["transport"], "http");
    assert_eq!(me["subject"], alice.as_str());
    assert_eq!(
        me["authorization_seen"], false,
        "the token never reaches the upstream"
    );
    assert!(
        me["client_id"].as_str().unwrap().starts_with("ghd_"),
        "{me}"
    );
    assert!(me["grant"].as_str().unwrap().starts_with("gr_"), "{me}");
    assert!(
        me["scopes"]
            .as_str()
            .unwrap()
            .split(' ')
            .any(|s| s == "todo:read"),
        "{me}"
    );
    assert_eq!(me["forwarded_for"], "127.0.0.1");
    client.cancel().await.expect("close");

    checks::foreign_tokens_are_refused(&app, &proxy).await;
    proxy.proc.terminate().await;
    checks::log_follows_the_connect_attempt(&app, &proxy.resource).await;
    demo.terminate().await;
}
