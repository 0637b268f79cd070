//! DNS pinning, below the public API: a name the resolver cannot resolve is reached through
//! the addresses the fetcher pinned, with the name kept for SNI, certificate check and `Host`.

#[path = "../../tests/support/tls_server.rs"]
mod tls_server;

use super::request;
use super::target::Target;
use super::{FetchError, FetchPolicy};
use tls_server::{Canned, TestCa, TlsServer};

/// `.invalid` never resolves (RFC 6761 §6.4), so only the pin can reach the server.
const PINNED_NAME: &str = "pinned.invalid";

fn policy(ca: &TestCa) -> FetchPolicy {
    FetchPolicy {
        extra_roots_pem: Some(ca.pem()),
        ..FetchPolicy::default()
    }
}

#[tokio::test]
async fn fetch_connects_a_pinned_name_to_the_checked_address_without_dns() {
    let ca = TestCa::new("Gatehouse test CA");
    let server = TlsServer::start(&ca, &[PINNED_NAME], Canned::json("{}")).await;
    let url = server.url(PINNED_NAME, "/doc");
    let target = Target {
        host: PINNED_NAME.to_owned(),
        domain: Some(PINNED_NAME.to_owned()),
        addrs: vec![server.addr()],
    };

    let doc = request::get(&url, &target, &policy(&ca))
        .await
        .expect("pinned fetch succeeds");

    assert_eq!(doc.address, server.addr());
    let seen = server.requests();
    assert_eq!(seen[0].sni.as_deref(), Some(PINNED_NAME));
    let host = format!("{PINNED_NAME}:{}", server.addr().port());
    assert_eq!(seen[0].header("host"), Some(host.as_str()));
}

#[tokio::test]
async fn fetch_never_resolves_a_name_that_was_not_pinned() {
    let ca = TestCa::new("Gatehouse test CA");
    let server = TlsServer::start(&ca, &["localhost"], Canned::json("{}")).await;
    // Pinned under another name: the client would have to resolve `localhost` itself.
    let url = server.url("localhost", "/doc");
    let target = Target {
        host: "localhost".to_owned(),
        domain: Some(PINNED_NAME.to_owned()),
        addrs: vec![server.addr()],
    };

    let refused = request::get(&url, &target, &policy(&ca)).await;

    assert!(
        matches!(refused, Err(FetchError::Connect(_))),
        "{refused:?}"
    );
    assert_eq!(server.accepted(), 0);
}
