//! The catalogue of known MCP clients (`data/known-clients.toml`).

use std::sync::OnceLock;

use gatehouse_oauth::redirect::{RedirectKind, classify};
use serde::Deserialize;

/// One known client.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownClient {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Its metadata document URLs.
    #[serde(default)]
    pub cimd: Vec<String>,
    /// Metadata document URL patterns with one `*` standing for one path segment.
    #[serde(default)]
    pub cimd_patterns: Vec<String>,
    /// Fixed https callbacks only it receives.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Prefixes of https callbacks only it receives.
    #[serde(default)]
    pub redirect_prefixes: Vec<String>,
    /// Loopback callbacks it uses (any port).
    #[serde(default)]
    pub loopback: Vec<String>,
    /// Private-use scheme callback prefixes it uses.
    #[serde(default)]
    pub schemes: Vec<String>,
    /// Lower-case fragments of its `client_name`.
    #[serde(default)]
    pub names: Vec<String>,
    /// How to make it forget a stale registration.
    pub clear_cache: String,
    /// Where the facts come from.
    pub sources: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Catalogue {
    version: u32,
    client: Vec<KnownClient>,
}

const DATA: &str = include_str!("../../data/known-clients.toml");

fn catalogue() -> &'static Catalogue {
    static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        toml::from_str(DATA).expect("data/known-clients.toml is valid (checked by tests)")
    })
}

/// Every known client.
pub fn all() -> &'static [KnownClient] {
    &catalogue().client
}

/// The catalogue version.
pub fn version() -> u32 {
    catalogue().version
}

fn pattern_matches(pattern: &str, url: &str) -> bool {
    let (Some((prefix, suffix)), false) = (pattern.split_once('*'), url.is_empty()) else {
        return pattern == url;
    };
    url.strip_prefix(prefix)
        .and_then(|rest| rest.strip_suffix(suffix))
        .is_some_and(|middle| !middle.is_empty() && !middle.contains('/'))
}

/// The known client a metadata document URL belongs to.
pub fn by_cimd_url(url: &str) -> Option<&'static KnownClient> {
    all().iter().find(|k| {
        k.cimd.iter().any(|c| c == url) || k.cimd_patterns.iter().any(|p| pattern_matches(p, url))
    })
}

/// The known client whose fixed https callbacks cover every one of `redirect_uris`: only it
/// can receive codes sent there, so the registration is verifiably that client.
pub fn by_verified_redirects(redirect_uris: &[String]) -> Option<&'static KnownClient> {
    if redirect_uris.is_empty() {
        return None;
    }
    all().iter().find(|k| {
        redirect_uris.iter().all(|r| {
            matches!(classify(r), Ok(RedirectKind::Https))
                && (k.redirect_uris.iter().any(|u| u == r)
                    || k.redirect_prefixes
                        .iter()
                        .any(|p| r.starts_with(p.as_str())))
        })
    })
}

/// The known client a request most likely comes from, for remediation text: by callback,
/// then by name. Not proof of identity.
pub fn guess(
    redirect_uri: Option<&str>,
    client_name: Option<&str>,
) -> Option<&'static KnownClient> {
    if let Some(r) = redirect_uri {
        let by_redirect = all().iter().find(|k| {
            k.redirect_uris.iter().any(|u| u == r)
                || k.redirect_prefixes
                    .iter()
                    .any(|p| r.starts_with(p.as_str()))
                || k.schemes.iter().any(|p| r.starts_with(p.as_str()))
                || k.loopback.iter().any(|l| {
                    gatehouse_oauth::redirect::verify(r, std::slice::from_ref(l)).is_some()
                })
        });
        if by_redirect.is_some() {
            return by_redirect;
        }
    }
    let name = client_name?.to_ascii_lowercase();
    all()
        .iter()
        .find(|k| k.names.iter().any(|n| name.contains(n.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_parses_and_every_entry_is_sourced_and_consistent() {
        assert!(version() >= 1);
        assert!(all().len() >= 9);
        let mut ids = std::collections::HashSet::new();
        for k in all() {
            assert!(ids.insert(&k.id), "duplicate id {}", k.id);
            assert!(
                !k.sources.is_empty() && !k.clear_cache.is_empty(),
                "{}",
                k.id
            );
            for u in &k.cimd {
                assert!(gatehouse_oauth::cimd::check_url(u).is_ok(), "{}: {u}", k.id);
            }
            for u in k.redirect_uris.iter().chain(&k.loopback).chain(&k.schemes) {
                assert!(classify(u).is_ok(), "{}: {u}", k.id);
            }
            for u in &k.redirect_uris {
                assert_eq!(
                    classify(u),
                    Ok(RedirectKind::Https),
                    "{}: fixed callbacks must be https",
                    k.id
                );
            }
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(
            by_cimd_url("https://claude.ai/oauth/claude-code-client-metadata")
                .unwrap()
                .id,
            "claude-code"
        );
        assert_eq!(
            by_cimd_url("https://chatgpt.com/oauth/abc123/client.json")
                .unwrap()
                .id,
            "chatgpt"
        );
        assert!(
            by_cimd_url("https://chatgpt.com/oauth/a/b/client.json").is_none(),
            "* is one segment"
        );
        assert!(by_cimd_url("https://evil.example/oauth/claude-code-client-metadata").is_none());
        let claude = vec!["https://claude.ai/api/mcp/auth_callback".to_owned()];
        assert_eq!(by_verified_redirects(&claude).unwrap().id, "claude");
        let mixed = vec![
            "https://claude.ai/api/mcp/auth_callback".to_owned(),
            "https://evil.example/cb".to_owned(),
        ];
        assert!(
            by_verified_redirects(&mixed).is_none(),
            "one foreign callback breaks the proof"
        );
        assert!(
            by_verified_redirects(&["http://localhost:6274/oauth/callback".to_owned()]).is_none(),
            "loopback proves nothing"
        );
        assert_eq!(
            guess(Some("http://localhost:51234/oauth/callback"), None)
                .unwrap()
                .id,
            "mcp-remote"
        );
        assert_eq!(
            guess(Some("cursor://anysphere.cursor-mcp/oauth/x/callback"), None)
                .unwrap()
                .id,
            "cursor"
        );
        assert_eq!(
            guess(
                Some("http://127.0.0.1:9/nothing"),
                Some("Visual Studio Code")
            )
            .unwrap()
            .id,
            "vscode"
        );
        assert!(guess(None, Some("Unknown Tool")).is_none());
    }
}
