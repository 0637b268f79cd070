//! RFC 9728 metadata and the 2025-03-26 authorization server metadata mirror.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::split;
use crate::support::setup;

#[tokio::test]
async fn protected_resource_metadata_is_served_at_path_and_root_forms() {
    let w = setup(|b| b.resource_name("Todo MCP")).await;
    let expected = json!({
        "resource": w.mcp.url,
        "authorization_servers": [w.app.base],
        "scopes_supported": ["todo:read", "todo:write"],
        "bearer_methods_supported": ["header"],
        "resource_name": "Todo MCP",
    });
    let root = format!("{}/.well-known/oauth-protected-resource", w.mcp.origin);
    for url in [w.mcp.metadata_url(), root] {
        let (status, headers, body) = split(w.app.http.get(&url).send().await.unwrap()).await;
        assert_eq!(status, StatusCode::OK, "{url}");
        assert_eq!(body, expected, "{url}");
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["access-control-allow-origin"], "*");
    }
    let other = format!(
        "{}/.well-known/oauth-protected-resource/other",
        w.mcp.origin
    );
    let (status, _, _) = split(w.app.http.get(&other).send().await.unwrap()).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "not a metadata path: guarded like the rest"
    );
}

#[tokio::test]
async fn challenge_metadata_and_issuer_metadata_agree() {
    let w = setup(|b| b).await;
    let (_, headers, _) = split(w.app.http.post(&w.mcp.url).send().await.unwrap()).await;
    let www = headers["www-authenticate"].to_str().unwrap().to_owned();
    let prm_url = www.split('"').nth(1).unwrap();
    assert_eq!(prm_url, w.mcp.metadata_url());
    let prm: Value = w
        .app
        .http
        .get(prm_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let issuer = prm["authorization_servers"][0].as_str().unwrap();
    let meta: Value = w
        .app
        .http
        .get(format!("{issuer}/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        meta["issuer"], issuer,
        "RFC 8414 §3.3: identical issuer strings"
    );
    assert!(
        meta["protected_resources"]
            .as_array()
            .is_some_and(|r| r.contains(&prm["resource"])),
        "{meta}"
    );
}

#[tokio::test]
async fn authorization_server_metadata_is_mirrored_at_the_mcp_origin_when_asked() {
    let w = setup(|b| b.serve_authorization_server_metadata(true)).await;
    let direct: Value = w
        .app
        .http
        .get(format!(
            "{}/.well-known/oauth-authorization-server",
            w.app.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let url = format!("{}/.well-known/oauth-authorization-server", w.mcp.origin);
    let (status, headers, body) = split(w.app.http.get(&url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, direct);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["access-control-allow-origin"], "*");

    let plain = setup(|b| b).await;
    let url = format!(
        "{}/.well-known/oauth-authorization-server",
        plain.mcp.origin
    );
    let (status, _, _) = split(plain.app.http.get(&url).send().await.unwrap()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "off by default");
}
