//! The user's part of an authorization started by a client library: open the library's
//! authorization URL, sign in on Gatehouse's HTML login form, allow on the consent form, and
//! stop at the redirect to the client. The redirect URI is never listened on; the full
//! callback URL goes back to the library.

use reqwest::StatusCode;

use crate::harness::{PASSWORD, TestApp, origin_of};

pub const EMAIL: &str = "alice@example.com";

/// Drives `authorize_url` through login and consent; returns the callback URL, which must
/// start with `redirect_uri`.
pub async fn sign_in_and_allow(app: &TestApp, authorize_url: &str, redirect_uri: &str) -> String {
    let origin = origin_of(&app.base);
    let mut b = app.browser();
    let first = b.get(authorize_url).await;
    let login = b.follow(first, &origin).await;
    assert!(
        login.url.contains("/login") && login.status == StatusCode::OK,
        "expected the login page, got {} at {}: {}",
        login.status,
        login.url,
        login.body
    );
    let after = b.login(&login, EMAIL, PASSWORD).await;
    assert!(
        after.status.is_redirection(),
        "login failed: {} {}",
        after.status,
        after.body
    );
    let consent = b.follow(after, &origin).await;
    assert!(
        consent.url.contains("/consent") && consent.status == StatusCode::OK,
        "expected the consent page, got {} at {}: {}",
        consent.status,
        consent.url,
        consent.body
    );
    let done = b.decide(&consent, "allow").await;
    let done = b.follow(done, &origin).await;
    let callback = done
        .location()
        .unwrap_or_else(|| panic!("no redirect to the client: {} {}", done.status, done.body));
    assert!(
        callback.starts_with(redirect_uri),
        "redirected to {callback}, not to {redirect_uri}"
    );
    callback
}
