//! RFC 7662 mode: revocation is seen at once.

use gatehouse_guard::{Guard, Introspection};
use reqwest::StatusCode;

use crate::harness::TestApp;
use crate::support::{Mcp, SCOPES, bind, call, config, rpc, serve, user_tokens};

/// Gatehouse, alice, the MCP server, and two guards on it: introspecting and local-JWT.
async fn both(cache_ttl: u64) -> (TestApp, Mcp, Mcp) {
    let app = TestApp::spawn().await;
    app.add_user("dev", "alice@example.com").await;
    let (listener, url) = bind().await;
    app.add_resource("dev", &url, SCOPES).await;
    let (id, secret) = app.machine_client("dev", Some("todo:read")).await;
    let intro = Introspection::new(id, secret).cache_ttl(std::time::Duration::from_secs(cache_ttl));
    let introspecting = serve(
        listener,
        Guard::new(config(&app, &url).introspection(intro).build().unwrap()),
    )
    .await;
    // A second listener would be another resource; serve the JWT guard on its own port
    // but with the same resource identifier (it is only a verifier comparison).
    let (listener2, _) = bind().await;
    let local = serve(listener2, Guard::new(config(&app, &url).build().unwrap())).await;
    (app, introspecting, local)
}

async fn revoke(app: &TestApp, client_id: &str, token: &str) {
    let resp = app
        .http
        .post(format!("{}/revoke", app.base))
        .form(&[
            ("token", token),
            ("client_id", client_id),
            ("token_type_hint", "access_token"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn introspection_sees_a_revoked_token_at_once() {
    let (app, introspecting, local) = both(0).await;
    let tokens = user_tokens(&app, &introspecting.url, "todo:read").await;
    let at = tokens["access_token"].as_str().unwrap();
    let client = crate::harness::jwt_parts(at).1["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    for m in [&introspecting, &local] {
        assert_eq!(
            rpc(&app, &m.url, Some(at), &call("list_todos")).await.0,
            StatusCode::OK
        );
    }
    let t = &introspecting.seen()[0].token;
    assert_eq!(
        (t.scopes.to_string().as_str(), t.issuer.as_str()),
        ("todo:read", app.base.as_str())
    );

    revoke(&app, &client, at).await;
    let (status, _, body) = rpc(&app, &introspecting.url, Some(at), &call("list_todos")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error_description"], "the access token is not active");
    // The local verifier cannot know: the documented trade-off of JWT mode.
    assert_eq!(
        rpc(&app, &local.url, Some(at), &call("list_todos")).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn introspection_cache_ttl_trades_immediacy_for_round_trips() {
    let (app, introspecting, _) = both(30).await;
    let tokens = user_tokens(&app, &introspecting.url, "todo:read").await;
    let at = tokens["access_token"].as_str().unwrap();
    let client = crate::harness::jwt_parts(at).1["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        rpc(&app, &introspecting.url, Some(at), &call("x")).await.0,
        StatusCode::OK
    );
    revoke(&app, &client, at).await;
    assert_eq!(
        rpc(&app, &introspecting.url, Some(at), &call("x")).await.0,
        StatusCode::OK,
        "cached"
    );
    app.clock.advance(30);
    assert_eq!(
        rpc(&app, &introspecting.url, Some(at), &call("x")).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn refresh_token_presented_as_a_bearer_token_is_refused() {
    let (app, introspecting, _) = both(0).await;
    let tokens = user_tokens(&app, &introspecting.url, "todo:read offline_access").await;
    let rt = tokens["refresh_token"]
        .as_str()
        .expect("refresh token with offline_access");
    let (status, _, body) = rpc(&app, &introspecting.url, Some(rt), &call("x")).await;
    // Gatehouse describes a refresh token only to its own client, so to this resource
    // server it is simply inactive (and the guard would refuse token_type refresh_token
    // anyway, see the unit tests).
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_token");
}

#[tokio::test]
async fn wrong_introspection_credentials_are_503_not_the_clients_fault() {
    let app = TestApp::spawn().await;
    app.add_user("dev", "alice@example.com").await;
    let (listener, url) = bind().await;
    app.add_resource("dev", &url, SCOPES).await;
    let guard = Guard::new(
        config(&app, &url)
            .introspection(Introspection::new("nobody", "wrong"))
            .build()
            .unwrap(),
    );
    let m = serve(listener, guard).await;
    let tokens = user_tokens(&app, &m.url, "todo:read").await;
    let (status, headers, _) = rpc(&app, &m.url, tokens["access_token"].as_str(), &call("x")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(headers["retry-after"], "5");
}
