//! Refresh tokens: rotation on every use, a grace window for parallel refreshes, reuse
//! detection that revokes the family.

use gatehouse_oauth::secret::Secret;
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::{AuthRequest, TestApp, pkce_pair};

const CB: &str = "http://127.0.0.1:8765/callback";
const MCP: &str = "http://127.0.0.1:3000/mcp";

async fn tokens(app: &TestApp, scope: &str) -> (String, Value) {
    app.add_user("dev", "alice@example.com").await;
    let client = app.register_public("dev", CB).await;
    let p = pkce_pair();
    let (_, code) = app
        .code_flow("dev", &AuthRequest::new(&client, CB, &p).scope(scope))
        .await;
    let r = app
        .token(
            "dev",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", &client),
                ("code_verifier", &p.verifier),
            ],
        )
        .await;
    assert_eq!(r.0, StatusCode::OK);
    (client, r.2)
}

async fn refresh(
    app: &TestApp,
    client: &str,
    rt: &str,
    extra: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", client),
    ];
    form.extend_from_slice(extra);
    let r = app.token("dev", &form).await;
    (r.0, r.2)
}

#[tokio::test]
async fn refresh_rotates_and_reuse_after_grace_revokes_the_family() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read todo:write").await;
    let (client, t) = tokens(&app, "todo:read todo:write offline_access").await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let (s, r2) = refresh(&app, &client, &rt1, &[]).await;
    assert_eq!(s, StatusCode::OK, "{r2}");
    let rt2 = r2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated");
    assert_eq!(
        r2["scope"], "todo:read todo:write offline_access",
        "refresh without scope keeps the grant"
    );
    let (s, r3) = refresh(&app, &client, &rt2, &[]).await;
    assert_eq!(s, StatusCode::OK);
    let rt3 = r3["refresh_token"].as_str().unwrap().to_owned();
    app.clock.advance(31); // past the 30 s grace window
    let (s, e) = refresh(&app, &client, &rt2, &[]).await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    // the whole family is gone, including the newest token
    let (s, _) = refresh(&app, &client, &rt3, &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let events = app.events("dev").await;
    assert!(events.iter().any(|e| {
        e.event == "refresh"
            && e.error_detail
                .as_deref()
                .is_some_and(|d| d.contains("reuse detected"))
    }));
}

#[tokio::test]
async fn parallel_refreshes_in_the_grace_window_get_the_same_successor() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let (client, t) = tokens(&app, "todo:read offline_access").await;
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (http, url, rt, client) = (
            app.http.clone(),
            format!("{}/token", app.base),
            rt1.clone(),
            client.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let r = http
                .post(url)
                .form(&[
                    ("grant_type", "refresh_token"),
                    ("refresh_token", rt.as_str()),
                    ("client_id", client.as_str()),
                ])
                .send()
                .await
                .unwrap();
            (r.status(), r.json::<Value>().await.unwrap())
        }));
    }
    let mut successors = Vec::new();
    for t in tasks {
        let (s, body) = t.await.unwrap();
        assert_eq!(s, StatusCode::OK, "{body}");
        successors.push(body["refresh_token"].as_str().unwrap().to_owned());
    }
    assert!(
        successors.windows(2).all(|w| w[0] == w[1]),
        "one successor, not a branch: {successors:?}"
    );
    // The successor works; the grandparent rule holds afterwards.
    let (s, r) = refresh(&app, &client, &successors[0], &[]).await;
    assert_eq!(s, StatusCode::OK);
    // rt1 is now a grandparent: presenting it is reuse even inside its grace window.
    let (s, _) = refresh(&app, &client, &rt1, &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = refresh(&app, &client, r["refresh_token"].as_str().unwrap(), &[]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "family revoked");
}

#[tokio::test]
async fn refresh_scope_can_narrow_but_not_widen_and_resource_must_match() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read todo:write").await;
    let (client, t) = tokens(&app, "todo:read offline_access").await;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let (s, e) = refresh(&app, &client, &rt, &[("scope", "todo:read todo:write")]).await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_scope")
    );
    let (s, e) = refresh(
        &app,
        &client,
        &rt,
        &[("resource", "http://127.0.0.1:3000/other")],
    )
    .await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_target")
    );
    let (s, r) = refresh(
        &app,
        &client,
        &rt,
        &[("scope", "todo:read"), ("resource", MCP)],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["scope"], "todo:read");
    // the new refresh token keeps the original scope (RFC 6749 §6)
    let (s, r2) = refresh(&app, &client, r["refresh_token"].as_str().unwrap(), &[]).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r2["scope"], "todo:read offline_access");
}

#[tokio::test]
async fn a_refresh_token_works_only_for_its_client() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let (client, t) = tokens(&app, "todo:read").await;
    let rt = t["refresh_token"]
        .as_str()
        .expect("policy issues a refresh token to refresh_token clients")
        .to_owned();
    let other = app.register_public("dev", CB).await;
    let (s, e) = refresh(&app, &other, &rt, &[]).await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
    let (s, _) = refresh(&app, &client, &rt, &[]).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the token was not burnt by the other client's attempt"
    );
    let (s, e) = refresh(&app, &client, "ghr_forged", &[]).await;
    assert_eq!(
        (s, e["error"].as_str().unwrap()),
        (StatusCode::BAD_REQUEST, "invalid_grant")
    );
}

/// A disabled user's refresh token stops working without being rotated or revoked: enabled
/// again, the same token refreshes.
#[tokio::test]
async fn a_disabled_users_refresh_token_is_refused_until_they_are_enabled() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let (client, t) = tokens(&app, "todo:read offline_access").await;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let user_id = app
        .store
        .get_user_by_email("dev", "alice@example.com")
        .await
        .unwrap()
        .expect("the user")
        .id;
    let set_disabled = |disabled: bool| {
        let (store, user_id) = (app.store.clone(), user_id.clone());
        async move {
            let mut u = store.get_user("dev", &user_id).await.unwrap().unwrap();
            u.disabled = disabled;
            assert!(store.update_user(&u).await.unwrap());
        }
    };
    set_disabled(true).await;
    let (s, body) = refresh(&app, &client, &rt, &[]).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    set_disabled(false).await;
    let (s, body) = refresh(&app, &client, &rt, &[]).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "the refused refresh changed nothing: {body}"
    );
}

/// Once its MCP server is deleted (and the server has seen it), a refresh token is refused,
/// and the refused refresh neither rotates nor revokes the token.
#[tokio::test]
async fn a_refresh_token_of_a_deleted_mcp_server_is_refused_and_left_as_it_was() {
    let app = TestApp::spawn().await;
    let resource = app.add_resource("dev", MCP, "todo:read").await;
    let (client, t) = tokens(&app, "todo:read offline_access").await;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    assert!(
        app.store
            .delete_resource("dev", &resource.id)
            .await
            .unwrap()
    );
    app.reload().await;
    let (s, body) = refresh(&app, &client, &rt, &[]).await;
    assert_eq!(
        (s, body["error"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_grant")),
        "{body}"
    );
    let stored = app
        .store
        .get_refresh("dev", &Secret::presented(&rt).hash())
        .await
        .unwrap()
        .expect("the token is kept");
    assert_eq!((stored.rotated_at, stored.revoked_at), (None, None));
}

/// Refresh tokens are ordered secrets (`ghr_{ms}.{random}`, stored as `{ms}.{hash}` so their
/// index grows at its end); a token issued before, a plain secret stored as a plain hash,
/// still rotates, and its successor is ordered.
#[tokio::test]
async fn refresh_tokens_are_ordered_and_tokens_issued_before_still_rotate() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let (client, t) = tokens(&app, "todo:read offline_access").await;
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    let ordered = |value: &str| {
        let hash = Secret::presented(value).hash();
        let (ms, rest) = value
            .strip_prefix("ghr_")
            .and_then(|v| v.split_once('.'))
            .unwrap_or_else(|| panic!("not an ordered token: {value}"));
        assert!(hash.as_str().starts_with(&format!("{ms}.")), "{hash:?}");
        assert_eq!((ms.len(), rest.len()), (11, 43), "{value}");
        hash
    };
    let issued = app
        .store
        .get_refresh("dev", &ordered(&rt))
        .await
        .unwrap()
        .expect("stored under its ordered hash");

    let old = Secret::from_random("ghr_", [7; 32]);
    assert_eq!(old.hash().as_str().len(), 43, "a plain hash");
    let mut record = issued.clone();
    record.hash = old.hash();
    app.store.create_refresh(&record).await.unwrap();
    let (s, body) = refresh(&app, &client, old.expose(), &[]).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let next = body["refresh_token"].as_str().unwrap();
    assert!(
        app.store
            .get_refresh("dev", &ordered(next))
            .await
            .unwrap()
            .is_some()
    );
    let rotated = app
        .store
        .get_refresh("dev", &old.hash())
        .await
        .unwrap()
        .unwrap();
    assert!(rotated.rotated_at.is_some());
}
