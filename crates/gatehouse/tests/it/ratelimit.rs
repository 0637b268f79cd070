//! Rate limits on login, registration and the token endpoint, keyed by client as well as IP.

use gatehouse_server::ratelimit::Rate;
use reqwest::{StatusCode, header};
use serde_json::json;

use crate::harness::{AuthRequest, PASSWORD, TestApp, pkce_pair, relaxed_limits};

const MCP: &str = "http://127.0.0.1:3000/mcp";

#[tokio::test]
async fn a_flooding_client_is_limited_without_locking_out_its_neighbours() {
    let mut limits = relaxed_limits();
    limits.token_per_client = Rate::new(60, 3);
    limits.token_per_ip = Rate::new(600, 50);
    let app = TestApp::spawn_with(limits).await;
    app.add_resource("dev", MCP, "todo:read").await;
    let (noisy, noisy_secret) = app.machine_client("dev", None).await;
    let (quiet, quiet_secret) = app.machine_client("dev", None).await;
    let form = |id: &str, secret: &str| {
        vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            ("client_id".into(), id.into()),
            ("client_secret".into(), secret.into()),
        ]
    };
    let mut last = None;
    for _ in 0..5 {
        let r = app
            .http
            .post(format!("{}/token", app.base))
            .form(&form(&noisy, &noisy_secret))
            .send()
            .await
            .unwrap();
        last = Some(r);
    }
    let limited = last.unwrap();
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        limited.headers()[header::RETRY_AFTER]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    assert_eq!(
        limited.json::<serde_json::Value>().await.unwrap()["error"],
        "temporarily_unavailable"
    );
    // Same IP, another client: still served.
    let r = app
        .http
        .post(format!("{}/token", app.base))
        .form(&form(&quiet, &quiet_secret))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn the_token_endpoint_is_also_limited_per_ip() {
    let mut limits = relaxed_limits();
    limits.token_per_ip = Rate::new(60, 4);
    let app = TestApp::spawn_with(limits).await;
    let statuses = futures_like_sequence(&app, 6).await;
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        2,
        "{statuses:?}"
    );
}

async fn futures_like_sequence(app: &TestApp, n: usize) -> Vec<StatusCode> {
    let mut out = Vec::new();
    for i in 0..n {
        let r = app
            .http
            .post(format!("{}/token", app.base))
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", &format!("ghc_{i}")),
            ])
            .send()
            .await
            .unwrap();
        out.push(r.status());
    }
    out
}

#[tokio::test]
async fn repeated_failed_logins_for_one_account_are_slowed_down() {
    let mut limits = relaxed_limits();
    limits.login_per_account = Rate::new(60, 3);
    let app = TestApp::spawn_with(limits).await;
    app.add_resource("dev", MCP, "todo:read").await;
    app.add_user("dev", "alice@example.com").await;
    let client = app.register_public("dev", "http://127.0.0.1/cb").await;
    let p = pkce_pair();
    let mut b = app.browser();
    let first = b
        .get(&AuthRequest::new(&client, "http://127.0.0.1:9/cb", &p).url(&app.base))
        .await;
    let login = b.follow(first, &app.base).await;
    for _ in 0..3 {
        assert_eq!(
            b.login(&login, "alice@example.com", "guess").await.status,
            StatusCode::UNAUTHORIZED
        );
    }
    let blocked = b.login(&login, "alice@example.com", PASSWORD).await;
    assert_eq!(
        blocked.status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
    assert!(blocked.headers.contains_key(header::RETRY_AFTER));
    // Another account from the same browser is not affected.
    assert_eq!(
        b.login(&login, "bob@example.com", "guess").await.status,
        StatusCode::UNAUTHORIZED
    );
    app.clock.advance(60);
    assert_eq!(
        b.login(&login, "alice@example.com", PASSWORD).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn registration_floods_get_429() {
    let mut limits = relaxed_limits();
    limits.register_per_ip = Rate::new(60, 2);
    let app = TestApp::spawn_with(limits).await;
    let mut statuses = Vec::new();
    for i in 0..3 {
        // Distinct clients: each creates a new registration, which is limited per address.
        let body = json!({"client_name": format!("app {i}"), "redirect_uris": ["http://127.0.0.1/cb"], "token_endpoint_auth_method": "none"});
        statuses.push(
            app.http
                .post(format!("{}/register", app.base))
                .json(&body)
                .send()
                .await
                .unwrap()
                .status(),
        );
    }
    assert_eq!(
        statuses,
        vec![
            StatusCode::CREATED,
            StatusCode::CREATED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}
