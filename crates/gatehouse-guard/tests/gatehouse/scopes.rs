//! Per-tool scopes, the scope hierarchy, and body handling.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{call, machine_token, rpc, setup, www};

fn tools(b: gatehouse_guard::GuardConfigBuilder) -> gatehouse_guard::GuardConfigBuilder {
    b.required_scopes(["todo:read"])
        .tool_scopes("list_todos", ["todo:read"])
        .tool_scopes("add_todo", ["todo:write"])
}

#[tokio::test]
async fn tool_call_without_its_scope_is_403_naming_every_needed_scope() {
    let w = setup(tools).await;
    let at = machine_token(&w.app, "dev", &w.mcp.url, "todo:read").await;
    let (status, headers, body) = rpc(&w.app, &w.mcp.url, Some(&at), &call("add_todo")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        www(&headers),
        format!(
            "Bearer error=\"insufficient_scope\", scope=\"todo:read todo:write\", resource_metadata=\"{}\", error_description=\"calling tool add_todo requires the scopes: todo:read todo:write\"",
            w.mcp.metadata_url()
        )
    );
    assert_eq!(body["error"], "insufficient_scope");
    assert!(w.mcp.seen().is_empty());
    // The same token may call the read tool and list tools.
    let (status, _, _) = rpc(&w.app, &w.mcp.url, Some(&at), &call("list_todos")).await;
    assert_eq!(status, StatusCode::OK);
    let list = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    assert_eq!(
        rpc(&w.app, &w.mcp.url, Some(&at), &list).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn scope_hierarchy_lets_a_write_token_call_a_read_tool() {
    let with = setup(|b| tools(b).scope_implies("todo:write", ["todo:read"])).await;
    let at = machine_token(&with.app, "dev", &with.mcp.url, "todo:write").await;
    let (status, _, body) = rpc(&with.app, &with.mcp.url, Some(&at), &call("list_todos")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        with.mcp.seen()[0].token.scopes.to_string(),
        "todo:write",
        "granted scopes, as issued"
    );

    let without = setup(tools).await;
    let at = machine_token(&without.app, "dev", &without.mcp.url, "todo:write").await;
    let (status, _, _) = rpc(
        &without.app,
        &without.mcp.url,
        Some(&at),
        &call("list_todos"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no hierarchy configured");
}

#[tokio::test]
async fn batch_with_one_forbidden_tool_is_refused_as_a_whole() {
    let w = setup(tools).await;
    let at = machine_token(&w.app, "dev", &w.mcp.url, "todo:read").await;
    let batch = json!([call("list_todos"), call("add_todo")]);
    let (status, headers, _) = rpc(&w.app, &w.mcp.url, Some(&at), &batch).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(www(&headers).contains("scope=\"todo:read todo:write\""));
    assert!(w.mcp.seen().is_empty());
}

#[tokio::test]
async fn body_reaches_the_handler_byte_for_byte() {
    let w = setup(tools).await;
    let at = machine_token(&w.app, "dev", &w.mcp.url, "todo:read").await;
    let body = "{ \"jsonrpc\":\"2.0\",\n \"id\": 9, \"method\": \"tools/call\", \"params\": {\"name\": \"list_todos\", \"arguments\": {\"q\": \"caf\\u00e9 ☕\"}} }  ";
    let resp = w
        .app
        .http
        .post(&w.mcp.url)
        .bearer_auth(&at)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(w.mcp.seen()[0].body, body);
}

#[tokio::test]
async fn unreadable_or_oversized_bodies_are_refused() {
    let w = setup(|b| tools(b).max_body_bytes(1024)).await;
    let at = machine_token(&w.app, "dev", &w.mcp.url, "todo:read").await;
    let big = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "list_todos", "arguments": {"pad": "x".repeat(2000)}}});
    assert_eq!(
        rpc(&w.app, &w.mcp.url, Some(&at), &big).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let ambiguous =
        "{\"method\":\"tools/call\",\"params\":{\"name\":\"list_todos\",\"name\":\"add_todo\"}}";
    let resp = w
        .app
        .http
        .post(&w.mcp.url)
        .bearer_auth(&at)
        .body(ambiguous)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert!(w.mcp.seen().is_empty());
}
