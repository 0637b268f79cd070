//! Header hygiene between the client and the upstream:
//!
//! - hop-by-hop headers (RFC 9110 §7.6.1: `Connection` and every header it names,
//!   `Keep-Alive`, `Proxy-*`, `TE`, `Trailer`, `Transfer-Encoding`, `Upgrade`) are removed
//!   both ways;
//! - the client's `Authorization` is never forwarded (MCP › Token Passthrough);
//! - inbound identity headers (`X-Gatehouse-*`) and forwarding headers (`Forwarded`,
//!   `X-Forwarded-*`, `X-Real-IP`) are removed (RFC 9700 §4.13, attack case 57) and set
//!   again by the gateway from what it verified and saw.

use std::net::{IpAddr, SocketAddr};

use gatehouse_guard::VerifiedToken;
use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};

use crate::error::GatewayError;

/// The verified subject (`sub`: a user id, or the client id of a machine token).
pub const X_GATEHOUSE_SUBJECT: HeaderName = HeaderName::from_static("x-gatehouse-subject");
/// The client the token was issued to.
pub const X_GATEHOUSE_CLIENT_ID: HeaderName = HeaderName::from_static("x-gatehouse-client-id");
/// The granted scopes, space-separated, as issued.
pub const X_GATEHOUSE_SCOPES: HeaderName = HeaderName::from_static("x-gatehouse-scopes");
/// The grant (`sid`) the token belongs to, for user tokens: links the request to its
/// authorization in the log.
pub const X_GATEHOUSE_GRANT: HeaderName = HeaderName::from_static("x-gatehouse-grant");

const IDENTITY_PREFIX: &str = "x-gatehouse-";

const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Removes hop-by-hop headers, including those `Connection` names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .chain(
            headers
                .keys()
                .filter(|n| n.as_str().starts_with("proxy-"))
                .cloned(),
        )
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Where a request came from, as far as the gateway may believe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAddr {
    /// The client's address: the peer's, or with `behind_proxy` the one the proxy reported.
    pub ip: IpAddr,
    /// `https` or `http`: the listener's, or with `behind_proxy` the one the proxy reported.
    pub scheme: &'static str,
}

impl ClientAddr {
    /// The client of a request on a connection from `peer`; `tls` says whether the
    /// connection is TLS. With `behind_proxy`, the last `X-Forwarded-For` address (the
    /// one the trusted proxy appended) or the last `Forwarded: for=`, and the proxy's
    /// `X-Forwarded-Proto` / `Forwarded: proto=` are believed; nothing else ever is.
    pub fn of(headers: &HeaderMap, peer: SocketAddr, tls: bool, behind_proxy: bool) -> Self {
        let mut out = Self {
            ip: peer.ip(),
            scheme: if tls { "https" } else { "http" },
        };
        if !behind_proxy {
            return out;
        }
        let forwarded = last_forwarded_element(headers);
        let xff = last_value(headers, &X_FORWARDED_FOR)
            .and_then(|v| v.rsplit(',').next().map(|s| s.trim().to_owned()));
        let for_ip = xff
            .or_else(|| forwarded_param(forwarded.as_deref(), "for"))
            .and_then(|s| parse_ip(&s));
        if let Some(ip) = for_ip {
            out.ip = ip;
        }
        let proto = last_value(headers, &X_FORWARDED_PROTO)
            .map(|v| v.trim().to_ascii_lowercase())
            .or_else(|| forwarded_param(forwarded.as_deref(), "proto"));
        match proto.as_deref() {
            Some("https") => out.scheme = "https",
            Some("http") => out.scheme = "http",
            _ => {}
        }
        out
    }
}

fn last_value(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    headers
        .get_all(name)
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The last element of the last `Forwarded` header (RFC 7239 §4).
fn last_forwarded_element(headers: &HeaderMap) -> Option<String> {
    let v = last_value(headers, &header::FORWARDED)?;
    v.rsplit(',').next().map(|s| s.trim().to_owned())
}

fn forwarded_param(element: Option<&str>, key: &str) -> Option<String> {
    element?.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"').to_ascii_lowercase())
    })
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `[::1]`, `[::1]:5678`, `::1`.
fn parse_ip(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[')
        .and_then(|r| r.split(']').next())
        .and_then(|ip| ip.parse().ok())
}

/// Turns the client's request headers into the upstream's: hop-by-hop, `Authorization`,
/// inbound identity and forwarding headers and `Host` removed; the verified identity and the
/// gateway's own `X-Forwarded-For`/`-Proto`/`-Host` set.
pub(crate) fn upstream_request_headers(
    headers: &mut HeaderMap,
    token: &VerifiedToken,
    client: &ClientAddr,
) -> Result<(), GatewayError> {
    strip_hop_by_hop(headers);
    headers.remove(header::AUTHORIZATION);
    let host = headers.remove(header::HOST);
    strip_forwarding_and_identity(headers);
    let identity = [
        (X_GATEHOUSE_SUBJECT, Some(token.subject.as_str())),
        (X_GATEHOUSE_CLIENT_ID, Some(token.client_id.as_str())),
        (X_GATEHOUSE_SCOPES, Some(&token.scopes.to_string())),
        (X_GATEHOUSE_GRANT, token.session_id.as_deref()),
    ];
    for (name, value) in identity {
        if let Some(v) = value {
            let v = HeaderValue::from_str(v).map_err(|_| {
                GatewayError::Internal(format!("token claim for {name} is not a valid header"))
            })?;
            headers.insert(name, v);
        }
    }
    if let Ok(ip) = HeaderValue::from_str(&client.ip.to_string()) {
        headers.insert(X_FORWARDED_FOR, ip);
    }
    headers.insert(X_FORWARDED_PROTO, HeaderValue::from_static(client.scheme));
    if let Some(h) = host {
        headers.insert(X_FORWARDED_HOST, h);
    }
    Ok(())
}

/// Removes `Forwarded`, `X-Forwarded-*`, `X-Real-IP` and every `X-Gatehouse-*` header.
pub(crate) fn strip_forwarding_and_identity(headers: &mut HeaderMap) {
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| {
            let n = n.as_str();
            n.starts_with(IDENTITY_PREFIX) || n.starts_with("x-forwarded-") || n == "x-real-ip"
        })
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
    headers.remove(header::FORWARDED);
}

#[cfg(test)]
#[path = "headers_tests.rs"]
mod tests;
