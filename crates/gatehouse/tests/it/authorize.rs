//! The authorization endpoint: what renders locally, what redirects, and what it remembers.

use reqwest::{StatusCode, header};

use crate::harness::{AuthRequest, TestApp, pkce_pair, query_of};

const CB: &str = "http://127.0.0.1:8765/callback";
const MCP: &str = "http://127.0.0.1:3000/mcp";

async fn setup() -> (TestApp, String) {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read todo:write").await;
    app.add_user("dev", "alice@example.com").await;
    let client = app.register_public("dev", CB).await;
    (app, client)
}

/// Asserts the response is an error page (400), never a redirect.
fn assert_page(page: &crate::harness::Page, code: &str) {
    assert_eq!(page.status, StatusCode::BAD_REQUEST, "{}", page.body);
    assert!(page.location().is_none(), "must not redirect");
    assert!(page.body.contains(code), "page names the error code {code}");
    assert!(
        page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
}

/// Asserts a redirect to the client with `error`, `state` and `iss`.
fn assert_error_redirect(app: &TestApp, page: &crate::harness::Page, code: &str) {
    assert_eq!(page.status, StatusCode::FOUND, "{}", page.body);
    let loc = page.location().unwrap();
    assert!(loc.starts_with(CB), "{loc}");
    let q = query_of(&loc);
    assert_eq!(q["error"], code, "{loc}");
    assert_eq!(q["state"], "st-123");
    assert_eq!(q["iss"], app.base, "RFC 9207 iss on error responses");
}

#[tokio::test]
async fn unknown_client_renders_a_page_with_remedies_and_logs_it() {
    let (app, _) = setup().await;
    let p = pkce_pair();
    let page = app
        .browser()
        .get(&AuthRequest::new("ghc_doesnotexist", CB, &p).url(&app.base))
        .await;
    assert_page(&page, "invalid_client");
    assert!(page.body.contains("ghc_doesnotexist"));
    assert!(
        page.body.contains("mcp-remote") && page.body.contains(".mcp-auth"),
        "tells how to clear client caches"
    );
    let events = app.events("dev").await;
    let e = events
        .iter()
        .find(|e| e.event == "authorize" && e.outcome == "failure")
        .expect("logged");
    assert_eq!(e.error.as_deref(), Some("invalid_client"));
    assert_eq!(e.client_id.as_deref(), Some("ghc_doesnotexist"));
}

#[tokio::test]
async fn redirect_mismatch_names_received_and_registered_uris() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    for bad in [
        "http://127.0.0.1:8765/callback/",
        "http://localhost:8765/callback",
        "https://evil.example/callback",
        "http://127.0.0.1:8765/callback#x",
    ] {
        let page = app
            .browser()
            .get(&AuthRequest::new(&client, bad, &p).url(&app.base))
            .await;
        assert_page(&page, "invalid_request");
        assert!(
            page.body.contains(&crate::harness::html(bad)),
            "names the URI received: {bad}"
        );
        assert!(page.body.contains(CB), "names the registered URI");
    }
    let e = app
        .events("dev")
        .await
        .into_iter()
        .find(|e| e.outcome == "failure")
        .unwrap();
    assert!(e.error_detail.unwrap().contains("registered"));
}

#[tokio::test]
async fn missing_client_id_or_redirect_uri_renders_locally() {
    let (app, client) = setup().await;
    let page = app
        .browser()
        .get(&format!(
            "{}/authorize?response_type=code&redirect_uri={CB}",
            app.base
        ))
        .await;
    assert_page(&page, "invalid_request");
    let page = app
        .browser()
        .get(&format!(
            "{}/authorize?response_type=code&client_id={client}",
            app.base
        ))
        .await;
    assert_page(&page, "invalid_request");
    let page = app
        .browser()
        .get(&format!(
            "{}/authorize?client_id={client}&client_id=x&redirect_uri={CB}",
            app.base
        ))
        .await;
    assert_page(&page, "invalid_request");
}

#[tokio::test]
async fn loopback_redirect_matches_any_port() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let client = app
        .register_public("dev", "http://127.0.0.1/callback")
        .await;
    let p = pkce_pair();
    let page = app
        .browser()
        .get(&AuthRequest::new(&client, "http://127.0.0.1:54321/callback", &p).url(&app.base))
        .await;
    assert_eq!(page.status, StatusCode::FOUND);
    assert!(
        page.location().unwrap().contains("/login?request="),
        "proceeds to login"
    );
}

#[tokio::test]
async fn protocol_errors_redirect_with_state_and_iss() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let base = AuthRequest::new(&client, CB, &p);
    let cases: Vec<(AuthRequest, &str)> = vec![
        (
            AuthRequest {
                challenge: None,
                ..base.clone()
            },
            "invalid_request",
        ),
        (
            AuthRequest {
                method: Some("plain".into()),
                ..base.clone()
            },
            "invalid_request",
        ),
        (
            AuthRequest {
                method: None,
                ..base.clone()
            },
            "invalid_request",
        ),
        (
            AuthRequest {
                challenge: Some("short".into()),
                ..base.clone()
            },
            "invalid_request",
        ),
        (base.clone().scope("todo:admin"), "invalid_scope"),
        (
            base.clone().resource("http://127.0.0.1:3000/other"),
            "invalid_target",
        ),
        (base.clone().resource("not a uri"), "invalid_target"),
        (
            base.clone().resource(MCP).param("resource", MCP),
            "invalid_target",
        ),
        (
            base.clone().param("nonce", "a").param("nonce", "b"),
            "invalid_request",
        ),
        (base.clone().param("prompt", "bogus"), "invalid_request"),
        (
            base.clone().param("request", "eyJhbGciOiJub25lIn0.e30."),
            "request_not_supported",
        ),
    ];
    for (req, code) in cases {
        let page = app.browser().get(&req.url(&app.base)).await;
        assert_error_redirect(&app, &page, code);
    }
    // response_type problems
    let url = base
        .url(&app.base)
        .replace("response_type=code", "response_type=token");
    assert_error_redirect(
        &app,
        &app.browser().get(&url).await,
        "unsupported_response_type",
    );
    let url = base.url(&app.base).replace("response_type=code&", "");
    assert_error_redirect(&app, &app.browser().get(&url).await, "invalid_request");
}

#[tokio::test]
async fn resource_is_required_when_several_mcp_servers_exist() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    // One MCP server: resource may be omitted.
    let page = app
        .browser()
        .get(&AuthRequest::new(&client, CB, &p).url(&app.base))
        .await;
    assert!(page.location().unwrap().contains("/login"));
    app.add_resource("dev", "http://127.0.0.1:4000/mcp", "notes:read")
        .await;
    let page = app
        .browser()
        .get(&AuthRequest::new(&client, CB, &p).url(&app.base))
        .await;
    assert_error_redirect(&app, &page, "invalid_target");
}

#[tokio::test]
async fn prompt_none_without_session_is_login_required() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let page = app
        .browser()
        .get(
            &AuthRequest::new(&client, CB, &p)
                .param("prompt", "none")
                .url(&app.base),
        )
        .await;
    assert_error_redirect(&app, &page, "login_required");
}

#[tokio::test]
async fn prompt_none_with_session_but_no_consent_is_consent_required() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let mut b = app.browser();
    // Sign in but deny, so there is a session and no consent.
    let first = b
        .get(&AuthRequest::new(&client, CB, &p).url(&app.base))
        .await;
    let login = b.follow(first, &app.base).await;
    let after = b
        .login(&login, "alice@example.com", crate::harness::PASSWORD)
        .await;
    let consent = b.follow(after, &app.base).await;
    let denied = b.decide(&consent, "deny").await;
    assert_eq!(
        query_of(&denied.location().unwrap())["error"],
        "access_denied"
    );
    let page = b
        .get(
            &AuthRequest::new(&client, CB, &p)
                .param("prompt", "none")
                .url(&app.base),
        )
        .await;
    assert_error_redirect(&app, &page, "consent_required");
}

#[tokio::test]
async fn errors_for_dynamic_web_clients_do_not_auto_redirect() {
    let app = TestApp::spawn().await;
    app.add_resource("dev", MCP, "todo:read").await;
    let web_cb = "https://client.example.com/cb";
    let client = app.register_public("dev", web_cb).await;
    let p = pkce_pair();
    let page = app
        .browser()
        .get(
            &AuthRequest::new(&client, web_cb, &p)
                .scope("nope")
                .url(&app.base),
        )
        .await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(
        page.location().is_none(),
        "RFC 9700 §4.11.2: no automatic redirect for an untrusted client"
    );
    assert!(page.body.contains("client.example.com") && page.body.contains("error=invalid_scope"));
}

#[tokio::test]
async fn authorize_endpoint_never_answers_cors() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let resp = app
        .http
        .get(AuthRequest::new(&client, CB, &p).url(&app.base))
        .header(header::ORIGIN, "http://localhost:6274")
        .send()
        .await
        .unwrap();
    assert!(
        resp.headers()
            .get(header::ACCESS_CONTROL_ALLOW_ORIGIN)
            .is_none()
    );
}

#[tokio::test]
async fn pending_authorization_survives_a_late_browser_for_ten_minutes() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let mut b = app.browser();
    let first = b
        .get(&AuthRequest::new(&client, CB, &p).url(&app.base))
        .await;
    let login_url = first.location().unwrap();
    app.clock.advance(10 * 60 + 30); // the user got to the browser late
    let login = b.get(&login_url).await;
    assert_eq!(
        login.status,
        StatusCode::OK,
        "still valid after 10.5 minutes"
    );
    let after = b
        .login(&login, "alice@example.com", crate::harness::PASSWORD)
        .await;
    let consent = b.follow(after, &app.base).await;
    let done = b.decide(&consent, "allow").await;
    assert!(query_of(&done.location().unwrap()).contains_key("code"));
    // …but not forever.
    let first = b
        .get(
            &AuthRequest::new(&client, CB, &p)
                .param("prompt", "login")
                .url(&app.base),
        )
        .await;
    let login_url = first.location().unwrap();
    app.clock.advance(31 * 60);
    let expired = b.get(&login_url).await;
    assert_eq!(expired.status, StatusCode::BAD_REQUEST);
    assert!(expired.body.contains("connect again"));
}

#[tokio::test]
async fn control_characters_are_refused_before_anything_is_looked_up_or_stored() {
    let (app, client) = setup().await;
    let p = pkce_pair();
    let url = AuthRequest::new(&client, CB, &p).url(&app.base);
    let page = app
        .browser()
        .get(&url.replace("state=st-123", "state=st%00123"))
        .await;
    assert_page(&page, "invalid_request");
    assert!(page.body.contains("control characters"), "{}", page.body);
    let page = app
        .browser()
        .get(&url.replace(&format!("client_id={client}"), "client_id=a%00b"))
        .await;
    assert_page(&page, "invalid_request");
    // The same at the token endpoint.
    let resp = app
        .http
        .post(format!("{}/token", app.base))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("grant_type=authorization_code&code=a%00b&client_id=x")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");
}
