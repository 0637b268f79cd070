//! The in-memory caches of the hot paths (clients with their secret hashes, verified access
//! tokens) never outlive a change: what the CLI or another node changes in the store is seen
//! within a second, what this server's admin API changes at once, and a revocation at once.

use std::time::{Duration, Instant};

use gatehouse_oauth::secret::Secret;
use gatehouse_server::admin;
use gatehouse_store::{ClientKind, ClientRecord, ClientSecretRecord};
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::TestApp;

const MCP: &str = "http://127.0.0.1:3000/mcp";
const CB: &str = "http://127.0.0.1:8765/callback";

async fn machine_token(app: &TestApp, id: &str, secret: &str) -> (StatusCode, Value) {
    let (status, _, body) = app
        .token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ],
        )
        .await;
    (status, body)
}

/// Polls until `refused` answers true; returns how long that took.
async fn refused_within(
    limit: Duration,
    what: &str,
    mut refused: impl AsyncFnMut() -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        if refused().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{what}: still accepted after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_cached_client_disabled_from_the_cli_is_refused_within_a_second() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let (id, secret) = app.machine_client("dev", Some("todo:read")).await;
    // Used twice: the second time it comes from the cache.
    for _ in 0..2 {
        assert_eq!(machine_token(&app, &id, &secret).await.0, StatusCode::OK);
    }
    // What `gatehouse client disable` does, in another process: straight to the store, so
    // only the store's generation tells this server.
    admin::set_client_disabled(&*app.store, &app.master, "dev", &id, true, app.now())
        .await
        .unwrap();
    refused_within(Duration::from_secs(1), "disabled client", async || {
        let (status, body) = machine_token(&app, &id, &secret).await;
        if status == StatusCode::OK {
            return false;
        }
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["error"], "invalid_client", "{body}");
        assert!(
            body["error_description"]
                .as_str()
                .unwrap()
                .contains("disabled"),
            "{body}"
        );
        true
    })
    .await;
    // Enabled again: accepted again as quickly.
    admin::set_client_disabled(&*app.store, &app.master, "dev", &id, false, app.now())
        .await
        .unwrap();
    refused_within(Duration::from_secs(1), "re-enabled client", async || {
        machine_token(&app, &id, &secret).await.0 == StatusCode::OK
    })
    .await;
}

#[tokio::test]
async fn a_cached_secret_rotated_from_the_cli_stops_working_within_a_second() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let (id, old) = app.machine_client("dev", Some("todo:read")).await;
    assert_eq!(machine_token(&app, &id, &old).await.0, StatusCode::OK);
    let new = admin::rotate_client_secret(&*app.store, "dev", &id, 0, app.now())
        .await
        .unwrap();
    refused_within(Duration::from_secs(1), "old secret", async || {
        machine_token(&app, &id, &old).await.0 == StatusCode::UNAUTHORIZED
    })
    .await;
    assert_eq!(
        machine_token(&app, &id, new.expose()).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_client_created_after_a_failed_lookup_works_at_once() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let id = "ghc_created_later";
    let secret = "ghs_created_later_0123456789";
    let (status, body) = machine_token(&app, id, secret).await;
    assert_eq!(
        (status, body["error"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    // Unknown clients are not remembered: created now (as the CLI would), usable now.
    let (template, _) = app.machine_client("dev", Some("todo:read")).await;
    let metadata = app
        .store
        .get_client("dev", &template)
        .await
        .unwrap()
        .unwrap()
        .metadata;
    app.store
        .create_client(
            &ClientRecord {
                env_id: "dev".into(),
                client_id: id.into(),
                kind: ClientKind::Static,
                metadata,
                created_at: app.now(),
                disabled: false,
                last_used_at: None,
                registrations: 1,
            },
            &[ClientSecretRecord {
                env_id: "dev".into(),
                client_id: id.into(),
                hash: Secret::presented(secret).hash(),
                created_at: app.now(),
                expires_at: None,
            }],
        )
        .await
        .unwrap();
    let (status, body) = machine_token(&app, id, secret).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_client_disabled_through_the_admin_api_is_refused_at_once() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let (id, secret) = app.machine_client("dev", Some("todo:read")).await;
    assert_eq!(machine_token(&app, &id, &secret).await.0, StatusCode::OK);
    let (_, key) = admin::create_admin_key(&*app.store, "cache test", None, app.now())
        .await
        .unwrap();
    let resp = app
        .http
        .post(format!(
            "{}/admin/api/v1/environments/dev/clients/{id}/disable",
            app.base
        ))
        .bearer_auth(key.expose())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    assert_eq!(
        machine_token(&app, &id, &secret).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_verified_access_token_is_inactive_as_soon_as_it_or_its_grant_is_revoked() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let user = app.add_user("dev", "alice@example.com").await;
    let client = app.register_public("dev", CB).await;
    let rs = app.machine_client("dev", Some("todo:read")).await;
    let introspect = async |token: &str| -> bool {
        let r: Value = app
            .http
            .post(format!("{}/introspect", app.base))
            .basic_auth(&rs.0, Some(&rs.1))
            .form(&[("token", token)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["active"].as_bool().unwrap()
    };
    // A machine token: verified once, then revoked in the store by its jti (as another node
    // would after a revocation request).
    let (_, t) = machine_token(&app, &rs.0, &rs.1).await;
    let at = t["access_token"].as_str().unwrap();
    assert!(introspect(at).await);
    assert!(introspect(at).await, "the cached answer");
    let (_, claims) = crate::harness::jwt_parts(at);
    app.store
        .revoke_jti(
            "dev",
            claims["jti"].as_str().unwrap(),
            claims["exp"].as_i64().unwrap(),
        )
        .await
        .unwrap();
    assert!(!introspect(at).await, "a revoked jti is seen at once");
    // A user token: its grant (consent) revoked in the store.
    let tokens = app.user_tokens("dev", &client, CB, "todo:read").await;
    let at = tokens["access_token"].as_str().unwrap();
    assert!(introspect(at).await);
    assert!(introspect(at).await, "the cached answer");
    let (_, claims) = crate::harness::jwt_parts(at);
    let grant = app
        .store
        .get_grant("dev", claims["sid"].as_str().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(grant.user_id, user);
    app.store
        .revoke_grant("dev", &grant.id, "test", app.now())
        .await
        .unwrap();
    assert!(!introspect(at).await, "a revoked grant is seen at once");
}
