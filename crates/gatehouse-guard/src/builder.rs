//! The options of [`GuardConfigBuilder`] and the validation of [`GuardConfigBuilder::build`].

use std::sync::Arc;
use std::time::Duration;

use gatehouse_oauth::jose::Algorithm;
use gatehouse_oauth::resource::ResourceUri;
use gatehouse_oauth::scope::{OFFLINE_ACCESS, ScopeSet, is_valid_scope_token};

use crate::clock::Clock;
use crate::config::{ConfigError, GuardConfig, GuardConfigBuilder, Introspection};
use crate::scopes::ScopeHierarchy;

/// Longest clock skew accepted.
const MAX_SKEW: Duration = Duration::from_secs(300);

impl GuardConfigBuilder {
    /// Also accept tokens of this issuer (exact string). It is listed in the PRM
    /// `authorization_servers` after the first. Default: only the issuer given to `builder`.
    pub fn additional_issuer(mut self, issuer: impl Into<String>) -> Self {
        self.cfg.issuers.push(issuer.into());
        self
    }

    /// The JWKS of the (first) issuer. Default: the `jwks_uri` of its RFC 8414 metadata,
    /// falling back to `<issuer>/jwks.json`. Other issuers always use discovery.
    pub fn jwks_uri(mut self, uri: impl Into<String>) -> Self {
        self.cfg.jwks_uri = Some(uri.into());
        self
    }

    /// Where the (first) issuer's key set comes from, instead of fetching its `jwks_uri`
    /// over HTTP: for an authorization server in the same process (Gatehouse's own
    /// `[[gateway]]` routes), which then need not reach its own public URL. Cached and
    /// refetched on the same schedule as a fetched key set. Default: HTTP. Exclusive with
    /// [`GuardConfigBuilder::jwks_uri`].
    pub fn jwks_source(mut self, source: Arc<dyn crate::verify::JwksSource>) -> Self {
        self.cfg.jwks_source = Some(source);
        self
    }

    /// The PRM `scopes_supported`: the minimal scopes for basic use, which clients request
    /// when a challenge names none (RS-05). Must not contain `offline_access`. Default: none
    /// (omitted from the PRM; set it, or some clients ask for `openid email profile`).
    pub fn scopes_supported<I: IntoIterator<Item = S>, S: Into<String>>(mut self, s: I) -> Self {
        self.cfg.scopes_supported = s.into_iter().map(Into::into).collect();
        self
    }

    /// Scopes every request needs. Default: none.
    pub fn required_scopes<I: IntoIterator<Item = S>, S: Into<String>>(self, s: I) -> Self {
        self.scopes("", s)
    }

    /// Scopes a `tools/call` of `tool` needs, on top of the required scopes. Default: none
    /// for every tool. Configuring any makes the guard read JSON-RPC POST bodies (bounded
    /// by [`GuardConfigBuilder::max_body_bytes`]).
    pub fn tool_scopes<I: IntoIterator<Item = S>, S: Into<String>>(self, tool: &str, s: I) -> Self {
        self.scopes(&format!("tool:{tool}"), s)
    }

    /// Scopes a `tools/call` of a tool without [`GuardConfigBuilder::tool_scopes`] needs.
    /// Default: none.
    pub fn unlisted_tool_scopes<I: IntoIterator<Item = S>, S: Into<String>>(self, s: I) -> Self {
        self.scopes("unlisted", s)
    }

    /// Holding `scope` also grants `implied` (e.g. `todo:write` implies `todo:read`);
    /// transitive. Default: no implications.
    pub fn scope_implies<I: IntoIterator<Item = S>, S: Into<String>>(
        self,
        scope: &str,
        implied: I,
    ) -> Self {
        self.scopes(&format!("implies:{scope}"), implied)
    }

    fn scopes<I: IntoIterator<Item = S>, S: Into<String>>(mut self, key: &str, s: I) -> Self {
        self.raw_scopes
            .push((key.to_owned(), s.into_iter().map(Into::into).collect()));
        self
    }

    /// Accepted signature algorithms. Default: ES256 and RS256 (Gatehouse signs access
    /// tokens with ES256). Each key is pinned to its own `alg`.
    pub fn algorithms<I: IntoIterator<Item = Algorithm>>(mut self, algs: I) -> Self {
        self.cfg.algorithms = algs.into_iter().collect();
        self
    }

    /// Tolerance for `exp`, `nbf` and `iat`. Default: 60 s; at most 300 s.
    pub fn clock_skew(mut self, skew: Duration) -> Self {
        self.cfg.clock_skew = skew;
        self
    }

    /// Browser origins allowed to call the MCP endpoint (`scheme://host[:port]`); CORS
    /// headers are sent to them and requests with any other `Origin` get 403 (MCP
    /// transports: servers MUST validate `Origin`). The resource's own origin is always
    /// allowed; requests without `Origin` (non-browser clients) are unaffected. Default: none.
    pub fn allowed_origins<I: IntoIterator<Item = S>, S: Into<String>>(mut self, o: I) -> Self {
        self.cfg
            .allowed_origins
            .extend(o.into_iter().map(Into::into));
        self
    }

    /// Also allow any `http(s)://localhost:*`, `127.0.0.1:*` and `[::1]:*` origin (MCP
    /// Inspector at `http://localhost:6274`, local web IDEs). Default: false.
    pub fn allow_loopback_origins(mut self, allow: bool) -> Self {
        self.cfg.allow_loopback_origins = allow;
        self
    }

    /// Verify by RFC 7662 introspection instead of local JWT checks. Default: local JWTs.
    pub fn introspection(mut self, introspection: Introspection) -> Self {
        self.cfg.introspection = Some(introspection);
        self
    }

    /// Also serve the issuer's RFC 8414 metadata at `/.well-known/oauth-authorization-server`
    /// of the MCP origin, for 2025-03-26 clients that look for it there. Default: false.
    pub fn serve_authorization_server_metadata(mut self, serve: bool) -> Self {
        self.cfg.serve_as_metadata = serve;
        self
    }

    /// How long fetched authorization server metadata is reused. Default: 300 s.
    pub fn metadata_cache_ttl(mut self, ttl: Duration) -> Self {
        self.cfg.metadata_ttl = ttl;
        self
    }

    /// PRM `resource_name` (RFC 9728 §2). Default: absent.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.cfg.resource_name = Some(name.into());
        self
    }

    /// PRM `resource_documentation` (RFC 9728 §2). Default: absent.
    pub fn resource_documentation(mut self, url: impl Into<String>) -> Self {
        self.cfg.resource_documentation = Some(url.into());
        self
    }

    /// Largest JSON-RPC body read to find tool names; larger bodies get 413. Default: 1 MiB.
    pub fn max_body_bytes(mut self, n: usize) -> Self {
        self.cfg.max_body_bytes = n;
        self
    }

    /// Most verified tokens kept (by SHA-256) until they expire. Default: 10 000; 0 disables.
    pub fn token_cache_capacity(mut self, n: usize) -> Self {
        self.cfg.token_cache_capacity = n;
        self
    }

    /// How long a fetched JWKS is used before it is refetched. Default: 300 s (Gatehouse's
    /// `Cache-Control`; its key rotation publishes keys twice that long before use).
    pub fn jwks_max_age(mut self, age: Duration) -> Self {
        self.cfg.jwks_max_age = age;
        self
    }

    /// Least time between JWKS fetches caused by unknown `kid`s. Default: 30 s.
    pub fn jwks_min_refetch_interval(mut self, interval: Duration) -> Self {
        self.cfg.jwks_min_refetch_interval = interval;
        self
    }

    /// Remove the `Authorization` header before calling the inner service (it gets the
    /// [`crate::VerifiedToken`] instead). Default: false — the inner service is the MCP
    /// server itself, which must never pass the token on (RS-22).
    pub fn strip_authorization_header(mut self, strip: bool) -> Self {
        self.cfg.strip_authorization = strip;
        self
    }

    /// Allow `http` issuer, JWKS and introspection URLs on non-loopback hosts. Default:
    /// false (only `https`, or `http` on `localhost`, `127.0.0.1` or `[::1]`).
    pub fn allow_insecure_http(mut self, allow: bool) -> Self {
        self.allow_insecure_http = allow;
        self
    }

    /// The time source. Default: the system clock.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.cfg.clock = Arc::new(clock);
        self
    }

    /// The HTTP client for JWKS, metadata and introspection (custom roots, proxies).
    /// Default: 5 s connect and 10 s total timeouts, no redirects, rustls with platform roots.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Validates everything and reports every problem at once.
    pub fn build(self) -> Result<GuardConfig, ConfigError> {
        let mut p = Vec::new();
        let mut cfg = self.cfg;
        check_endpoints(&cfg, self.allow_insecure_http, &mut p);
        check_scopes("scopes_supported", &cfg.scopes_supported, &mut p);
        if cfg.scopes_supported.iter().any(|s| s == OFFLINE_ACCESS) {
            p.push("scopes_supported must not list offline_access: it is a scope of the authorization server, not of this resource, and clients add it themselves when the AS offers it".into());
        }
        cfg.policy = policy(&self.raw_scopes, &mut p);
        check_limits(&cfg, &mut p);
        cfg.allowed_origins = cfg
            .allowed_origins
            .iter()
            .filter_map(|o| normalise_origin(o, &mut p))
            .collect();
        cfg.http = match self.http {
            Some(c) => c,
            None => crate::verify::default_client().unwrap_or_else(|e| {
                p.push(e);
                reqwest::Client::new()
            }),
        };
        if p.is_empty() {
            Ok(cfg)
        } else {
            Err(ConfigError { problems: p })
        }
    }
}

/// The resource, issuers, JWKS and introspection endpoint, and introspection credentials.
fn check_endpoints(cfg: &GuardConfig, insecure: bool, p: &mut Vec<String>) {
    check_resource(&cfg.resource, p);
    for iss in &cfg.issuers {
        check_url("issuer", iss, insecure, true, p);
    }
    if let Some(u) = &cfg.jwks_uri {
        check_url("jwks_uri", u, insecure, false, p);
        if cfg.jwks_source.is_some() {
            p.push("jwks_uri and jwks_source name two places for the same keys: set one".into());
        }
    }
    if let Some(i) = &cfg.introspection {
        if let Some(u) = &i.endpoint {
            check_url("introspection endpoint", u, insecure, false, p);
        }
        if i.client_id.is_empty() || i.client_secret.expose().is_empty() {
            p.push("introspection needs a client id and a client secret".into());
        }
    }
}

fn check_limits(cfg: &GuardConfig, p: &mut Vec<String>) {
    if cfg.algorithms.is_empty() {
        p.push("at least one signature algorithm must be allowed".into());
    }
    if cfg.clock_skew > MAX_SKEW {
        p.push(format!(
            "clock_skew must be at most {} s",
            MAX_SKEW.as_secs()
        ));
    }
    if cfg.max_body_bytes == 0 {
        p.push("max_body_bytes must be positive".into());
    }
}

fn check_resource(resource: &str, p: &mut Vec<String>) {
    match ResourceUri::parse_registered(resource) {
        Ok(r) if r.as_str() == resource => {}
        Ok(_) => p.push(format!("resource {resource:?} has surrounding whitespace")),
        Err(e) => p.push(format!("resource: {e}")),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"))
}

fn check_url(what: &str, raw: &str, insecure: bool, issuer: bool, p: &mut Vec<String>) {
    let Ok(url) = url::Url::parse(raw) else {
        p.push(format!("{what} {raw:?} is not an absolute URL"));
        return;
    };
    match url.scheme() {
        "https" => {}
        "http" if insecure || is_loopback(&url) => {}
        _ => p.push(format!(
            "{what} {raw:?} must be https (or http on a loopback host; see allow_insecure_http)"
        )),
    }
    if url.fragment().is_some() || (issuer && url.query().is_some()) {
        p.push(format!(
            "{what} {raw:?} must not have a query or fragment (RFC 8414 §2)"
        ));
    }
}

fn check_scopes(what: &str, scopes: &[String], p: &mut Vec<String>) {
    for s in scopes.iter().filter(|s| !is_valid_scope_token(s)) {
        p.push(format!(
            "{what}: {s:?} is not a valid scope token (RFC 6749 §3.3)"
        ));
    }
}

fn policy(raw: &[(String, Vec<String>)], p: &mut Vec<String>) -> crate::mcp::ToolPolicy {
    let mut policy = crate::mcp::ToolPolicy::new();
    let mut hierarchy = ScopeHierarchy::new();
    for (key, scopes) in raw {
        check_scopes(key, scopes, p);
        let set = ScopeSet::from_tokens(scopes.iter().filter(|s| is_valid_scope_token(s)));
        if let Some(tool) = key.strip_prefix("tool:") {
            if tool.is_empty() {
                p.push("tool_scopes: the tool name is empty".into());
            }
            policy = policy.tool(tool, &set);
        } else if let Some(scope) = key.strip_prefix("implies:") {
            check_scopes("scope_implies", &[scope.to_owned()], p);
            hierarchy.imply(scope, set.iter());
        } else if key == "unlisted" {
            policy = policy.unlisted_tools(&set);
        } else {
            policy = policy.require(&set);
        }
    }
    policy.hierarchy(hierarchy)
}

/// `scheme://host[:port]`, lower-cased, as browsers send it in `Origin`.
fn normalise_origin(raw: &str, p: &mut Vec<String>) -> Option<String> {
    let trimmed = raw.trim().trim_end_matches('/');
    match url::Url::parse(trimmed) {
        Ok(u)
            if matches!(u.scheme(), "http" | "https")
                && u.path() == "/"
                && u.query().is_none()
                && u.host().is_some() =>
        {
            Some(u.origin().ascii_serialization())
        }
        _ => {
            p.push(format!(
                "allowed origin {raw:?} must be scheme://host[:port]"
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_reports_every_problem_at_once() {
        let err = GuardConfig::builder("ftp://mcp.example.com/mcp", "http://auth.example.com/")
            .scopes_supported(["todo:read", "offline_access", "bad\"scope"])
            .tool_scopes("add_todo", ["todo write"])
            .allowed_origins(["https://app.example.com/path"])
            .algorithms([])
            .clock_skew(Duration::from_secs(3600))
            .max_body_bytes(0)
            .introspection(Introspection::new("", "s"))
            .build()
            .unwrap_err();
        let all = err.problems.join("\n");
        for needle in [
            "resource",
            "issuer \"http://auth.example.com/\" must be https",
            "offline_access",
            "bad\\\"scope",
            "todo write",
            "allowed origin",
            "algorithm",
            "clock_skew",
            "max_body_bytes",
            "client id",
        ] {
            assert!(all.contains(needle), "{needle:?} not in\n{all}");
        }
        assert_eq!(err.problems.len(), 10, "{all}");
    }

    #[test]
    fn defaults_are_as_documented() {
        let c = GuardConfig::builder("http://127.0.0.1:3000/mcp", "http://127.0.0.1:8080")
            .build()
            .unwrap();
        assert_eq!(c.algorithms, [Algorithm::ES256, Algorithm::RS256]);
        assert_eq!(c.clock_skew, Duration::from_secs(60));
        assert_eq!(c.max_body_bytes, 1 << 20);
        assert_eq!(c.jwks_min_refetch_interval, Duration::from_secs(30));
        assert!(c.policy.required().is_empty() && !c.policy.needs_body());
        assert!(!c.serve_as_metadata && !c.allow_loopback_origins && !c.strip_authorization);
        assert!(c.introspection.is_none());
    }

    #[test]
    fn scopes_and_origins_are_normalised_into_the_policy() {
        let c = GuardConfig::builder("https://mcp.example.com/mcp", "https://auth.example.com")
            .required_scopes(["mcp"])
            .tool_scopes("add_todo", ["todo:write"])
            .scope_implies("todo:write", ["todo:read"])
            .allowed_origins(["HTTPS://App.Example.com/", "http://localhost:6274"])
            .build()
            .unwrap();
        assert_eq!(
            c.allowed_origins,
            ["https://app.example.com", "http://localhost:6274"]
        );
        let granted = ScopeSet::parse("mcp todo:write").unwrap();
        assert!(c.policy.may_call(&granted, "add_todo"));
        assert_eq!(
            c.policy.scopes_for_tool(Some("add_todo")).to_string(),
            "mcp todo:write"
        );
        assert!(
            c.policy
                .scope_hierarchy()
                .satisfies(&granted, &ScopeSet::parse("todo:read").unwrap())
        );
    }
}
