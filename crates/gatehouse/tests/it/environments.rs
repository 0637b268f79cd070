//! Environments are isolated: nothing crosses between issuers.

use gatehouse_store::Profile;
use reqwest::StatusCode;

use crate::harness::{AuthRequest, PASSWORD, TestApp, pkce_pair};

const CB: &str = "http://127.0.0.1:8765/callback";

#[tokio::test]
async fn clients_users_and_tokens_do_not_cross_environments() {
    let app = TestApp::spawn().await;
    let prod = app.add_env("prod", Profile::Production).await;
    app.add_resource("dev", "http://127.0.0.1:3000/mcp", "todo:read")
        .await;
    app.add_resource("prod", "https://mcp.example.com/mcp", "todo:read")
        .await;
    app.add_user("dev", "alice@example.com").await;
    let dev_client = app.register_public("dev", CB).await;
    // A dev client_id at the prod token endpoint: 401 invalid_client (clients re-register on it).
    let r = app
        .token(
            "prod",
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("client_id", &dev_client),
                ("code_verifier", &"a".repeat(43)),
            ],
        )
        .await;
    assert_eq!(
        (r.0, r.2["error"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    // …and at the prod authorization endpoint: an error page, no redirect.
    let p = pkce_pair();
    let page = app
        .browser()
        .get(&AuthRequest::new(&dev_client, CB, &p).url(&prod))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.location().is_none());
    // A dev user cannot sign in to prod.
    let prod_client = app.register_public("prod", CB).await;
    let mut b = app.browser();
    let first = b
        .get(&AuthRequest::new(&prod_client, CB, &p).url(&prod))
        .await;
    let login = b.follow(first, &app.base).await;
    assert_eq!(
        b.login(&login, "alice@example.com", PASSWORD).await.status,
        StatusCode::UNAUTHORIZED
    );
    // A dev token is not a prod token.
    let (id, secret) = app.machine_client("dev", None).await;
    let (_, _, t) = app
        .token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
        )
        .await;
    let at = t["access_token"].as_str().unwrap();
    let (rs, rs_secret) = app.machine_client("prod", None).await;
    let intro = app
        .http
        .post(format!("{prod}/introspect"))
        .basic_auth(&rs, Some(&rs_secret))
        .form(&[("token", at)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        intro.json::<serde_json::Value>().await.unwrap()["active"],
        false
    );
    // The dev log does not see prod's events and vice versa.
    let prod_events = app.events("prod").await;
    assert!(prod_events.iter().all(|e| e.env_id == "prod"));
    assert!(
        prod_events
            .iter()
            .any(|e| e.client_id.as_deref() == Some(dev_client.as_str())),
        "the foreign client attempt is logged in prod"
    );
}
