//! Gateways outside the process report each request they authorize or refuse, correlated
//! with the authorization its token came from.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{AuthRequest, TestApp, jwt_parts, pkce_pair};

const CB: &str = "http://127.0.0.1:8765/callback";
const MCP: &str = "http://127.0.0.1:3000/mcp";

#[tokio::test]
async fn gateway_reports_join_the_authorizations_trail() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    app.add_user("dev", "alice@example.com").await;
    let client = app.register_public("dev", CB).await;
    let p = pkce_pair();
    let (_, code) = app
        .code_flow("dev", &AuthRequest::new(&client, CB, &p))
        .await;
    let (_, _, t) = app
        .token(
            "dev",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", &client),
                ("code_verifier", &p.verifier),
            ],
        )
        .await;
    let claims = jwt_parts(t["access_token"].as_str().unwrap()).1;
    let (gw, gw_secret) = app.machine_client("dev", Some("gatehouse:events")).await;
    let report = json!({"events": [
        {"at_ms": app.clock_ms(), "resource": MCP, "outcome": "success", "status": 200, "method": "tools/call", "tool": "list_todos",
         "client_id": claims["client_id"], "sub": claims["sub"], "sid": claims["sid"], "jti": claims["jti"], "ip": "203.0.113.9"},
        {"at_ms": app.clock_ms(), "resource": MCP, "outcome": "failure", "status": 403, "error": "insufficient_scope",
         "detail": "add_todo needs todo:write", "method": "tools/call", "tool": "add_todo", "client_id": claims["client_id"], "sid": claims["sid"]},
    ]});
    let r = app
        .http
        .post(format!("{}/events", app.base))
        .basic_auth(&gw, Some(&gw_secret))
        .json(&report)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let events = app.events("dev").await;
    let authorize = events.iter().find(|e| e.event == "authorize").unwrap();
    let trail: Vec<&str> = events
        .iter()
        .rev()
        .filter(|e| e.correlation_id == authorize.correlation_id)
        .map(|e| e.event.as_str())
        .collect();
    assert_eq!(
        trail,
        [
            "authorize",
            "login",
            "consent",
            "code",
            "token",
            "gateway",
            "gateway"
        ]
    );
    let refused = events
        .iter()
        .find(|e| e.event == "gateway" && e.outcome == "failure")
        .unwrap();
    assert_eq!(refused.error.as_deref(), Some("insufficient_scope"));
    assert_eq!(refused.data["tool"], "add_todo");
    assert_eq!(refused.data["reporter"], gw);
}

#[tokio::test]
async fn only_clients_with_the_events_scope_may_report() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let body = json!({"events": []});
    let anon = app
        .http
        .post(format!("{}/events", app.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
    let (id, secret) = app.machine_client("dev", Some("todo:read")).await;
    let r = app
        .http
        .post(format!("{}/events", app.base))
        .basic_auth(&id, Some(&secret))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["error"],
        "insufficient_scope"
    );
}
