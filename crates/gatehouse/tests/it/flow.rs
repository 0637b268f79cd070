//! Login and consent pages: forms without JavaScript, CSRF, remembered consent.

use reqwest::{StatusCode, header};

use crate::harness::{AuthRequest, PASSWORD, TestApp, pkce_pair, query_of};

const CB: &str = "http://127.0.0.1:8765/callback";
const MCP: &str = "http://127.0.0.1:3000/mcp";

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read todo:write").await;
    app.add_user("dev", "alice@example.com").await;
    let client = app.register_public("dev", CB).await;
    (app, client)
}

#[tokio::test]
async fn login_and_consent_pages_show_what_is_asked_and_resist_framing() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let mut b = app.browser();
    let first = b
        .get(
            &AuthRequest::new(&client, CB, &p)
                .scope("todo:read offline_access")
                .url(&app.base),
        )
        .await;
    let login = b.follow(first, &app.base).await;
    assert_eq!(login.status, StatusCode::OK);
    assert!(login.body.contains("name=\"email\"") && login.body.contains("name=\"password\""));
    assert!(!login.body.contains("<script"), "works without JavaScript");
    let h = &login.headers;
    let csp = h[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"));
    assert_eq!(h[header::X_FRAME_OPTIONS], "DENY");
    assert!(
        h.get("cross-origin-opener-policy").is_none(),
        "COOP same-origin breaks popup clients"
    );
    let cookies = h
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect::<Vec<_>>();
    assert!(
        cookies.is_empty()
            || cookies
                .iter()
                .all(|c| c.contains("HttpOnly") && c.contains("SameSite=Lax"))
    );

    let after = b.login(&login, "alice@example.com", PASSWORD).await;
    assert_eq!(
        after.status,
        StatusCode::SEE_OTHER,
        "303 after a credential POST (RFC 9700 §4.12)"
    );
    let session_cookie = after
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .find(|c| c.starts_with("gh_session_dev="))
        .expect("session cookie");
    assert!(session_cookie.contains("HttpOnly"));
    let consent = b.follow(after, &app.base).await;
    assert!(consent.url.contains("/consent"));
    for needle in [
        "Todo MCP",
        "Test MCP Client",
        "127.0.0.1",
        "Read your todo lists",
        "todo:read",
        "offline_access",
        &client,
        "alice@example.com",
    ] {
        assert!(consent.body.contains(needle), "consent page shows {needle}");
    }
    assert!(
        !consent.body.contains("todo:write"),
        "only requested scopes are listed"
    );
    assert!(
        consent.body.contains("name=\"decision\" value=\"allow\"")
            && consent.body.contains("name=\"decision\" value=\"deny\"")
    );
    let done = b.decide(&consent, "allow").await;
    assert_eq!(done.status, StatusCode::SEE_OTHER);
    let q = query_of(&done.location().unwrap());
    assert!(q["code"].len() > 20);
    assert_eq!(q["state"], "st-123");
    assert_eq!(q["iss"], app.base);
}

#[tokio::test]
async fn wrong_password_is_refused_and_logged() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let mut b = app.browser();
    let first = b
        .get(&AuthRequest::new(&client, CB, &p).url(&app.base))
        .await;
    let login = b.follow(first, &app.base).await;
    let again = b.login(&login, "alice@example.com", "wrong password").await;
    assert_eq!(again.status, StatusCode::UNAUTHORIZED);
    assert!(again.body.contains("Incorrect email or password"));
    let unknown = b.login(&login, "mallory@example.com", "whatever1").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(
        unknown.body.contains("Incorrect email or password"),
        "same answer for unknown users"
    );
    let events = app.events("dev").await;
    let fails: Vec<_> = events
        .iter()
        .filter(|e| e.event == "login" && e.outcome == "failure")
        .collect();
    assert_eq!(fails.len(), 2);
    assert!(fails.iter().any(|e| {
        e.error_detail
            .as_deref()
            .unwrap()
            .contains("wrong password")
    }));
    assert!(fails.iter().any(|e| {
        e.error_detail
            .as_deref()
            .unwrap()
            .contains("no user mallory@example.com")
    }));
    // the form still works afterwards
    let ok = b.login(&login, "alice@example.com", PASSWORD).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_from_another_browser_are_refused() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let mut b = app.browser();
    let first = b
        .get(&AuthRequest::new(&client, CB, &p).url(&app.base))
        .await;
    let login = b.follow(first, &app.base).await;
    let request = login.hidden("request").unwrap();
    let forged = b
        .post(
            &format!("{}/login", app.base),
            &[
                ("request", &request),
                ("csrf", "forged"),
                ("email", "alice@example.com"),
                ("password", PASSWORD),
            ],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    // Another browser (no binding cookie) cannot continue the request, even with the token.
    let mut other = app.browser();
    let stolen = other.login(&login, "alice@example.com", PASSWORD).await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);
    let view = other.get(&login.url).await;
    assert_eq!(view.status, StatusCode::FORBIDDEN);
    // consent form
    let after = b.login(&login, "alice@example.com", PASSWORD).await;
    let consent = b.follow(after, &app.base).await;
    let no_csrf = b
        .post(
            &format!("{}/consent", app.base),
            &[("request", &request), ("decision", "allow")],
        )
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    assert!(no_csrf.location().is_none(), "no code issued");
    let ok = b.decide(&consent, "allow").await;
    assert!(query_of(&ok.location().unwrap()).contains_key("code"));
    // replaying the consent submission gives no second code
    let replay = b.decide(&consent, "allow").await;
    assert_eq!(replay.status, StatusCode::BAD_REQUEST);
    assert!(replay.location().is_none());
}

#[tokio::test]
async fn deny_returns_access_denied() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let mut b = app.browser();
    let first = b
        .get(&AuthRequest::new(&client, CB, &p).url(&app.base))
        .await;
    let login = b.follow(first, &app.base).await;
    let after = b.login(&login, "alice@example.com", PASSWORD).await;
    let consent = b.follow(after, &app.base).await;
    let denied = b.decide(&consent, "deny").await;
    assert_eq!(denied.status, StatusCode::SEE_OTHER);
    let q = query_of(&denied.location().unwrap());
    assert_eq!(q["error"], "access_denied");
    assert_eq!(q["state"], "st-123");
    assert_eq!(q["iss"], app.base);
    let e = app
        .events("dev")
        .await
        .into_iter()
        .find(|e| e.event == "consent")
        .unwrap();
    assert_eq!(e.error.as_deref(), Some("access_denied"));
}

#[tokio::test]
async fn consent_is_remembered_and_asked_again_for_new_scopes() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let mut b = app.browser();
    let cb = b
        .authorize_and_consent(
            &app.base,
            &AuthRequest::new(&client, CB, &p).scope("todo:read"),
            "alice@example.com",
            PASSWORD,
        )
        .await;
    assert!(cb.contains_key("code"));
    // Same scopes: straight back with a code, no pages.
    let again = b
        .get(
            &AuthRequest::new(&client, CB, &p)
                .scope("todo:read")
                .url(&app.base),
        )
        .await;
    assert_eq!(again.status, StatusCode::FOUND);
    assert!(query_of(&again.location().unwrap()).contains_key("code"));
    // A new scope: consent again, listing it.
    let more = b
        .get(
            &AuthRequest::new(&client, CB, &p)
                .scope("todo:read todo:write")
                .url(&app.base),
        )
        .await;
    let consent = b.follow(more, &app.base).await;
    assert!(
        consent.url.contains("/consent"),
        "asked again for the new scope: {} {} {:?}",
        consent.url,
        consent.status,
        consent.location()
    );
    assert!(consent.body.contains("todo:write"));
    b.decide(&consent, "allow").await;
    // prompt=consent always asks.
    let forced = b
        .get(
            &AuthRequest::new(&client, CB, &p)
                .scope("todo:read")
                .param("prompt", "consent")
                .url(&app.base),
        )
        .await;
    assert!(b.follow(forced, &app.base).await.url.contains("/consent"));
    // prompt=login always shows the login page.
    let relogin = b
        .get(
            &AuthRequest::new(&client, CB, &p)
                .scope("todo:read")
                .param("prompt", "login")
                .url(&app.base),
        )
        .await;
    assert!(b.follow(relogin, &app.base).await.url.contains("/login"));
    // Consent belongs to one client: another client asks again (confused deputy).
    let other = app.register_public("dev", CB).await;
    let page = b
        .get(
            &AuthRequest::new(&other, CB, &p)
                .scope("todo:read")
                .url(&app.base),
        )
        .await;
    assert!(b.follow(page, &app.base).await.url.contains("/consent"));
}

#[tokio::test]
async fn max_age_forces_a_fresh_login() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let mut b = app.browser();
    b.authorize_and_consent(
        &app.base,
        &AuthRequest::new(&client, CB, &p).scope("todo:read"),
        "alice@example.com",
        PASSWORD,
    )
    .await;
    app.clock.advance(120);
    let page = b
        .get(
            &AuthRequest::new(&client, CB, &p)
                .scope("todo:read")
                .param("max_age", "60")
                .url(&app.base),
        )
        .await;
    assert!(b.follow(page, &app.base).await.url.contains("/login"));
    let page = b
        .get(
            &AuthRequest::new(&client, CB, &p)
                .scope("todo:read")
                .param("max_age", "600")
                .url(&app.base),
        )
        .await;
    assert!(query_of(&page.location().unwrap()).contains_key("code"));
}
