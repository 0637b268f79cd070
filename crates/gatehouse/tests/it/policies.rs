//! Environment policies: allowed callback URLs (ADM-04) and log retention.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{AuthRequest, TestApp, pkce_pair, split};

const MCP: &str = "http://127.0.0.1:3000/mcp";

async fn set(
    app: &TestApp,
    f: impl FnOnce(&mut gatehouse_store::EnvSettings),
) -> Result<(), String> {
    let mut env = app.store.get_environment("dev").await.unwrap().unwrap();
    f(&mut env.settings);
    gatehouse_server::admin::update_environment(&*app.store, &env)
        .await
        .map_err(|e| e.to_string())?;
    app.reload().await;
    Ok(())
}

#[tokio::test]
async fn allowed_callback_urls_bind_dynamic_clients_only() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let early = app
        .register_public("dev", "http://127.0.0.1:9999/early")
        .await;
    let (static_client, _) = {
        let c = gatehouse_server::admin::add_client(
            &*app.store,
            "dev",
            gatehouse_server::admin::NewClient {
                name: "vetted".into(),
                redirect_uris: vec!["http://127.0.0.1:7000/vetted".into()],
                public: true,
                ..Default::default()
            },
            app.now(),
        )
        .await
        .unwrap();
        (c.client.client_id, ())
    };
    assert!(
        set(&app, |s| s.allowed_callback_urls =
            vec!["https://*.com/cb".into()])
        .await
        .is_err(),
        "a wildcard on a top-level domain is refused"
    );
    set(&app, |s| {
        s.allowed_callback_urls = vec![
            "https://*.example.com/cb".into(),
            "http://localhost/oauth/callback".into(),
        ]
    })
    .await
    .unwrap();
    // Registration: only listed callbacks.
    let bad = split(app.http.post(format!("{}/register", app.base)).json(&json!({"redirect_uris": ["http://127.0.0.1:5/x"], "token_endpoint_auth_method": "none"})).send().await.unwrap()).await;
    assert_eq!(
        (bad.0, bad.2["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_redirect_uri")
    );
    assert!(
        bad.2["error_description"]
            .as_str()
            .unwrap()
            .contains("allowed callback URLs")
    );
    app.register_public("dev", "https://app.example.com/cb")
        .await;
    app.register_public("dev", "http://localhost:51515/oauth/callback")
        .await;
    // Authorization: a client registered before the policy is refused with an explanation.
    let p = pkce_pair();
    let page = app
        .browser()
        .get(&AuthRequest::new(&early, "http://127.0.0.1:9999/early", &p).url(&app.base))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.body.contains("allowed callback URL")
            && page.body.contains("https://*.example.com/cb")
    );
    // Pre-registered clients were vetted by an administrator and are not affected.
    let page = app
        .browser()
        .get(&AuthRequest::new(&static_client, "http://127.0.0.1:7000/vetted", &p).url(&app.base))
        .await;
    assert_eq!(page.status, StatusCode::FOUND);
    // Production rules: no localhost, no wildcards.
    let mut env = app.store.get_environment("dev").await.unwrap().unwrap();
    env.profile = gatehouse_store::Profile::Production;
    assert!(
        gatehouse_server::admin::update_environment(&*app.store, &env)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn old_log_events_are_purged_after_the_retention_period() {
    let app = TestApp::spawn().await;
    app.register_public("dev", "http://127.0.0.1/cb").await;
    assert_eq!(app.events("dev").await.len(), 1);
    set(&app, |s| s.log_retention_days = 7).await.unwrap();
    app.clock.advance(6 * 86_400);
    gatehouse_server::purge_old_events(&app.state).await;
    assert_eq!(
        app.events("dev").await.len(),
        1,
        "kept within the retention period"
    );
    app.clock.advance(2 * 86_400);
    gatehouse_server::purge_old_events(&app.state).await;
    assert!(app.events("dev").await.is_empty());
}
