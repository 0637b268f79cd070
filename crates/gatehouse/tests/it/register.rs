//! Dynamic client registration (RFC 7591).

use gatehouse_store::{Profile, RegistrationMode};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::harness::{TestApp, split};

async fn post(
    app: &TestApp,
    env: &str,
    body: Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    split(
        app.http
            .post(format!("{}/register", app.issuer(env)))
            .json(&body)
            .send()
            .await
            .unwrap(),
    )
    .await
}

#[tokio::test]
async fn public_mcp_client_registration_returns_201_with_full_metadata() {
    let app = TestApp::spawn().await;
    let (status, headers, body) = post(
        &app,
        "dev",
        json!({"client_name": "mcp-remote", "redirect_uris": ["http://localhost:14523/oauth/callback"],
               "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
               "software_id": "2e6dc280-f3c3-4e01-99a7-8181dbd1d23d", "software_version": "0.15.1", "something_unknown": 1}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert!(
        body["client_id"].as_str().unwrap().starts_with("ghd_"),
        "a self-contained registration"
    );
    assert!(body["client_id_issued_at"].as_i64().unwrap() > 0);
    assert!(
        body.get("client_secret").is_none(),
        "public clients get no secret"
    );
    assert_eq!(body["token_endpoint_auth_method"], "none");
    assert_eq!(
        body["application_type"], "native",
        "inferred from loopback redirect URIs (REG-23)"
    );
    assert_eq!(body["response_types"], json!(["code"]));
    assert_eq!(
        body["redirect_uris"],
        json!(["http://localhost:14523/oauth/callback"])
    );
    assert_eq!(body["software_version"], "0.15.1");
    assert!(body.get("something_unknown").is_none());
}

#[tokio::test]
async fn confidential_registration_gets_a_secret_that_authenticates() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", "http://127.0.0.1:3000/mcp", "todo:read")
        .await;
    let (status, _, body) = post(&app, "dev", json!({"client_name": "agent", "grant_types": ["client_credentials"], "scope": "todo:read"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["token_endpoint_auth_method"], "client_secret_basic",
        "RFC 7591 default"
    );
    assert_eq!(body["client_secret_expires_at"], 0);
    let (id, secret) = (
        body["client_id"].as_str().unwrap(),
        body["client_secret"].as_str().unwrap(),
    );
    let r = app
        .http
        .post(format!("{}/token", app.base))
        .basic_auth(id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        app.store
            .client_secrets("dev", id)
            .await
            .unwrap()
            .is_empty(),
        "derived from the client_id, never stored"
    );
}

#[tokio::test]
async fn registration_errors_say_what_is_wrong() {
    let app = TestApp::spawn().await;
    let cases = [
        (
            json!({"redirect_uris": []}),
            "invalid_redirect_uri",
            "required",
        ),
        (
            json!({"redirect_uris": ["http://evil.example/cb"]}),
            "invalid_redirect_uri",
            "loopback",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb#f"]}),
            "invalid_redirect_uri",
            "fragment",
        ),
        (
            json!({"redirect_uris": ["https://*.example/cb"]}),
            "invalid_redirect_uri",
            "wildcard",
        ),
        (
            json!({"redirect_uris": ["javascript:alert(1)"]}),
            "invalid_redirect_uri",
            "javascript",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
            "invalid_client_metadata",
            "private_key_jwt",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}),
            "invalid_client_metadata",
            "implicit",
        ),
        (
            json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
            "invalid_client_metadata",
            "token",
        ),
        (
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
            "invalid_client_metadata",
            "confidential",
        ),
        (
            json!({"redirect_uris": "https://a.example/cb"}),
            "invalid_client_metadata",
            "JSON",
        ),
    ];
    for (body, code, mentions) in cases {
        let (status, _, resp) = post(&app, "dev", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(resp["error"], code, "{body}");
        assert!(
            resp["error_description"]
                .as_str()
                .unwrap()
                .contains(mentions),
            "{body} -> {resp}"
        );
    }
    let not_json = app
        .http
        .post(format!("{}/register", app.base))
        .header(header::CONTENT_TYPE, "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(split(not_json).await.2["error"], "invalid_client_metadata");
    let huge =
        json!({"redirect_uris": ["https://a.example/cb"], "client_name": "x".repeat(20_000)});
    let (status, _, _) = post(&app, "dev", huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let events = app.events("dev").await;
    assert!(
        events
            .iter()
            .filter(|e| e.event == "register" && e.outcome == "failure")
            .count()
            >= 10
    );
}

#[tokio::test]
async fn production_environments_apply_stricter_redirect_rules() {
    let app = TestApp::spawn().await;
    app.add_env("prod", Profile::Production).await;
    let (status, _, body) = post(
        &app,
        "prod",
        json!({"redirect_uris": ["http://localhost:3000/cb"], "application_type": "web"}),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_redirect_uri")
    );
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("native")
    );
    // Native clients keep loopback (any port) and private-use schemes.
    let (status, _, _) = post(&app, "prod", json!({"redirect_uris": ["http://127.0.0.1/cb", "cursor://anysphere.cursor-mcp/oauth/callback"], "token_endpoint_auth_method": "none"})).await;
    assert_eq!(status, StatusCode::CREATED);
    // The same web registration is fine in dev.
    let (status, _, _) = post(
        &app,
        "dev",
        json!({"redirect_uris": ["http://localhost:3000/cb"], "application_type": "web"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn gated_registration_requires_an_initial_access_token() {
    let app = TestApp::spawn().await;
    let mut env = app.store.get_environment("dev").await.unwrap().unwrap();
    env.settings.registration = RegistrationMode::Token;
    gatehouse_server::admin::update_environment(&*app.store, &env)
        .await
        .unwrap();
    app.reload().await;
    let body =
        json!({"redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"});
    let (status, _, e) = post(&app, "dev", body.clone()).await;
    assert_eq!(
        (status, e["error"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "invalid_token")
    );
    let bad = app
        .http
        .post(format!("{}/register", app.base))
        .bearer_auth("ghi_nope")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNAUTHORIZED);
    let token = gatehouse_server::admin::add_initial_access_token(
        &*app.store,
        "dev",
        "ci",
        Some(3600),
        app.now(),
    )
    .await
    .unwrap();
    let ok = app
        .http
        .post(format!("{}/register", app.base))
        .bearer_auth(token.expose())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::CREATED);
    app.clock.advance(3601);
    let expired = app
        .http
        .post(format!("{}/register", app.base))
        .bearer_auth(token.expose())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::UNAUTHORIZED);
}
