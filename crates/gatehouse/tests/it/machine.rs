//! client_credentials for agents and machines.

use reqwest::StatusCode;

use crate::harness::{TestApp, verify_access_token};

const MCP: &str = "http://127.0.0.1:3000/mcp";

#[tokio::test]
async fn machine_token_names_the_client_and_the_mcp_server() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read todo:write").await;
    let (id, secret) = app.machine_client("dev", Some("todo:read")).await;
    let (status, _, body) = app
        .token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["scope"], "todo:read",
        "defaults to the scopes the client may use"
    );
    assert!(
        body.get("refresh_token").is_none(),
        "no refresh tokens for client_credentials"
    );
    let claims = verify_access_token(&app, "dev", body["access_token"].as_str().unwrap()).await;
    assert_eq!(claims.sub, id);
    assert_eq!(claims.client_id, id);
    assert_eq!(claims.aud, MCP);
    assert!(claims.sid.is_none());
}

#[tokio::test]
async fn machine_token_errors() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read todo:write").await;
    app.add_resource("dev", "http://127.0.0.1:4000/mcp", "notes:read")
        .await;
    let (id, secret) = app.machine_client("dev", Some("todo:read")).await;
    let base = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut f = base.to_vec();
        f.extend_from_slice(extra);
        f
    };
    type Case<'a> = (Vec<(&'a str, &'a str)>, StatusCode, &'a str);
    let cases: Vec<Case<'_>> = vec![
        (
            with(&[("resource", MCP), ("scope", "todo:write")]),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            with(&[("resource", MCP), ("scope", "openid")]),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            with(&[("resource", MCP), ("scope", "admin")]),
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        ),
        (
            with(&[("resource", "http://127.0.0.1:9/mcp")]),
            StatusCode::BAD_REQUEST,
            "invalid_target",
        ),
        (with(&[]), StatusCode::BAD_REQUEST, "invalid_target"), // two MCP servers: resource required
    ];
    for (form, status, code) in cases {
        let r = app.token("dev", &form).await;
        assert_eq!(
            (r.0, r.2["error"].as_str().unwrap_or_default()),
            (status, code),
            "{form:?} {}",
            r.2
        );
    }
    // `audience` is accepted as an alias of `resource` (AS-33).
    let ok = app
        .token("dev", &with(&[("audience", MCP), ("scope", "todo:read")]))
        .await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.2);
}
