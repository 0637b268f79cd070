//! The reverse proxy against an upstream the test controls: streaming without buffering,
//! what the upstream sees, and clear 502/504s.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::TestApp;
use crate::support::{free_port, machine_token, proxy};
use crate::upstream::Upstream;

#[tokio::test]
async fn sse_first_event_arrives_before_the_upstream_finishes() {
    let app = TestApp::spawn().await;
    let upstream = Upstream::spawn().await;
    let proxy = proxy(
        &app,
        &["dev"],
        &app.issuer("dev"),
        &["--upstream", &upstream.url],
        &[],
    )
    .await;
    let (token, _) = machine_token(&app, "dev", &proxy.resource, "todo:read").await;
    let mut resp = app
        .http
        .post(&proxy.resource)
        .bearer_auth(&token)
        .header("x-test-mode", "stream")
        .header("accept", "application/json, text/event-stream")
        .json(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "slow"}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    // The upstream holds its second event until released, so this chunk can only be the
    // first event, passed on while the upstream is still writing.
    let first = resp.chunk().await.unwrap().expect("the first event");
    let first = String::from_utf8(first.to_vec()).unwrap();
    assert!(
        first.contains("notifications/progress") && !first.contains("done"),
        "{first}"
    );
    upstream.release();
    let mut rest = String::new();
    while let Some(chunk) = resp.chunk().await.unwrap() {
        rest.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert!(rest.contains(r#""done":true"#), "{rest}");
    proxy.proc.terminate().await;
}

#[tokio::test]
async fn upstream_sees_the_verified_identity_and_never_the_token_or_spoofed_headers() {
    let app = TestApp::spawn().await;
    let upstream = Upstream::spawn().await;
    let proxy = proxy(
        &app,
        &["dev"],
        &app.issuer("dev"),
        &["--upstream", &upstream.url],
        &[],
    )
    .await;
    let (token, client_id) = machine_token(&app, "dev", &proxy.resource, "todo:read").await;
    let resp = app
        .http
        .post(format!("{}/sub?x=1", proxy.resource))
        .bearer_auth(&token)
        .header("x-gatehouse-subject", "usr_mallory")
        .header("x-gatehouse-scopes", "admin")
        .header("x-forwarded-for", "203.0.113.66")
        .header("forwarded", "for=203.0.113.66;proto=https")
        .header("connection", "x-private")
        .header("x-private", "hop-by-hop")
        .header("mcp-protocol-version", "2025-06-18")
        .header("last-event-id", "41")
        .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let seen = upstream.seen();
    let h = &seen[0].headers;
    assert_eq!(
        seen[0].path, "/mcp/sub",
        "the path below the resource maps below the upstream"
    );
    assert!(h.get("authorization").is_none(), "no token passthrough");
    assert_eq!(h["x-gatehouse-subject"], client_id.as_str());
    assert_eq!(h["x-gatehouse-client-id"], client_id.as_str());
    assert_eq!(h["x-gatehouse-scopes"], "todo:read");
    assert!(
        h.get("x-gatehouse-grant").is_none(),
        "machine tokens have no grant"
    );
    assert_eq!(
        h["x-forwarded-for"], "127.0.0.1",
        "not believed without --behind-proxy"
    );
    assert_eq!(h["x-forwarded-proto"], "http");
    assert!(h.get("forwarded").is_none());
    assert!(
        h.get("x-private").is_none(),
        "named by Connection: hop-by-hop"
    );
    assert_eq!(h["mcp-protocol-version"], "2025-06-18");
    assert_eq!(h["last-event-id"], "41");
    proxy.proc.terminate().await;
}

#[tokio::test]
async fn upstream_down_is_502_and_upstream_silent_is_504_naming_the_upstream() {
    let app = TestApp::spawn().await;
    let closed = format!("http://127.0.0.1:{}/mcp", free_port());
    let down = proxy(
        &app,
        &["dev"],
        &app.issuer("dev"),
        &["--upstream", &closed],
        &[],
    )
    .await;
    let (token, _) = machine_token(&app, "dev", &down.resource, "todo:read").await;
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    let r = app
        .http
        .post(&down.resource)
        .bearer_auth(&token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::BAD_GATEWAY);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"], "upstream_unavailable");
    assert_eq!(v["upstream"], closed.as_str());
    assert!(v["reason"].as_str().unwrap().contains("refused"), "{v}");
    down.proc.terminate().await;

    let upstream = Upstream::spawn().await;
    let args = [
        "--upstream",
        upstream.url.as_str(),
        "--first-byte-timeout",
        "0.3",
    ];
    let silent = proxy(&app, &["dev"], &app.issuer("dev"), &args, &[]).await;
    let (token, _) = machine_token(&app, "dev", &silent.resource, "todo:read").await;
    let r = app
        .http
        .post(&silent.resource)
        .bearer_auth(&token)
        .header("x-test-mode", "silent")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::GATEWAY_TIMEOUT);
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["error"], "upstream_timeout");
    assert_eq!(v["upstream"], upstream.url.as_str());
    assert_eq!(v["reason"], "no response within 0.3 s");
    upstream.release();
    silent.proc.terminate().await;
}
