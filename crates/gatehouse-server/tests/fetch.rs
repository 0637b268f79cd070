//! The SSRF-safe fetcher against real HTTPS servers on 127.0.0.1 (REG-35, attack cases 43-47).
//!
//! Every test name starts with `fetch_` so that `cargo test fetch` selects them.

#[path = "support/tls_server.rs"]
mod tls_server;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use gatehouse_server::fetch::{FetchError, FetchPolicy, fetch};
use tls_server::{Canned, Framing, Reply, TestCa, TlsServer};

const DOC: &str = r#"{"client_id":"https://127.0.0.1/client","client_name":"Test"}"#;
const NAMES: &[&str] = &["localhost", "127.0.0.1"];

/// A policy trusting `ca` and exempting `allow` from the special-use check.
fn policy(ca: &TestCa, allow: &[&str]) -> FetchPolicy {
    FetchPolicy {
        allow_hosts: allow.iter().map(|h| (*h).to_owned()).collect(),
        extra_roots_pem: Some(ca.pem()),
        ..FetchPolicy::default()
    }
}

/// Proves that no connection reached `server` before this call: connections are accepted
/// in order, so once a fresh allowed fetch has been served, any earlier one would have been
/// counted too.
async fn assert_never_connected(server: &TlsServer, ca: &TestCa) {
    let control = fetch(&server.url("127.0.0.1", "/"), &policy(ca, &["127.0.0.1"])).await;
    control.expect("control fetch succeeds");
    assert_eq!(server.accepted(), 1, "only the control fetch connected");
}

#[tokio::test]
async fn fetch_returns_json_document_pinned_to_the_checked_address() {
    let ca = TestCa::new("Gatehouse test CA");
    let canned = Canned::json(DOC).header("Cache-Control", "max-age=300");
    let server = TlsServer::start(&ca, NAMES, canned).await;

    let doc = fetch(
        &server.url("127.0.0.1", "/client"),
        &policy(&ca, &["127.0.0.1"]),
    )
    .await
    .expect("fetch succeeds");

    assert_eq!(doc.status, 200);
    assert_eq!(doc.body, DOC.as_bytes());
    assert_eq!(doc.content_type.as_deref(), Some("application/json"));
    assert_eq!(doc.cache_control.as_deref(), Some("max-age=300"));
    assert_eq!(doc.address, server.addr());
    let seen = server.requests();
    assert_eq!(seen.len(), 1);
    assert!(
        seen[0].head.starts_with("GET /client HTTP/1.1"),
        "{}",
        seen[0].head
    );
    assert_eq!(seen[0].header("accept"), Some("application/json"));
    let agent = seen[0].header("user-agent").unwrap_or_default();
    assert!(agent.starts_with("gatehouse/"), "{agent}");
}

#[tokio::test]
async fn fetch_keeps_the_host_name_for_sni_and_host_when_connecting_to_the_resolved_address() {
    let ca = TestCa::new("Gatehouse test CA");
    let server = TlsServer::start(&ca, &["localhost"], Canned::json(DOC)).await;

    let doc = fetch(&server.url("localhost", "/c"), &policy(&ca, &["localhost"]))
        .await
        .expect("fetch succeeds");

    assert_eq!(doc.address, server.addr());
    let seen = server.requests();
    assert_eq!(seen[0].sni.as_deref(), Some("localhost"));
    let host = format!("localhost:{}", server.addr().port());
    assert_eq!(seen[0].header("host"), Some(host.as_str()));
}

#[tokio::test]
async fn fetch_refuses_loopback_without_allow_entry_and_never_connects() {
    let ca = TestCa::new("Gatehouse test CA");
    let server = TlsServer::start(&ca, NAMES, Canned::json(DOC)).await;

    let refused = fetch(&server.url("127.0.0.1", "/"), &policy(&ca, &[])).await;

    match refused {
        Err(FetchError::Blocked {
            host,
            address,
            reason,
        }) => {
            assert_eq!(host, "127.0.0.1");
            assert_eq!(address, IpAddr::from([127, 0, 0, 1]));
            assert!(reason.contains("loopback"), "{reason}");
        }
        other => panic!("expected Blocked, got {other:?}"),
    }
    assert_never_connected(&server, &ca).await;
}

#[tokio::test]
async fn fetch_refuses_a_name_resolving_to_loopback_when_only_the_address_is_allowed() {
    let ca = TestCa::new("Gatehouse test CA");
    let server = TlsServer::start(&ca, NAMES, Canned::json(DOC)).await;

    let refused = fetch(&server.url("localhost", "/"), &policy(&ca, &["127.0.0.1"])).await;

    match refused {
        Err(FetchError::Blocked { host, address, .. }) => {
            assert_eq!(host, "localhost");
            assert!(address.is_loopback(), "{address}");
        }
        other => panic!("expected Blocked, got {other:?}"),
    }
    assert_never_connected(&server, &ca).await;
}

#[tokio::test]
async fn fetch_refuses_obfuscated_and_embedded_loopback_literals_before_connecting() {
    let ca = TestCa::new("Gatehouse test CA");
    let server = TlsServer::start(&ca, NAMES, Canned::json(DOC)).await;
    let port = server.addr().port();

    for url in [
        format!("https://0x7f000001:{port}/"),
        format!("https://2130706433:{port}/"),
        format!("https://127.1:{port}/"),
        format!("https://[::ffff:127.0.0.1]:{port}/"),
        format!("https://[::ffff:7f00:1]:{port}/"),
        "https://169.254.169.254/latest/meta-data/".to_owned(),
        "https://[::ffff:169.254.169.254]/latest/meta-data/".to_owned(),
    ] {
        let url = url::Url::parse(&url).expect("test URL");
        let refused = fetch(&url, &policy(&ca, &[])).await;
        assert!(
            matches!(refused, Err(FetchError::Blocked { .. })),
            "{url}: {refused:?}"
        );
    }
    assert_never_connected(&server, &ca).await;
}

#[tokio::test]
async fn fetch_refuses_plain_http_even_for_an_allowed_host() {
    let ca = TestCa::new("Gatehouse test CA");
    let server = TlsServer::start(&ca, NAMES, Canned::json(DOC)).await;
    let url =
        url::Url::parse(&format!("http://127.0.0.1:{}/", server.addr().port())).expect("test URL");

    let refused = fetch(&url, &policy(&ca, &["127.0.0.1"])).await;

    assert!(
        matches!(&refused, Err(FetchError::NotHttps { scheme }) if scheme == "http"),
        "{refused:?}"
    );
    assert_never_connected(&server, &ca).await;
}

#[tokio::test]
async fn fetch_refuses_userinfo_and_fragments() {
    let ca = TestCa::new("Gatehouse test CA");
    let allow = policy(&ca, &["127.0.0.1"]);
    let with_userinfo = url::Url::parse("https://user:pw@127.0.0.1/").expect("test URL");
    let with_fragment = url::Url::parse("https://127.0.0.1/doc#x").expect("test URL");

    let userinfo = fetch(&with_userinfo, &allow).await;
    let fragment = fetch(&with_fragment, &allow).await;

    assert!(
        matches!(userinfo, Err(FetchError::HasUserinfo)),
        "{userinfo:?}"
    );
    assert!(
        matches!(fragment, Err(FetchError::HasFragment)),
        "{fragment:?}"
    );
}

#[tokio::test]
async fn fetch_reports_a_redirect_without_following_it() {
    let ca = TestCa::new("Gatehouse test CA");
    let canned = Canned::status(302).header("Location", "https://10.0.0.1/x");
    let server = TlsServer::start(&ca, NAMES, canned).await;

    let refused = fetch(&server.url("127.0.0.1", "/"), &policy(&ca, &["127.0.0.1"])).await;

    match refused {
        Err(FetchError::Redirect { status, location }) => {
            assert_eq!(status, 302);
            assert_eq!(location.as_deref(), Some("https://10.0.0.1/x"));
        }
        other => panic!("expected Redirect, got {other:?}"),
    }
    assert_eq!(server.requests().len(), 1, "one request, nothing followed");
}

#[tokio::test]
async fn fetch_rejects_a_body_over_the_limit_announced_by_content_length() {
    let ca = TestCa::new("Gatehouse test CA");
    let canned = Canned::json(&"x".repeat(6 * 1024));
    let server = TlsServer::start(&ca, NAMES, canned).await;

    let refused = fetch(&server.url("127.0.0.1", "/"), &policy(&ca, &["127.0.0.1"])).await;

    assert!(
        matches!(refused, Err(FetchError::TooLarge { limit: 5120 })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn fetch_stops_reading_a_chunked_body_as_soon_as_it_crosses_the_limit() {
    let ca = TestCa::new("Gatehouse test CA");
    // 6 KiB in 1 KiB chunks, then the server stalls: waiting for the end would time out.
    let canned = Canned::json(&"x".repeat(6 * 1024))
        .framing(Framing::Chunked(1024))
        .stall_after_body();
    let server = TlsServer::start(&ca, NAMES, canned).await;

    let refused = fetch(&server.url("127.0.0.1", "/"), &policy(&ca, &["127.0.0.1"])).await;

    assert!(
        matches!(refused, Err(FetchError::TooLarge { limit: 5120 })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn fetch_rejects_a_close_delimited_body_over_the_limit() {
    let ca = TestCa::new("Gatehouse test CA");
    let canned = Canned::json(&"x".repeat(6 * 1024)).framing(Framing::Close);
    let server = TlsServer::start(&ca, NAMES, canned).await;

    let refused = fetch(&server.url("127.0.0.1", "/"), &policy(&ca, &["127.0.0.1"])).await;

    assert!(
        matches!(refused, Err(FetchError::TooLarge { limit: 5120 })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn fetch_accepts_a_chunked_body_of_exactly_the_limit() {
    let ca = TestCa::new("Gatehouse test CA");
    let body = "x".repeat(5 * 1024);
    let canned = Canned::json(&body).framing(Framing::Chunked(1000));
    let server = TlsServer::start(&ca, NAMES, canned).await;

    let doc = fetch(&server.url("127.0.0.1", "/"), &policy(&ca, &["127.0.0.1"]))
        .await
        .expect("fetch succeeds");

    assert_eq!(doc.body.len(), 5 * 1024);
}

#[tokio::test]
async fn fetch_times_out_when_the_server_never_answers() {
    let ca = TestCa::new("Gatehouse test CA");
    let server = TlsServer::start(&ca, NAMES, Reply::Hang).await;
    let limit = Duration::from_millis(300);
    let short = FetchPolicy {
        timeout: limit,
        ..policy(&ca, &["127.0.0.1"])
    };

    let started = Instant::now();
    let refused = fetch(&server.url("127.0.0.1", "/"), &short).await;
    let elapsed = started.elapsed();

    assert!(
        matches!(refused, Err(FetchError::Timeout { limit: l }) if l == limit),
        "{refused:?}"
    );
    assert!(elapsed >= limit, "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(server.requests().len(), 1, "the request was sent");
}

#[tokio::test]
async fn fetch_gives_up_connecting_when_the_tls_handshake_never_completes() {
    let ca = TestCa::new("Gatehouse test CA");
    let server = TlsServer::start(&ca, NAMES, Reply::NoHandshake).await;
    let limit = Duration::from_millis(200);
    let short = FetchPolicy {
        connect_timeout: limit,
        ..policy(&ca, &["127.0.0.1"])
    };

    let started = Instant::now();
    let refused = fetch(&server.url("127.0.0.1", "/"), &short).await;
    let elapsed = started.elapsed();

    assert!(
        matches!(refused, Err(FetchError::ConnectTimeout { limit: l }) if l == limit),
        "{refused:?}"
    );
    assert!(elapsed >= limit, "{elapsed:?}");
    assert!(elapsed < short.timeout, "{elapsed:?}");
    assert_eq!(server.accepted(), 1);
}

#[tokio::test]
async fn fetch_refuses_a_non_json_content_type() {
    let ca = TestCa::new("Gatehouse test CA");
    let canned = Canned::status(200)
        .header("Content-Type", "text/html; charset=utf-8")
        .body(b"<html></html>");
    let server = TlsServer::start(&ca, NAMES, canned).await;

    let refused = fetch(&server.url("127.0.0.1", "/"), &policy(&ca, &["127.0.0.1"])).await;

    assert!(
        matches!(&refused, Err(FetchError::NotJson { content_type: Some(ct) })
            if ct == "text/html; charset=utf-8"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn fetch_fails_tls_for_a_certificate_from_an_untrusted_ca() {
    let trusted = TestCa::new("Gatehouse test CA");
    let other = TestCa::new("Somebody else's CA");
    let server = TlsServer::start(&other, NAMES, Canned::json(DOC)).await;

    let refused = fetch(
        &server.url("127.0.0.1", "/"),
        &policy(&trusted, &["127.0.0.1"]),
    )
    .await;

    assert!(matches!(refused, Err(FetchError::Tls(_))), "{refused:?}");
    assert!(
        server.requests().is_empty(),
        "no request over a rejected session"
    );
}

#[tokio::test]
async fn fetch_fails_tls_when_the_certificate_names_another_host() {
    let ca = TestCa::new("Gatehouse test CA");
    let server = TlsServer::start(&ca, &["localhost"], Canned::json(DOC)).await;

    let refused = fetch(&server.url("127.0.0.1", "/"), &policy(&ca, &["127.0.0.1"])).await;

    assert!(matches!(refused, Err(FetchError::Tls(_))), "{refused:?}");
}

#[tokio::test]
async fn fetch_reports_statuses_other_than_200() {
    let ca = TestCa::new("Gatehouse test CA");
    let server = TlsServer::start(&ca, NAMES, Canned::status(404)).await;

    let refused = fetch(&server.url("127.0.0.1", "/"), &policy(&ca, &["127.0.0.1"])).await;

    assert!(
        matches!(refused, Err(FetchError::Status(404))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn fetch_reports_a_refused_connection() {
    let ca = TestCa::new("Gatehouse test CA");
    // A port that was just free: bind, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = url::Url::parse(&format!("https://127.0.0.1:{port}/")).expect("test URL");

    let refused = fetch(&url, &policy(&ca, &["127.0.0.1"])).await;

    assert!(
        matches!(refused, Err(FetchError::Connect(_))),
        "{refused:?}"
    );
}

#[tokio::test]
async fn fetch_reports_a_name_that_does_not_resolve() {
    let url = url::Url::parse("https://gatehouse.invalid/client").expect("test URL");

    let refused = fetch(&url, &FetchPolicy::default()).await;

    assert!(
        matches!(&refused, Err(FetchError::Dns { host, .. }) if host == "gatehouse.invalid"),
        "{refused:?}"
    );
}

#[tokio::test]
async fn fetch_rejects_unusable_extra_roots() {
    let unusable = FetchPolicy {
        allow_hosts: vec!["127.0.0.1".to_owned()],
        extra_roots_pem: Some(b"not a certificate".to_vec()),
        ..FetchPolicy::default()
    };
    let url = url::Url::parse("https://127.0.0.1:1/").expect("test URL");

    let refused = fetch(&url, &unusable).await;

    assert!(
        matches!(refused, Err(FetchError::BadRoots(_))),
        "{refused:?}"
    );
}
