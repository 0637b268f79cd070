//! Redirect URIs: what may be registered (per environment profile) and how a requested
//! `redirect_uri` is matched against the registered ones.
//!
//! Matching is exact string comparison (RFC 9700 §2.1; OAuth 2.1 §2.3.1) with one
//! exception, RFC 8252 §7.3: for loopback redirect URIs "the authorization server MUST allow
//! any port to be specified at the time of the request". Gatehouse applies that to
//! `127.0.0.0/8`, `[::1]` and `localhost` (MCP clients use `localhost`), but never matches
//! `localhost` against `127.0.0.1` and never relaxes the path or query.

use std::net::IpAddr;

use url::{Host, Url};

/// Longest redirect URI accepted.
pub const MAX_REDIRECT_URI_LEN: usize = 2000;

/// Schemes that are never acceptable redirect targets, even as "private-use" schemes.
const FORBIDDEN_SCHEMES: [&str; 11] = [
    "javascript",
    "data",
    "file",
    "vbscript",
    "about",
    "blob",
    "ftp",
    "ws",
    "wss",
    "mailto",
    "view-source",
];

/// The redirect-URI rules of an environment (ADM-04).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectPolicy {
    /// `dev`: https anywhere, http on loopback for every client, private-use schemes.
    Development,
    /// Production: https; loopback http (any port) and private-use schemes only for native
    /// clients (RFC 8252 §7.1, §7.3).
    Production,
}

/// OIDC Registration `application_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApplicationType {
    /// Hosted web application.
    Web,
    /// Desktop, CLI or mobile application.
    Native,
}

impl ApplicationType {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Web => "web",
            Self::Native => "native",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "web" => Some(Self::Web),
            "native" => Some(Self::Native),
            _ => None,
        }
    }
}

/// What kind of target a redirect URI is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RedirectKind {
    /// `https://…`
    Https,
    /// `http://` on a loopback host (RFC 8252 §7.3).
    Loopback,
    /// A private-use URI scheme such as `cursor://…` (RFC 8252 §7.1).
    PrivateUse,
}

/// Checks one redirect URI a client wants to register. The error is a sentence that says
/// what is wrong and what would be accepted, for `invalid_redirect_uri` and the error page.
pub fn check_registrable(
    raw: &str,
    policy: RedirectPolicy,
    app: ApplicationType,
) -> Result<RedirectKind, String> {
    let kind = classify(raw)?;
    match (policy, app, kind) {
        (_, _, RedirectKind::Https) => Ok(kind),
        (RedirectPolicy::Development, _, _) => Ok(kind),
        (RedirectPolicy::Production, ApplicationType::Native, _) => Ok(kind),
        (RedirectPolicy::Production, ApplicationType::Web, RedirectKind::Loopback) => Err(format!(
            "{raw:?}: this is a production environment, where web clients must use https redirect URIs; \
             loopback http redirect URIs are allowed for native clients (register with application_type \"native\")"
        )),
        (RedirectPolicy::Production, ApplicationType::Web, RedirectKind::PrivateUse) => {
            Err(format!(
                "{raw:?}: private-use URI schemes are allowed for native clients only in a production environment \
             (register with application_type \"native\")"
            ))
        }
    }
}

/// Classifies a redirect URI, rejecting anything that can never be registered.
pub fn classify(raw: &str) -> Result<RedirectKind, String> {
    if raw.len() > MAX_REDIRECT_URI_LEN {
        return Err(format!(
            "redirect URI is longer than {MAX_REDIRECT_URI_LEN} characters"
        ));
    }
    if raw.contains('#') {
        return Err(format!(
            "{raw:?} must not contain a fragment (RFC 6749 §3.1.2)"
        ));
    }
    if raw.contains('*') {
        return Err(format!(
            "{raw:?}: wildcards are not allowed in redirect URIs; register each URI exactly"
        ));
    }
    let url = Url::parse(raw).map_err(|_| format!("{raw:?} is not an absolute URI"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{raw:?} must not contain user information"));
    }
    match url.scheme() {
        "https" => {
            if url.host().is_none() {
                return Err(format!("{raw:?} has no host"));
            }
            Ok(RedirectKind::Https)
        }
        "http" if is_loopback_host(&url) => Ok(RedirectKind::Loopback),
        "http" => Err(format!(
            "{raw:?}: http redirect URIs are only allowed on loopback (localhost, 127.0.0.1, [::1]); use https"
        )),
        scheme if FORBIDDEN_SCHEMES.contains(&scheme) => Err(format!(
            "{raw:?}: the {scheme}: scheme cannot be a redirect target"
        )),
        _ => Ok(RedirectKind::PrivateUse),
    }
}

/// Whether every URI is loopback or private-use: the mark of a native client (REG-23).
pub fn looks_native(uris: &[String]) -> bool {
    !uris.is_empty()
        && uris.iter().all(|u| {
            matches!(
                classify(u),
                Ok(RedirectKind::Loopback | RedirectKind::PrivateUse)
            )
        })
}

fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

/// A `redirect_uri` that matched one registered for the client. Only [`verify`] builds it,
/// so an error response can only be redirected to a URI that passed the check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedRedirect {
    uri: String,
    kind: RedirectKind,
}

impl VerifiedRedirect {
    /// The URI as requested (and matched).
    pub fn as_str(&self) -> &str {
        &self.uri
    }

    /// The kind of target.
    pub fn kind(&self) -> RedirectKind {
        self.kind
    }

    /// The URI with response parameters added to its query (RFC 6749 §4.1.2: keep any
    /// existing query component).
    pub fn with_params(&self, params: &[(&str, &str)]) -> String {
        let mut out = self.uri.clone();
        let mut ser = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            ser.append_pair(k, v);
        }
        let query = ser.finish();
        if query.is_empty() {
            return out;
        }
        match out.find('?') {
            None => out.push('?'),
            Some(_) if out.ends_with('?') || out.ends_with('&') => {}
            Some(_) => out.push('&'),
        }
        out.push_str(&query);
        out
    }

    /// Rebuilds a redirect that was verified before it was stored (pending authorizations).
    pub fn from_stored(uri: String) -> Self {
        let kind = classify(&uri).unwrap_or(RedirectKind::Https);
        Self { uri, kind }
    }
}

/// Matches `requested` against the client's registered URIs: exact string equality, or the
/// loopback rule of RFC 8252 §7.3 (same scheme, host, path and query; any port).
pub fn verify(requested: &str, registered: &[String]) -> Option<VerifiedRedirect> {
    let kind = classify(requested).ok()?;
    let found = registered.iter().any(|r| r == requested)
        || (kind == RedirectKind::Loopback
            && registered.iter().any(|r| loopback_match(requested, r)));
    found.then(|| VerifiedRedirect {
        uri: requested.to_owned(),
        kind,
    })
}

fn loopback_match(requested: &str, registered: &str) -> bool {
    let (Ok(a), Ok(b)) = (Url::parse(requested), Url::parse(registered)) else {
        return false;
    };
    b.scheme() == "http"
        && is_loopback_host(&b)
        && a.host() == b.host()
        && a.path() == b.path()
        && a.query() == b.query()
        // url normalises an empty path to "/"; insist the raw strings agree on it too.
        && strip_port(requested) == strip_port(registered)
}

/// The URI with any port removed, so `http://127.0.0.1:1234/cb` and `http://127.0.0.1/cb`
/// compare equal while everything else must agree byte for byte.
fn strip_port(uri: &str) -> String {
    let Some(rest) = uri.strip_prefix("http://") else {
        return uri.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = if authority.starts_with('[') {
        authority
            .split_once(']')
            .map_or(authority.to_owned(), |(h, _)| format!("{h}]"))
    } else {
        authority.split(':').next().unwrap_or(authority).to_owned()
    };
    format!("http://{}{tail}", host.to_ascii_lowercase())
}

/// Longest allowed callback URL (ADM-04).
pub const MAX_CALLBACK_PATTERN_LEN: usize = 256;

/// ADM-04: an environment's allowed callback URL. Both profiles: https, loopback (matched
/// with any port, RFC 8252 §7.3) and private-use schemes. Development also allows one `*`
/// as the leftmost host label (not directly on a top-level domain); production allows no
/// wildcards. Never a query or fragment; at most 256 characters. Returns the entry as stored.
pub fn check_callback_pattern(raw: &str, policy: RedirectPolicy) -> Result<String, String> {
    let raw = raw.trim();
    if raw.len() > MAX_CALLBACK_PATTERN_LEN {
        return Err(format!(
            "{raw:?} is longer than {MAX_CALLBACK_PATTERN_LEN} characters"
        ));
    }
    if raw.contains('?') || raw.contains('#') {
        return Err(format!("{raw:?}: callback URLs have no query or fragment"));
    }
    let wildcard = raw.contains('*');
    if wildcard {
        if policy == RedirectPolicy::Production {
            return Err(format!(
                "{raw:?}: wildcards are allowed in development environments only"
            ));
        }
        let host = raw
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', ':']).next().unwrap_or_default())
            .unwrap_or_default();
        let rest = host.strip_prefix("*.").unwrap_or_default();
        if raw.matches('*').count() != 1
            || rest.is_empty()
            || !rest.contains('.')
            || rest.contains('*')
        {
            return Err(format!(
                "{raw:?}: a wildcard must be the whole leftmost label of a host under a registrable domain, like https://*.example.com/callback"
            ));
        }
        let concrete = raw.replacen('*', "wildcard", 1);
        classify(&concrete)?;
        return Ok(raw.to_owned());
    }
    // Loopback callbacks stay allowed in production: native clients (Claude Code, VS Code,
    // mcp-remote) can only receive codes on loopback (RFC 8252 §7.3), and the list would
    // otherwise lock every one of them out.
    classify(raw)?;
    Ok(raw.to_owned())
}

/// Whether a redirect URI matches one of an environment's allowed callback URLs: exactly,
/// by the loopback any-port rule, or by a `*` standing for exactly one leftmost host label.
pub fn callback_allowed(redirect_uri: &str, patterns: &[String]) -> bool {
    if verify(redirect_uri, patterns).is_some() {
        return true;
    }
    patterns.iter().filter(|p| p.contains("*.")).any(|p| {
        let (Some((p_scheme, p_rest)), Some((r_scheme, r_rest))) =
            (p.split_once("://*."), redirect_uri.split_once("://"))
        else {
            return false;
        };
        let Some((label, after)) = r_rest.split_once('.') else {
            return false;
        };
        p_scheme == r_scheme
            && !label.is_empty()
            && !label.contains(['/', ':', '@', '*'])
            && after == p_rest
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_patterns_follow_adm04() {
        use RedirectPolicy::*;
        let cases: &[(&str, RedirectPolicy, bool)] = &[
            ("https://app.example.com/cb", Production, true),
            (
                "cursor://anysphere.cursor-mcp/oauth/callback",
                Production,
                true,
            ),
            ("http://localhost:6274/oauth/callback", Production, true),
            ("http://localhost:6274/oauth/callback", Development, true),
            ("https://*.example.com/cb", Development, true),
            ("https://*.example.com/cb", Production, false),
            ("https://*.com/cb", Development, false),
            ("https://a.*.example.com/cb", Development, false),
            ("https://*example.com/cb", Development, false),
            ("https://app.example.com/cb?x=1", Development, false),
            ("https://app.example.com/cb#f", Development, false),
            ("http://example.com/cb", Development, false),
        ];
        for (raw, policy, ok) in cases {
            assert_eq!(
                check_callback_pattern(raw, *policy).is_ok(),
                *ok,
                "{raw} {policy:?}"
            );
        }
        assert!(
            check_callback_pattern(
                &format!("https://a.example/{}", "x".repeat(260)),
                Development
            )
            .is_err()
        );
    }

    #[test]
    fn callback_matching() {
        let patterns = reg(&[
            "https://*.example.com/cb",
            "http://127.0.0.1/callback",
            "https://claude.ai/api/mcp/auth_callback",
        ]);
        let cases: &[(&str, bool)] = &[
            ("https://app.example.com/cb", true),
            ("https://a.b.example.com/cb", false),
            ("https://example.com/cb", false),
            ("https://app.example.com/cb2", false),
            ("http://app.example.com/cb", false),
            ("http://127.0.0.1:5555/callback", true),
            ("https://claude.ai/api/mcp/auth_callback", true),
            ("https://evil.example/cb", false),
        ];
        for (uri, ok) in cases {
            assert_eq!(callback_allowed(uri, &patterns), *ok, "{uri}");
        }
    }

    fn reg(uris: &[&str]) -> Vec<String> {
        uris.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn matching_table() {
        let cases: &[(&str, &[&str], bool)] = &[
            (
                "https://app.example.com/cb",
                &["https://app.example.com/cb"],
                true,
            ),
            (
                "https://app.example.com/cb/",
                &["https://app.example.com/cb"],
                false,
            ),
            (
                "https://app.example.com/CB",
                &["https://app.example.com/cb"],
                false,
            ),
            (
                "https://App.example.com/cb",
                &["https://app.example.com/cb"],
                false,
            ),
            (
                "https://app.example.com/cb?x=1",
                &["https://app.example.com/cb"],
                false,
            ),
            (
                "https://app.example.com.evil.test/cb",
                &["https://app.example.com/cb"],
                false,
            ),
            (
                "https://app.example.com@evil.test/cb",
                &["https://app.example.com/cb"],
                false,
            ),
            (
                "https://app.example.com/cb/../../evil",
                &["https://app.example.com/cb"],
                false,
            ),
            (
                "https://app.example.com/cb#frag",
                &["https://app.example.com/cb"],
                false,
            ),
            (
                "https://app.example.com:8443/cb",
                &["https://app.example.com/cb"],
                false,
            ),
            // RFC 8252 §7.3: loopback, any port
            (
                "http://127.0.0.1:51234/callback",
                &["http://127.0.0.1:8080/callback"],
                true,
            ),
            (
                "http://127.0.0.1:51234/callback",
                &["http://127.0.0.1/callback"],
                true,
            ),
            (
                "http://[::1]:51234/callback",
                &["http://[::1]/callback"],
                true,
            ),
            (
                "http://localhost:6274/oauth/callback",
                &["http://localhost/oauth/callback"],
                true,
            ),
            (
                "http://localhost:6274/oauth/callback",
                &["http://localhost:6274/oauth/callback"],
                true,
            ),
            // …but never across hosts, paths or queries
            (
                "http://localhost:6274/cb",
                &["http://127.0.0.1:6274/cb"],
                false,
            ),
            (
                "http://127.0.0.1:6274/cb",
                &["http://localhost:6274/cb"],
                false,
            ),
            (
                "http://127.0.0.1:5000/other",
                &["http://127.0.0.1:5000/cb"],
                false,
            ),
            (
                "http://127.0.0.1:5000/cb?a=1",
                &["http://127.0.0.1:5000/cb"],
                false,
            ),
            ("http://127.0.0.1:5000", &["http://127.0.0.1:5000/"], false),
            // the port rule is for http loopback only
            (
                "https://localhost:9999/cb",
                &["https://localhost/cb"],
                false,
            ),
            (
                "http://example.com:81/cb",
                &["http://example.com/cb"],
                false,
            ),
            // private-use schemes: exact
            (
                "cursor://anysphere.cursor-mcp/oauth/callback",
                &["cursor://anysphere.cursor-mcp/oauth/callback"],
                true,
            ),
            (
                "cursor://anysphere.cursor-mcp/oauth/callback2",
                &["cursor://anysphere.cursor-mcp/oauth/callback"],
                false,
            ),
            ("javascript:alert(1)", &["javascript:alert(1)"], false),
        ];
        for (requested, registered, expected) in cases {
            assert_eq!(
                verify(requested, &reg(registered)).is_some(),
                *expected,
                "{requested} vs {registered:?}"
            );
        }
    }

    #[test]
    fn registration_table() {
        use ApplicationType::*;
        use RedirectPolicy::*;
        let cases: &[(&str, RedirectPolicy, ApplicationType, bool)] = &[
            (
                "https://claude.ai/api/mcp/auth_callback",
                Production,
                Web,
                true,
            ),
            ("http://localhost:33418/cb", Development, Web, true),
            ("http://localhost:33418/cb", Production, Web, false),
            ("http://127.0.0.1:33418/cb", Production, Native, true),
            ("http://example.com/cb", Development, Web, false),
            ("http://example.com/cb", Production, Native, false),
            (
                "cursor://anysphere.cursor-mcp/oauth/callback",
                Production,
                Native,
                true,
            ),
            (
                "cursor://anysphere.cursor-mcp/oauth/callback",
                Production,
                Web,
                false,
            ),
            (
                "cursor://anysphere.cursor-mcp/oauth/callback",
                Development,
                Web,
                true,
            ),
            ("https://app.example.com/cb#x", Development, Web, false),
            ("https://*.example.com/cb", Development, Web, false),
            ("https://u:p@app.example.com/cb", Development, Web, false),
            ("javascript:alert(1)", Development, Native, false),
            ("data:text/html,hi", Development, Native, false),
            ("file:///etc/passwd", Development, Native, false),
            ("/relative/cb", Development, Native, false),
        ];
        for (uri, policy, app, ok) in cases {
            assert_eq!(
                check_registrable(uri, *policy, *app).is_ok(),
                *ok,
                "{uri} {policy:?} {app:?}"
            );
        }
    }

    #[test]
    fn response_params_keep_existing_query() {
        let v = verify(
            "https://a.example/cb?x=1",
            &reg(&["https://a.example/cb?x=1"]),
        )
        .unwrap();
        assert_eq!(
            v.with_params(&[("code", "c d"), ("state", "s")]),
            "https://a.example/cb?x=1&code=c+d&state=s"
        );
        let v = verify("http://127.0.0.1:9/cb", &reg(&["http://127.0.0.1/cb"])).unwrap();
        assert_eq!(
            v.with_params(&[("error", "access_denied")]),
            "http://127.0.0.1:9/cb?error=access_denied"
        );
    }

    #[test]
    fn native_inference() {
        assert!(looks_native(&reg(&[
            "http://127.0.0.1:3/cb",
            "cursor://x/cb"
        ])));
        assert!(!looks_native(&reg(&[
            "http://127.0.0.1:3/cb",
            "https://x/cb"
        ])));
        assert!(!looks_native(&[]));
    }
}
