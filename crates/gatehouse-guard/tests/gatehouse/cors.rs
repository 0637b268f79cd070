//! Browser clients: CORS preflight without a token, readable challenges, Origin validation.

use reqwest::{Method, StatusCode};

use crate::harness::split;
use crate::support::{call, machine_token, setup};

const INSPECTOR: &str = "http://localhost:6274";

#[tokio::test]
async fn preflight_from_mcp_inspector_succeeds_without_a_token() {
    let w = setup(|b| b.allow_loopback_origins(true)).await;
    let resp = w
        .app
        .http
        .request(Method::OPTIONS, &w.mcp.url)
        .header("origin", INSPECTOR)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,mcp-protocol-version,mcp-session-id",
        )
        .send()
        .await
        .unwrap();
    let (status, h, _) = split(resp).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(h["access-control-allow-origin"], INSPECTOR);
    assert_eq!(
        h["access-control-allow-methods"],
        "GET, POST, DELETE, OPTIONS"
    );
    let allowed = h["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "content-type",
        "mcp-protocol-version",
        "mcp-session-id",
        "last-event-id",
        "mcp-method",
        "mcp-name",
    ] {
        assert!(
            allowed.split(", ").any(|a| a == name),
            "{name} in {allowed}"
        );
    }
    // The 401 that follows is readable by the page: the challenge is exposed.
    let resp = w
        .app
        .http
        .post(&w.mcp.url)
        .header("origin", INSPECTOR)
        .json(&call("x"))
        .send()
        .await
        .unwrap();
    let (status, h, _) = split(resp).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(h["access-control-allow-origin"], INSPECTOR);
    let exposed = h["access-control-expose-headers"].to_str().unwrap();
    assert!(
        exposed.contains("WWW-Authenticate") && exposed.contains("Mcp-Session-Id"),
        "{exposed}"
    );
    assert!(w.mcp.seen().is_empty());
}

#[tokio::test]
async fn disallowed_origin_is_403_even_with_a_valid_token() {
    let w = setup(|b| b.allowed_origins(["https://app.example.com"])).await;
    let at = machine_token(&w.app, "dev", &w.mcp.url, "todo:read").await;
    for origin in ["https://evil.example.com", INSPECTOR] {
        let resp = w
            .app
            .http
            .post(&w.mcp.url)
            .header("origin", origin)
            .bearer_auth(&at)
            .json(&call("x"))
            .send()
            .await
            .unwrap();
        let (status, h, body) = split(resp).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{origin}");
        assert!(h.get("access-control-allow-origin").is_none());
        assert_eq!(body["error"], "forbidden");
    }
    let resp = w
        .app
        .http
        .post(&w.mcp.url)
        .header("origin", "https://app.example.com")
        .bearer_auth(&at)
        .json(&call("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    // Non-browser clients send no Origin and are unaffected.
    let resp = w
        .app
        .http
        .post(&w.mcp.url)
        .bearer_auth(&at)
        .json(&call("x"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(w.mcp.seen().len(), 2);
}

#[tokio::test]
async fn metadata_preflight_and_get_are_open_to_any_origin() {
    let w = setup(|b| b).await;
    let url = w.mcp.metadata_url();
    let resp = w
        .app
        .http
        .request(Method::OPTIONS, &url)
        .header("origin", "https://anywhere.example")
        .header("access-control-request-method", "GET")
        .header(
            "access-control-request-headers",
            "content-type,mcp-protocol-version",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let resp = w
        .app
        .http
        .get(&url)
        .header("origin", "https://anywhere.example")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
}
