//! The reverse proxy against an upstream the test controls: streaming without buffering,
//! what the upstream sees, and clear 502/504s.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::TestApp;
use crate::support::{Proxy, free_port, machine_token, proxy};
use crate::upstream::Upstream;

/// Gatehouse, the test's upstream, and `gatehouse proxy` in front of it for `dev`.
async fn proxied() -> (TestApp, Upstream, Proxy) {
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
    (app, upstream, proxy)
}

#[tokio::test]
async fn sse_first_event_arrives_before_the_upstream_finishes() {
    let (app, upstream, proxy) = proxied().await;
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
    let (app, upstream, proxy) = proxied().await;
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

/// One HTTP/1.1 exchange on `conn`: the status line, the headers (lower-cased names) and
/// the body (responses here carry `Content-Length`). The request's body, if any, is written
/// a moment after its head, as clients that write them separately do: a server that answers
/// without reading it would otherwise find it already buffered.
async fn exchange(
    conn: &mut tokio::net::TcpStream,
    head: &str,
    body: &str,
) -> (String, Vec<(String, String)>, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    conn.write_all(head.as_bytes()).await.expect("head written");
    if !body.is_empty() {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        // A server that already answered may have closed: the response decides.
        let _ = conn.write_all(body.as_bytes()).await;
    }
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await.expect("response read");
        assert!(n > 0, "the gateway closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().to_owned();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .map(|(_, v)| v.parse().unwrap())
        .expect("content-length");
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 4096];
        let n = conn.read(&mut chunk).await.expect("body read");
        assert!(n > 0, "the gateway closed the connection mid-body");
        body.extend_from_slice(&chunk[..n]);
    }
    (status, headers, body)
}

/// A client that POSTs without a token, gets 401 and reuses the connection for the metadata
/// (what every MCP client does first) must find the connection open: the gateway reads the
/// refused request's body rather than leave it unread. A body too large to drain gets
/// `Connection: close`, so the client knows not to reuse the connection.
#[tokio::test]
async fn refusals_keep_the_connection_for_the_next_request() {
    let (_app, _upstream, proxy) = proxied().await;
    let host = proxy.origin.trim_start_matches("http://");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}"#;
    let post = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    for _ in 0..20 {
        let (status, headers, _) = exchange(&mut conn, &post, body).await;
        assert!(status.starts_with("HTTP/1.1 401"), "{status}");
        assert!(
            !headers
                .iter()
                .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close")),
            "{headers:?}"
        );
    }
    let get =
        format!("GET /.well-known/oauth-protected-resource/mcp HTTP/1.1\r\nHost: {host}\r\n\r\n");
    let (status, _, metadata) = exchange(&mut conn, &get, "").await;
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    let metadata: serde_json::Value = serde_json::from_slice(&metadata).unwrap();
    assert_eq!(metadata["resource"], proxy.resource);

    // Too large to drain: answered all the same, and the connection is said to close.
    let big = "x".repeat(256 * 1024);
    let post = format!(
        "POST /mcp HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n",
        big.len()
    );
    let mut conn = tokio::net::TcpStream::connect(host).await.unwrap();
    let (status, headers, _) = exchange(&mut conn, &post, &big).await;
    assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "connection" && v.eq_ignore_ascii_case("close")),
        "{headers:?}"
    );
    proxy.proc.terminate().await;
}
