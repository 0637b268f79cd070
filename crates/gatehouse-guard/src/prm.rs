//! OAuth 2.0 Protected Resource Metadata (RFC 9728) for the MCP server.

use bytes::Bytes;
use serde::Serialize;

use crate::config::GuardConfig;

/// RFC 9728 §3: the well-known suffix.
pub const WELL_KNOWN_PRM: &str = "/.well-known/oauth-protected-resource";

/// RFC 8414 §3: where 2025-03-26 clients look for authorization server metadata.
pub const WELL_KNOWN_AS: &str = "/.well-known/oauth-authorization-server";

/// RFC 9728 §3.1: the metadata URL of `resource` — `/.well-known/oauth-protected-resource`
/// inserted between the host and the path (a terminating `/` after the host removed first),
/// query kept. `None` if `resource` is not an absolute URL.
pub fn metadata_url(resource: &str) -> Option<String> {
    let url = url::Url::parse(resource).ok()?;
    let mut out = url.origin().ascii_serialization();
    out.push_str(&metadata_path(&url));
    if let Some(q) = url.query() {
        out.push('?');
        out.push_str(q);
    }
    Some(out)
}

fn metadata_path(url: &url::Url) -> String {
    match url.path() {
        "/" | "" => WELL_KNOWN_PRM.to_owned(),
        path => format!("{WELL_KNOWN_PRM}{path}"),
    }
}

#[derive(Serialize)]
struct Document<'a> {
    resource: &'a str,
    authorization_servers: &'a [String],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    scopes_supported: &'a [String],
    bearer_methods_supported: [&'static str; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_documentation: Option<&'a str>,
}

/// The metadata of the guarded resource and where it is served.
#[derive(Clone, Debug)]
pub(crate) struct ProtectedResource {
    /// The path form's path (`/.well-known/oauth-protected-resource/mcp`).
    path: String,
    /// The resource's query, which the path form carries too.
    query: Option<String>,
    /// The absolute path-form URL, named in every challenge.
    pub(crate) url: String,
    /// The JSON document.
    pub(crate) document: Bytes,
}

impl ProtectedResource {
    pub(crate) fn new(config: &GuardConfig) -> Self {
        let url = url::Url::parse(&config.resource).expect("resource validated by the builder");
        let doc = Document {
            resource: &config.resource,
            authorization_servers: &config.issuers,
            scopes_supported: &config.scopes_supported,
            bearer_methods_supported: ["header"],
            resource_name: config.resource_name.as_deref(),
            resource_documentation: config.resource_documentation.as_deref(),
        };
        Self {
            path: metadata_path(&url),
            query: url.query().map(str::to_owned),
            url: metadata_url(&config.resource).unwrap_or_default(),
            document: serde_json::to_vec(&doc)
                .expect("metadata serialises")
                .into(),
        }
    }

    /// Whether a request for `path`/`query` asks for the metadata: the path form (with the
    /// resource's query, if it has one) or the root form.
    pub(crate) fn serves(&self, path: &str, query: Option<&str>) -> bool {
        path == WELL_KNOWN_PRM || (path == self.path && query == self.query.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_url_inserts_the_well_known_suffix() {
        let cases = [
            (
                "https://mcp.example.com/mcp",
                "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
            ),
            (
                "https://mcp.example.com/mcp/",
                "https://mcp.example.com/.well-known/oauth-protected-resource/mcp/",
            ),
            (
                "https://mcp.example.com",
                "https://mcp.example.com/.well-known/oauth-protected-resource",
            ),
            (
                "http://localhost:3002/",
                "http://localhost:3002/.well-known/oauth-protected-resource",
            ),
            (
                "https://mcp.example.com:8443/t/a/mcp?tenant=1",
                "https://mcp.example.com:8443/.well-known/oauth-protected-resource/t/a/mcp?tenant=1",
            ),
        ];
        for (resource, expected) in cases {
            assert_eq!(
                metadata_url(resource).as_deref(),
                Some(expected),
                "{resource}"
            );
        }
    }

    #[test]
    fn document_has_the_rfc_9728_shape() {
        let c = GuardConfig::builder("https://mcp.example.com/mcp", "https://auth.example.com")
            .scopes_supported(["todo:read", "todo:write"])
            .resource_name("Todo MCP")
            .build()
            .unwrap();
        let prm = ProtectedResource::new(&c);
        let v: serde_json::Value = serde_json::from_slice(&prm.document).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "resource": "https://mcp.example.com/mcp",
                "authorization_servers": ["https://auth.example.com"],
                "scopes_supported": ["todo:read", "todo:write"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Todo MCP",
            })
        );
        assert!(prm.serves("/.well-known/oauth-protected-resource/mcp", None));
        assert!(prm.serves("/.well-known/oauth-protected-resource", Some("x=1")));
        assert!(!prm.serves("/.well-known/oauth-protected-resource/other", None));
    }
}
