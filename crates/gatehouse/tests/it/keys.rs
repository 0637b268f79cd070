//! Signing key rotation: the new key is published before it signs, the old key stays
//! published until its tokens have expired.

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{TestApp, jwt_parts, verify_access_token};

const MCP: &str = "http://127.0.0.1:3000/mcp";

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    let v: Value = app
        .http
        .get(format!("{}/jwks.json", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_owned())
        .collect()
}

async fn machine_token(app: &TestApp, id: &str, secret: &str) -> String {
    let (s, _, body) = app
        .token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn rotation_publishes_first_signs_later_and_retires_after_token_lifetime() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let (id, secret) = app.machine_client("dev", None).await;
    let before = machine_token(&app, &id, &secret).await;
    let old_kid = jwt_parts(&before).0["kid"].as_str().unwrap().to_owned();
    let rotated =
        gatehouse_server::admin::rotate_keys(&*app.store, &app.master, "dev", 600, app.now())
            .await
            .unwrap();
    app.reload().await;
    let kids = jwks_kids(&app).await;
    assert_eq!(
        kids.len(),
        4,
        "old and new ES256 + RS256 keys are published"
    );
    assert!(rotated.new_kids.iter().all(|k| kids.contains(k)));
    // Not active yet: tokens are still signed by the old key.
    assert_eq!(
        jwt_parts(&machine_token(&app, &id, &secret).await).0["kid"],
        old_kid
    );
    // After the activation delay the new key signs; old tokens still verify.
    app.clock.advance(601);
    let after = machine_token(&app, &id, &secret).await;
    let new_kid = jwt_parts(&after).0["kid"].as_str().unwrap().to_owned();
    assert_ne!(new_kid, old_kid);
    assert!(rotated.new_kids.contains(&new_kid));
    verify_access_token(&app, "dev", &before).await;
    verify_access_token(&app, "dev", &after).await;
    // Once every token the old key signed has expired, it leaves the JWKS.
    app.clock.advance(3600 + 301);
    let kids = jwks_kids(&app).await;
    assert!(!kids.contains(&old_kid), "{kids:?}");
    assert_eq!(kids.len(), 2);
}
