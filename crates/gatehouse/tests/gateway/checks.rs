//! Checks every protected MCP server must pass, whatever the upstream: the exact challenge
//! and metadata, and refusal of tokens meant for something else.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::TestApp;
use crate::support::{Proxy, machine_token};

/// No token → 401 with the exact challenge; the PRM at the path form and the root form.
pub async fn challenge_and_metadata_are_exact(app: &TestApp, proxy: &Proxy, issuer: &str) {
    let prm_url = format!("{}/.well-known/oauth-protected-resource/mcp", proxy.origin);
    for req in [
        app.http.post(&proxy.resource).body("{}"),
        app.http.get(&proxy.resource),
    ] {
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()["www-authenticate"],
            format!(r#"Bearer resource_metadata="{prm_url}", scope="todo:read""#).as_str()
        );
    }
    let expected = json!({
        "resource": proxy.resource,
        "authorization_servers": [issuer],
        "scopes_supported": ["todo:read"],
        "bearer_methods_supported": ["header"],
    });
    for url in [
        prm_url,
        format!("{}/.well-known/oauth-protected-resource", proxy.origin),
    ] {
        let r = app.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{url}");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.json::<Value>().await.unwrap(), expected, "{url}");
    }
}

/// A token for another MCP server and a token of another environment (same resource URL)
/// are both `401 invalid_token`.
pub async fn foreign_tokens_are_refused(app: &TestApp, proxy: &Proxy) {
    let other = "http://127.0.0.1:9/other-mcp";
    app.add_resource("dev", other, "todo:read").await;
    let (for_other_resource, _) = machine_token(app, "dev", other, "todo:read").await;
    let (from_other_env, _) = machine_token(app, "other", &proxy.resource, "todo:read").await;
    for (token, why) in [
        (for_other_resource, "not intended for this resource"),
        (from_other_env, "the access token"), // untrusted issuer or unknown key
    ] {
        let r = app
            .http
            .post(&proxy.resource)
            .bearer_auth(&token)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{why}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.starts_with(r#"Bearer error="invalid_token""#) && challenge.contains(why),
            "{challenge}"
        );
    }
}

/// The authentication log, read after the gateway stopped (it flushes its events then):
/// the successful tool call is on its authorization's trail, the refused one is there with
/// its error, and so is the first unauthenticated request.
pub async fn log_follows_the_connect_attempt(app: &TestApp, resource: &str) {
    let events = app.events("dev").await;
    let gateway: Vec<_> = events
        .iter()
        .filter(|e| e.event == "gateway" && e.resource.as_deref() == Some(resource))
        .collect();
    let call = gateway
        .iter()
        .find(|e| e.outcome == "success" && e.data["tool"] == "list_todos")
        .unwrap_or_else(|| panic!("no list_todos call in {gateway:#?}"));
    assert_eq!(call.data["method"], "tools/call");
    assert_eq!(call.data["status"], 200);
    assert!(
        events
            .iter()
            .any(|e| e.event == "authorize" && e.correlation_id == call.correlation_id),
        "the call is on its authorization's trail"
    );
    let refused = gateway
        .iter()
        .find(|e| e.outcome == "failure" && e.data["tool"] == "add_todo")
        .expect("the refused call");
    assert_eq!(refused.error.as_deref(), Some("insufficient_scope"));
    assert_eq!(refused.correlation_id, call.correlation_id);
    let anonymous = gateway
        .iter()
        .find(|e| e.error.as_deref() == Some("missing_token"))
        .expect("the first, unauthenticated request");
    assert_eq!(anonymous.data["status"], 401);
    assert_eq!(anonymous.ip.as_deref(), Some("127.0.0.1"));
}
