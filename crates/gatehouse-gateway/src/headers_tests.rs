use super::*;
use gatehouse_guard::ScopeSet;

fn token() -> VerifiedToken {
    VerifiedToken {
        subject: "usr_alice".into(),
        client_id: "ghd_client".into(),
        scopes: ScopeSet::parse("todo:read todo:write").unwrap(),
        audience: vec!["https://mcp.example.com/mcp".into()],
        issuer: "https://auth.example.com".into(),
        expires_at: 0,
        issued_at: None,
        auth_time: None,
        token_id: Some("jti".into()),
        session_id: Some("gr_123".into()),
    }
}

fn map(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

const PEER: &str = "10.0.0.9:5555";

#[test]
fn upstream_headers_drop_the_token_spoofed_identity_and_hop_by_hop() {
    let mut h = map(&[
        ("authorization", "Bearer secret-token"),
        ("x-gatehouse-subject", "usr_mallory"),
        ("X-Gatehouse-Extra", "x"),
        ("x-forwarded-for", "6.6.6.6"),
        ("forwarded", "for=6.6.6.6;proto=https"),
        ("x-real-ip", "6.6.6.6"),
        ("connection", "keep-alive, x-private"),
        ("x-private", "hop"),
        ("keep-alive", "timeout=5"),
        ("te", "trailers"),
        ("upgrade", "websocket"),
        ("transfer-encoding", "chunked"),
        ("proxy-authorization", "Basic x"),
        ("host", "mcp.example.com"),
        ("mcp-session-id", "s1"),
        ("mcp-protocol-version", "2025-06-18"),
        ("last-event-id", "7"),
        ("accept", "application/json, text/event-stream"),
    ]);
    let client = ClientAddr::of(&h, PEER.parse().unwrap(), true, false);
    upstream_request_headers(&mut h, &token(), &client).unwrap();
    let got: Vec<(String, String)> = h
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
        .collect();
    let mut got_sorted = got.clone();
    got_sorted.sort();
    let mut expected: Vec<(String, String)> = [
        ("accept", "application/json, text/event-stream"),
        ("last-event-id", "7"),
        ("mcp-protocol-version", "2025-06-18"),
        ("mcp-session-id", "s1"),
        ("x-forwarded-for", "10.0.0.9"),
        ("x-forwarded-host", "mcp.example.com"),
        ("x-forwarded-proto", "https"),
        ("x-gatehouse-client-id", "ghd_client"),
        ("x-gatehouse-grant", "gr_123"),
        ("x-gatehouse-scopes", "todo:read todo:write"),
        ("x-gatehouse-subject", "usr_alice"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    expected.sort();
    assert_eq!(got_sorted, expected);
}

#[test]
fn client_address_trusts_forwarding_headers_only_behind_a_proxy() {
    let peer: SocketAddr = PEER.parse().unwrap();
    type Case<'a> = (&'a [(&'a str, &'a str)], bool, &'a str, &'a str);
    let cases: &[Case<'_>] = &[
        (&[("x-forwarded-for", "1.1.1.1")], false, "10.0.0.9", "http"),
        (
            &[("x-forwarded-for", "1.1.1.1, 2.2.2.2")],
            true,
            "2.2.2.2",
            "http",
        ),
        (&[("x-forwarded-proto", "https")], true, "10.0.0.9", "https"),
        (&[("x-forwarded-proto", "https")], false, "10.0.0.9", "http"),
        (
            &[(
                "forwarded",
                "for=1.1.1.1, for=\"[2001:db8::1]:4711\";proto=https",
            )],
            true,
            "2001:db8::1",
            "https",
        ),
        (&[("x-forwarded-for", "garbage")], true, "10.0.0.9", "http"),
    ];
    for (headers, behind, ip, scheme) in cases {
        let c = ClientAddr::of(&map(headers), peer, false, *behind);
        assert_eq!(
            (c.ip.to_string().as_str(), c.scheme),
            (*ip, *scheme),
            "{headers:?} behind_proxy={behind}"
        );
    }
}

#[test]
fn machine_tokens_have_no_grant_header() {
    let mut t = token();
    t.session_id = None;
    let mut h = HeaderMap::new();
    let c = ClientAddr::of(&h, PEER.parse().unwrap(), false, false);
    upstream_request_headers(&mut h, &t, &c).unwrap();
    assert!(h.get(X_GATEHOUSE_GRANT).is_none());
    assert_eq!(h[X_GATEHOUSE_SUBJECT], "usr_alice");
}
