//! Resource indicators (RFC 8707) and MCP server URIs.
//!
//! MCP (2025-06-18 › Resource Parameter Implementation) makes clients send the canonical
//! URI of the MCP server in `resource`. Clients differ in the details (upper-case host, a
//! trailing slash), so Gatehouse matches on a canonical key and puts the URI exactly as the
//! operator registered it into the token's `aud`.

use url::Url;

use crate::error::OAuthError;

/// Longest resource URI accepted.
pub const MAX_RESOURCE_LEN: usize = 2000;

/// A resource URI as registered for an MCP server: absolute http(s), no fragment, no userinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceUri {
    uri: String,
    key: String,
}

impl ResourceUri {
    /// Validates a URI an operator registers for an MCP server.
    pub fn parse_registered(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        let url = parse_absolute(raw)?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{raw:?} must be an http or https URL"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{raw:?} must not contain user information"));
        }
        Ok(Self {
            uri: raw.to_owned(),
            key: canonical_key(&url),
        })
    }

    /// Rebuilds a registered resource read back from storage.
    pub fn from_stored(uri: &str) -> Self {
        let key = Url::parse(uri)
            .map(|u| canonical_key(&u))
            .unwrap_or_else(|_| uri.to_owned());
        Self {
            uri: uri.to_owned(),
            key,
        }
    }

    /// The URI exactly as registered; this is the access token's `aud`.
    pub fn as_str(&self) -> &str {
        &self.uri
    }

    /// The key two spellings of the same resource share.
    pub fn key(&self) -> &str {
        &self.key
    }
}

/// A `resource` parameter from a request, checked for form (RFC 8707 §2) but not yet
/// matched against a registered MCP server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestedResource {
    raw: String,
    key: String,
}

impl RequestedResource {
    /// RFC 8707 §2: the value "MUST be an absolute URI … MUST NOT include a fragment component";
    /// otherwise the error is `invalid_target`.
    pub fn parse(raw: &str) -> Result<Self, OAuthError> {
        let url = parse_absolute(raw).map_err(OAuthError::invalid_target)?;
        Ok(Self {
            raw: raw.to_owned(),
            key: canonical_key(&url),
        })
    }

    /// The value as the client sent it.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether it names `registered` (canonical comparison, see module docs).
    pub fn matches(&self, registered: &ResourceUri) -> bool {
        self.key == registered.key
    }
}

fn parse_absolute(raw: &str) -> Result<Url, String> {
    if raw.len() > MAX_RESOURCE_LEN {
        return Err("resource URI is too long".to_owned());
    }
    if raw.contains('#') {
        return Err(format!(
            "resource {raw:?} must not contain a fragment (RFC 8707 §2)"
        ));
    }
    let url = Url::parse(raw)
        .map_err(|_| format!("resource {raw:?} is not an absolute URI (RFC 8707 §2)"))?;
    if url.cannot_be_a_base() {
        return Err(format!("resource {raw:?} is not a hierarchical URI"));
    }
    Ok(url)
}

/// Lower-case scheme and host (the `url` crate does both), default port dropped, one
/// trailing slash ignored (MCP 2025-06-18 › Canonical Server URI), query kept.
fn canonical_key(url: &Url) -> String {
    let mut key = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
    if let Some(port) = url.port() {
        key.push_str(&format!(":{port}"));
    }
    key.push_str(url.path().strip_suffix('/').unwrap_or(url.path()));
    if let Some(q) = url.query() {
        key.push('?');
        key.push_str(q);
    }
    key
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_resources_match_registered_spellings() {
        let reg = ResourceUri::parse_registered("https://mcp.example.com/mcp").unwrap();
        let cases: &[(&str, bool)] = &[
            ("https://mcp.example.com/mcp", true),
            ("https://mcp.example.com/mcp/", true),
            ("https://MCP.Example.com/mcp", true),
            ("HTTPS://mcp.example.com/mcp", true),
            ("https://mcp.example.com:443/mcp", true),
            ("https://mcp.example.com/MCP", false), // path is case-sensitive
            ("https://mcp.example.com/mcp/x", false),
            ("http://mcp.example.com/mcp", false),
            ("https://mcp.example.com:8443/mcp", false),
            ("https://mcp.example.com/mcp?x=1", false),
        ];
        for (raw, expected) in cases {
            let r = RequestedResource::parse(raw).unwrap();
            assert_eq!(r.matches(&reg), *expected, "{raw}");
        }
    }

    #[test]
    fn root_resource_with_and_without_slash() {
        let reg = ResourceUri::parse_registered("http://127.0.0.1:3000").unwrap();
        assert!(
            RequestedResource::parse("http://127.0.0.1:3000/")
                .unwrap()
                .matches(&reg)
        );
        assert_eq!(reg.as_str(), "http://127.0.0.1:3000");
    }

    #[test]
    fn malformed_resources_are_invalid_target() {
        for raw in [
            "/mcp",
            "mcp.example.com",
            "https://mcp.example.com/mcp#frag",
            "urn:x",
            "",
        ] {
            let e = RequestedResource::parse(raw).unwrap_err();
            assert_eq!(e.code, crate::ErrorCode::InvalidTarget, "{raw}");
        }
    }

    #[test]
    fn registration_rejects_non_http_and_userinfo() {
        assert!(ResourceUri::parse_registered("ftp://x/y").is_err());
        assert!(ResourceUri::parse_registered("https://u:p@x/y").is_err());
        assert!(ResourceUri::parse_registered("https://x/y#f").is_err());
    }
}
