//! RFC 6750 challenges: exact headers, statuses, and where tokens are (not) read from.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::split;
use crate::support::{call, machine_token, rpc, setup, www};

#[tokio::test]
async fn request_without_token_gets_the_exact_401_challenge() {
    let w = setup(|b| b).await;
    let expected = format!(
        "Bearer resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", scope=\"todo:read todo:write\"",
        w.mcp.origin
    );
    let (status, headers, body) = rpc(&w.app, &w.mcp.url, None, &call("list_todos")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(www(&headers), expected);
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(body["error"], "unauthorized");
    // Every method, including the GET probe mcp-remote sends.
    let (status, headers, _) = split(w.app.http.get(&w.mcp.url).send().await.unwrap()).await;
    assert_eq!(
        (status, www(&headers)),
        (StatusCode::UNAUTHORIZED, expected)
    );
    assert!(w.mcp.seen().is_empty());
}

#[tokio::test]
async fn token_in_query_string_or_form_body_is_ignored() {
    let w = setup(|b| b).await;
    let token = machine_token(&w.app, "dev", &w.mcp.url, "todo:read").await;
    let url = format!("{}?access_token={token}", w.mcp.url);
    let (status, headers, _) = rpc(&w.app, &url, None, &call("list_todos")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        !www(&headers).contains("error="),
        "treated as no token at all"
    );
    let resp = w
        .app
        .http
        .post(&w.mcp.url)
        .form(&[("access_token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert!(w.mcp.seen().is_empty());
}

#[tokio::test]
async fn bad_credentials_get_400_or_401_with_an_error_code() {
    let w = setup(|b| b).await;
    let rm = w.mcp.metadata_url();
    let cases = [
        (
            "Bearer",
            400,
            format!(
                "Bearer error=\"invalid_request\", resource_metadata=\"{rm}\", error_description=\"the bearer token is empty\""
            ),
        ),
        (
            "Bearer a b",
            400,
            format!(
                "Bearer error=\"invalid_request\", resource_metadata=\"{rm}\", error_description=\"the bearer token has characters RFC 6750 does not allow\""
            ),
        ),
        (
            "Bearer not.a.jwt",
            401,
            format!(
                "Bearer error=\"invalid_token\", scope=\"todo:read todo:write\", resource_metadata=\"{rm}\", error_description=\"the access token is malformed\""
            ),
        ),
        (
            "Basic dXNlcjpwYXNz",
            401,
            format!("Bearer resource_metadata=\"{rm}\", scope=\"todo:read todo:write\""),
        ),
    ];
    for (authorization, status, challenge) in cases {
        let resp = w
            .app
            .http
            .post(&w.mcp.url)
            .header("authorization", authorization)
            .json(&json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}))
            .send()
            .await
            .unwrap();
        let (s, h, body) = split(resp).await;
        assert_eq!(s.as_u16(), status, "{authorization}");
        assert_eq!(www(&h), challenge, "{authorization}");
        assert!(body["error_description"].is_string(), "{authorization}");
    }
}
