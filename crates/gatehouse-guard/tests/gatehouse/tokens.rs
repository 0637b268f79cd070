//! Real Gatehouse tokens: which are accepted, and what the handler sees.

use gatehouse_store::Profile;
use reqwest::StatusCode;

use crate::harness::jwt_parts;
use crate::support::{call, machine_token, rpc, setup, user_tokens, www};

#[tokio::test]
async fn user_token_from_the_code_flow_is_accepted_and_the_handler_sees_it() {
    let w = setup(|b| b).await;
    let tokens = user_tokens(&w.app, &w.mcp.url, "todo:read").await;
    let at = tokens["access_token"].as_str().unwrap();
    let (status, _, body) = rpc(&w.app, &w.mcp.url, Some(at), &call("list_todos")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"]["sub"], w.alice.as_str());
    let seen = w.mcp.seen();
    let t = &seen[0].token;
    let (_, claims) = jwt_parts(at);
    assert_eq!(t.subject, w.alice);
    assert_eq!(t.client_id, claims["client_id"].as_str().unwrap());
    assert_eq!(t.scopes.to_string(), "todo:read");
    assert_eq!(t.audience, std::slice::from_ref(&w.mcp.url));
    assert_eq!(t.issuer, w.app.base);
    assert_eq!(t.expires_at, claims["exp"].as_i64().unwrap());
    assert_eq!(t.session_id.as_deref(), claims["sid"].as_str());
    assert!(
        t.session_id
            .as_deref()
            .is_some_and(|s| s.starts_with("gr_"))
    );
    assert_eq!(t.token_id.as_deref(), claims["jti"].as_str());
    assert!(t.auth_time.is_some());
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some(format!("Bearer {at}").as_str()),
        "the in-process MCP server still gets the header by default"
    );
}

#[tokio::test]
async fn machine_token_from_client_credentials_is_accepted() {
    let w = setup(|b| b.strip_authorization_header(true)).await;
    let at = machine_token(&w.app, "dev", &w.mcp.url, "todo:read").await;
    let (status, _, _) = rpc(&w.app, &w.mcp.url, Some(&at), &call("list_todos")).await;
    assert_eq!(status, StatusCode::OK);
    let seen = w.mcp.seen();
    assert_eq!(
        seen[0].token.subject, seen[0].token.client_id,
        "machine: sub is the client"
    );
    assert_eq!(seen[0].token.session_id, None);
    assert_eq!(seen[0].authorization, None, "stripped when configured");
}

#[tokio::test]
async fn token_for_another_mcp_server_is_invalid_token() {
    let w = setup(|b| b).await;
    let other = "http://127.0.0.1:4000/mcp";
    w.app.add_resource("dev", other, "todo:read").await;
    let at = machine_token(&w.app, "dev", other, "todo:read").await;
    let (status, headers, body) = rpc(&w.app, &w.mcp.url, Some(&at), &call("list_todos")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        www(&headers).starts_with("Bearer error=\"invalid_token\""),
        "{}",
        www(&headers)
    );
    assert_eq!(
        body["error_description"],
        "the access token is not intended for this resource"
    );
    assert!(w.mcp.seen().is_empty());
}

#[tokio::test]
async fn token_from_another_environment_is_invalid_token() {
    let w = setup(|b| b).await;
    let prod = w.app.add_env("prod", Profile::Production).await;
    // The same MCP URL registered in prod: right audience, wrong issuer and keys.
    w.app.add_resource("prod", &w.mcp.url, "todo:read").await;
    let at = machine_token(&w.app, "prod", &w.mcp.url, "todo:read").await;
    assert_eq!(jwt_parts(&at).1["iss"], prod.as_str());
    let (status, _, body) = rpc(&w.app, &w.mcp.url, Some(&at), &call("list_todos")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
    assert_eq!(
        body["error_description"],
        "the access token was issued by an untrusted issuer"
    );
}

#[tokio::test]
async fn token_expires_with_the_clock() {
    let w = setup(|b| b).await;
    let at = machine_token(&w.app, "dev", &w.mcp.url, "todo:read").await;
    let exp = jwt_parts(&at).1["exp"].as_i64().unwrap();
    let (status, _, _) = rpc(&w.app, &w.mcp.url, Some(&at), &call("list_todos")).await;
    assert_eq!(status, StatusCode::OK);
    w.app.clock.advance(exp - w.app.now() + 60);
    let (status, _, body) = rpc(&w.app, &w.mcp.url, Some(&at), &call("list_todos")).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "cached verification ends at exp + skew"
    );
    assert_eq!(body["error_description"], "the access token has expired");
}

#[tokio::test]
async fn token_with_a_guessed_signature_is_invalid_token() {
    let w = setup(|b| b).await;
    let at = machine_token(&w.app, "dev", &w.mcp.url, "todo:read").await;
    let forged = format!("{}AAAA", &at[..at.len() - 4]);
    let (status, _, body) = rpc(&w.app, &w.mcp.url, Some(&forged), &call("list_todos")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_token");
}
