//! Browser access: `Origin` validation (MCP transports › Security Warning: servers MUST
//! validate `Origin` to stop DNS rebinding) and CORS for allowed origins (RS-27, CQ-10).

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::config::GuardConfig;

/// Methods of the Streamable HTTP transport.
const ALLOW_METHODS: &str = "GET, POST, DELETE, OPTIONS";
/// Request headers MCP clients send (2026-07-28 adds `Mcp-Method`, `Mcp-Name`).
const ALLOW_HEADERS: &str = "Authorization, Content-Type, MCP-Protocol-Version, Mcp-Session-Id, Last-Event-ID, Mcp-Method, Mcp-Name";
/// Response headers a browser client must be able to read.
const EXPOSE_HEADERS: &str = "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version";
/// How long a browser may cache a preflight answer.
const MAX_AGE: &str = "600";

/// Which browser origins may call the MCP endpoint.
#[derive(Clone, Debug)]
pub(crate) struct OriginPolicy {
    allowed: Vec<String>,
    loopback: bool,
}

impl OriginPolicy {
    pub(crate) fn new(config: &GuardConfig) -> Self {
        let mut allowed = config.allowed_origins.clone();
        if let Ok(own) = url::Url::parse(&config.resource) {
            allowed.push(own.origin().ascii_serialization());
        }
        Self {
            allowed,
            loopback: config.allow_loopback_origins,
        }
    }

    /// Whether `origin` (an `Origin` header value) is allowed.
    pub(crate) fn allows(&self, origin: &HeaderValue) -> bool {
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let lower = origin.to_ascii_lowercase();
        if self.allowed.contains(&lower) {
            return true;
        }
        self.loopback
            && url::Url::parse(origin).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https")
                    && matches!(u.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
                    && u.path() == "/"
                    && u.username().is_empty()
            })
    }
}

/// CORS headers for a response to an allowed origin.
pub(crate) fn allow(headers: &mut HeaderMap, origin: &HeaderValue) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
    headers.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(EXPOSE_HEADERS),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// CORS headers for the public metadata documents: any origin (they hold no secrets).
pub(crate) fn allow_any(headers: &mut HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
}

/// The headers of a preflight answer: methods, headers (the MCP set, plus any
/// `Mcp-Param-*` the browser asks for: SEP-2243 lets tools promote arguments to headers).
pub(crate) fn preflight(headers: &mut HeaderMap, request: &HeaderMap) {
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOW_METHODS),
    );
    let mut allow = ALLOW_HEADERS.to_owned();
    for name in requested_param_headers(request) {
        allow.push_str(", ");
        allow.push_str(&name);
    }
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_str(&allow).unwrap_or(HeaderValue::from_static(ALLOW_HEADERS)),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(MAX_AGE),
    );
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
}

fn requested_param_headers(request: &HeaderMap) -> Vec<String> {
    request
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|n| n.len() > 10 && n[..10].eq_ignore_ascii_case("mcp-param-"))
        .filter(|n| HeaderName::from_bytes(n.as_bytes()).is_ok())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(loopback: bool) -> OriginPolicy {
        let c =
            crate::GuardConfig::builder("https://mcp.example.com/mcp", "https://auth.example.com")
                .allowed_origins(["https://app.example.com"])
                .allow_loopback_origins(loopback)
                .build()
                .unwrap();
        OriginPolicy::new(&c)
    }

    #[test]
    fn origin_policy_table() {
        let cases: &[(&str, bool, bool)] = &[
            // (Origin, allowed without loopback, allowed with loopback)
            ("https://app.example.com", true, true),
            ("HTTPS://APP.EXAMPLE.COM", true, true),
            ("https://mcp.example.com", true, true), // the resource's own origin
            ("https://app.example.com:8443", false, false),
            ("http://app.example.com", false, false),
            ("https://evil.example.com", false, false),
            ("http://localhost:6274", false, true),
            ("http://127.0.0.1:6277", false, true),
            ("http://[::1]:3000", false, true),
            ("https://localhost", false, true),
            ("http://localhost.evil.com:6274", false, false),
            ("null", false, false),
            ("file://", false, false),
        ];
        for (origin, without, with) in cases {
            let v = HeaderValue::from_str(origin).unwrap();
            assert_eq!(policy(false).allows(&v), *without, "{origin}");
            assert_eq!(policy(true).allows(&v), *with, "{origin} (loopback)");
        }
    }

    #[test]
    fn preflight_allows_the_mcp_headers_and_requested_param_headers() {
        let mut req = HeaderMap::new();
        req.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            HeaderValue::from_static("authorization, mcp-param-region, x-evil"),
        );
        let mut h = HeaderMap::new();
        preflight(&mut h, &req);
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_HEADERS],
            format!("{ALLOW_HEADERS}, mcp-param-region").as_str()
        );
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], ALLOW_METHODS);
    }
}
