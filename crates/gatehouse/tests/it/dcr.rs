//! Dynamic registration that heals itself: self-contained client_ids, one logical client
//! per identical registration, abuse limits that spare clients on shared egress.

use gatehouse_server::ratelimit::Rate;
use gatehouse_store::{ClientKind, ClientRecord, Profile};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{AuthRequest, PASSWORD, TestApp, pkce_pair, query_of, relaxed_limits, split};

const CB: &str = "http://127.0.0.1:8765/callback";
const MCP: &str = "http://127.0.0.1:3000/mcp";

async fn dynamic_rows(app: &TestApp, env: &str) -> Vec<ClientRecord> {
    app.store
        .list_clients(env)
        .await
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == ClientKind::Dynamic)
        .collect()
}

/// A full flow and a refresh with a registered client; returns the refresh status.
async fn works(app: &TestApp, client: &str) -> StatusCode {
    let p = pkce_pair();
    let mut b = app.browser();
    let cb = b
        .authorize_and_consent(
            &app.base,
            &AuthRequest::new(client, CB, &p).scope("todo:read offline_access"),
            "alice@example.com",
            PASSWORD,
        )
        .await;
    let (s, _, t) = app
        .token(
            "dev",
            &[
                ("grant_type", "authorization_code"),
                ("code", &cb["code"]),
                ("client_id", client),
                ("code_verifier", &p.verifier),
            ],
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    app.token(
        "dev",
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", t["refresh_token"].as_str().unwrap()),
            ("client_id", client),
        ],
    )
    .await
    .0
}

#[tokio::test]
async fn a_dynamic_client_survives_losing_its_row_and_a_restart() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    app.add_user("dev", "alice@example.com").await;
    let client = app.register_public("dev", CB).await;
    assert!(client.starts_with("ghd_"));
    // The row is lost (restore from an old backup, lagging replica, garbage collection).
    let rows = dynamic_rows(&app, "dev").await;
    assert_eq!(rows.len(), 1);
    assert!(
        app.store
            .delete_client("dev", &rows[0].client_id)
            .await
            .unwrap()
    );
    assert_eq!(works(&app, &client).await, StatusCode::OK);
    assert_eq!(
        dynamic_rows(&app, "dev").await.len(),
        1,
        "using the client brought its row back"
    );
    // A restart on a brand-new database with the same master key: the client still works.
    std::fs::remove_file(app.dir.path().join("gatehouse.db")).ok();
    std::fs::remove_file(app.dir.path().join("gatehouse.db-wal")).ok();
    std::fs::remove_file(app.dir.path().join("gatehouse.db-shm")).ok();
    let app = app.restart().await;
    app.add_resource("dev", MCP, "todo:read").await;
    app.add_user("dev", "alice@example.com").await;
    assert_eq!(works(&app, &client).await, StatusCode::OK);
}

#[tokio::test]
async fn a_confidential_dynamic_client_keeps_its_derived_secret() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let reg = app.register("dev", json!({"client_name": "agent", "grant_types": ["client_credentials"], "scope": "todo:read"})).await;
    let (id, secret) = (
        reg["client_id"].as_str().unwrap(),
        reg["client_secret"].as_str().unwrap(),
    );
    for row in dynamic_rows(&app, "dev").await {
        app.store
            .delete_client("dev", &row.client_id)
            .await
            .unwrap();
    }
    let ok = app
        .token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", secret),
            ],
        )
        .await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.2);
    let bad = app
        .token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", id),
                ("client_secret", "ghs_guess"),
            ],
        )
        .await;
    assert_eq!(
        (bad.0, bad.2["error"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    let stored = app.store.client_secrets("dev", id).await.unwrap();
    assert!(
        stored.is_empty(),
        "dynamic secrets are derived, never stored"
    );
}

#[tokio::test]
async fn identical_registrations_collapse_into_one_logical_client() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.register_public("dev", CB).await);
    }
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 5, "every registration gets its own client_id");
    let rows = dynamic_rows(&app, "dev").await;
    assert_eq!(rows.len(), 1, "one logical client, not five rows");
    assert_eq!(rows[0].registrations, 5);
    app.register("dev", json!({"client_name": "Another app", "redirect_uris": [CB], "token_endpoint_auth_method": "none"})).await;
    assert_eq!(dynamic_rows(&app, "dev").await.len(), 2);
}

#[tokio::test]
async fn a_disabled_dynamic_client_stays_disabled_without_its_row_data() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let reg = app
        .register(
            "dev",
            json!({"client_name": "agent", "grant_types": ["client_credentials"]}),
        )
        .await;
    let (id, secret) = (
        reg["client_id"].as_str().unwrap().to_owned(),
        reg["client_secret"].as_str().unwrap().to_owned(),
    );
    // Forget the row, then disable by client_id: a tombstone is written.
    for row in dynamic_rows(&app, "dev").await {
        app.store
            .delete_client("dev", &row.client_id)
            .await
            .unwrap();
    }
    gatehouse_server::admin::set_client_disabled(
        &*app.store,
        &app.master,
        "dev",
        &id,
        true,
        app.now(),
    )
    .await
    .unwrap();
    let r = app
        .token(
            "dev",
            &[
                ("grant_type", "client_credentials"),
                ("client_id", &id),
                ("client_secret", &secret),
            ],
        )
        .await;
    assert_eq!(
        (r.0, r.2["error"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    assert!(
        r.2["error_description"]
            .as_str()
            .unwrap()
            .contains("disabled")
    );
    // Re-registering the same software does not get around it.
    let again = split(
        app.http
            .post(format!("{}/register", app.base))
            .json(&json!({"client_name": "agent", "grant_types": ["client_credentials"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (again.0, again.2["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_client_metadata")
    );
    // Eviction never touches it.
    app.store
        .evict_unused_dynamic_clients("dev", 0)
        .await
        .unwrap();
    assert_eq!(dynamic_rows(&app, "dev").await.len(), 1);
}

#[tokio::test]
async fn never_used_registrations_are_capped_and_forgotten_ones_still_work() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    app.add_user("dev", "alice@example.com").await;
    let mut env = app.store.get_environment("dev").await.unwrap().unwrap();
    env.settings.max_unused_dynamic_clients = 2;
    gatehouse_server::admin::update_environment(&*app.store, &env)
        .await
        .unwrap();
    app.reload().await;
    let mut ids = Vec::new();
    for i in 0..4 {
        let r = app.register("dev", json!({"client_name": format!("app {i}"), "redirect_uris": [CB], "token_endpoint_auth_method": "none"})).await;
        ids.push(r["client_id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        dynamic_rows(&app, "dev").await.len(),
        2,
        "the table stays bounded"
    );
    assert_eq!(
        works(&app, &ids[0]).await,
        StatusCode::OK,
        "the forgotten first registration still works"
    );
}

#[tokio::test]
async fn a_flooding_ip_is_limited_while_a_known_client_on_the_same_ip_registers() {
    let mut limits = relaxed_limits();
    limits.register_per_ip = Rate::new(60, 3);
    limits.register_per_fingerprint = Rate::new(600, 50);
    let app = TestApp::spawn_with(limits).await;
    // A well-behaved client registered once before the flood (like Claude, re-registering on
    // every connection from the same shared egress).
    app.register_public("dev", CB).await;
    let mut flood = Vec::new();
    for i in 0..4 {
        let body = json!({"client_name": format!("spam {i}"), "redirect_uris": [CB], "token_endpoint_auth_method": "none"});
        flood.push(
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
        flood
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        2,
        "{flood:?}"
    );
    for _ in 0..5 {
        app.register_public("dev", CB).await; // still 201 each time
    }
    assert_eq!(
        dynamic_rows(&app, "dev")
            .await
            .iter()
            .map(|r| r.registrations)
            .max(),
        Some(6)
    );
}

#[tokio::test]
async fn a_client_id_of_another_environment_is_invalid_client_with_an_explanation() {
    let app = TestApp::spawn().await;
    app.add_env("prod", Profile::Production).await;
    app.add_resource("dev", MCP, "todo:read").await;
    let prod_client = app.register_public("prod", CB).await;
    let r = app
        .token(
            "dev",
            &[
                ("grant_type", "authorization_code"),
                ("code", "x"),
                ("client_id", &prod_client),
                ("code_verifier", &"a".repeat(43)),
            ],
        )
        .await;
    assert_eq!(
        (r.0, r.2["error"].as_str().unwrap()),
        (StatusCode::UNAUTHORIZED, "invalid_client")
    );
    assert!(
        r.2["error_description"]
            .as_str()
            .unwrap()
            .contains("register again")
    );
    let p = pkce_pair();
    let page = app
        .browser()
        .get(&AuthRequest::new(&prod_client, CB, &p).url(&app.base))
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.location().is_none());
    assert!(
        page.body.contains("another environment") && page.body.contains("prod"),
        "{}",
        page.body
    );
    let e = app
        .events("dev")
        .await
        .into_iter()
        .find(|e| e.event == "authorize")
        .unwrap();
    assert!(
        e.error_detail
            .unwrap()
            .contains("issued by environment prod")
    );
}

#[tokio::test]
async fn the_unknown_client_page_leads_with_the_likely_clients_fix() {
    let app = TestApp::spawn().await;
    let p = pkce_pair();
    let page = app
        .browser()
        .get(
            &AuthRequest::new("ghc_stale", "http://localhost:51234/oauth/callback", &p)
                .url(&app.base),
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let first_fix = page
        .body
        .find("This looks like mcp-remote")
        .expect("names the likely client");
    let generic = page
        .body
        .find("Visual Studio Code:")
        .expect("then the others");
    assert!(first_fix < generic);
    assert!(page.body.contains(".mcp-auth"));
    let e = app
        .events("dev")
        .await
        .into_iter()
        .find(|e| e.event == "authorize")
        .unwrap();
    assert_eq!(
        e.data["likely_client"],
        "mcp-remote (used by Claude Desktop, Cursor and Windsurf configurations)"
    );
    assert!(
        e.data["remedy"].as_str().unwrap().contains(".mcp-auth"),
        "the log says how to fix it too"
    );
}

#[tokio::test]
async fn https_registrations_of_one_app_share_consent_and_are_marked_verified() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    app.add_user("dev", "alice@example.com").await;
    let claude_cb = "https://claude.ai/api/mcp/auth_callback";
    let body = json!({"client_name": "Claude", "redirect_uris": [claude_cb], "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"]});
    let first = app.register("dev", body.clone()).await["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let second = app.register("dev", body).await["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let p = pkce_pair();
    let mut b = app.browser();
    let start = b
        .get(&AuthRequest::new(&first, claude_cb, &p).url(&app.base))
        .await;
    let login = b.follow(start, &app.base).await;
    let after = b.login(&login, "alice@example.com", PASSWORD).await;
    let consent = b.follow(after, &app.base).await;
    assert!(
        consent.body.contains("Verified: this is Claude"),
        "its callbacks prove who it is"
    );
    b.decide(&consent, "allow").await;
    // Claude registers again on its next connection: no second consent screen.
    let again = b
        .get(&AuthRequest::new(&second, claude_cb, &p).url(&app.base))
        .await;
    let loc = again.location().unwrap();
    assert!(
        loc.starts_with(claude_cb) && query_of(&loc).contains_key("code"),
        "{loc}"
    );
    // Loopback registrations do not share consent (any local program could claim them).
    let local1 = app.register_public("dev", CB).await;
    let local2 = app.register_public("dev", CB).await;
    let s1 = b
        .get(&AuthRequest::new(&local1, CB, &p).url(&app.base))
        .await;
    let c1 = b.follow(s1, &app.base).await;
    assert!(!c1.body.contains("Verified"));
    b.decide(&c1, "allow").await;
    let s2 = b
        .get(&AuthRequest::new(&local2, CB, &p).url(&app.base))
        .await;
    assert!(b.follow(s2, &app.base).await.url.contains("/consent"));
}
