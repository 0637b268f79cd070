//! The guard's configuration: documented data with defaults, built with
//! [`GuardConfig::builder`]; [`GuardConfigBuilder::build`] reports every problem at once.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use gatehouse_oauth::jose::Algorithm;
use gatehouse_oauth::secret::Secret;

use crate::clock::{Clock, SystemClock};
use crate::discovery::Discovery;
use crate::mcp::ToolPolicy;
use crate::verify::{ClaimRules, Fetcher, JwksSource};

/// A validated configuration. See [`GuardConfigBuilder`] for every option and its default.
#[derive(Clone)]
pub struct GuardConfig {
    pub(crate) resource: String,
    pub(crate) issuers: Vec<String>,
    pub(crate) jwks_uri: Option<String>,
    pub(crate) jwks_source: Option<Arc<dyn JwksSource>>,
    pub(crate) scopes_supported: Vec<String>,
    pub(crate) policy: ToolPolicy,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) clock_skew: Duration,
    pub(crate) allowed_origins: Vec<String>,
    pub(crate) allow_loopback_origins: bool,
    pub(crate) introspection: Option<Introspection>,
    pub(crate) serve_as_metadata: bool,
    pub(crate) metadata_ttl: Duration,
    pub(crate) resource_name: Option<String>,
    pub(crate) resource_documentation: Option<String>,
    pub(crate) max_body_bytes: usize,
    pub(crate) token_cache_capacity: usize,
    pub(crate) jwks_max_age: Duration,
    pub(crate) jwks_min_refetch_interval: Duration,
    pub(crate) strip_authorization: bool,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) http: reqwest::Client,
}

impl fmt::Debug for GuardConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardConfig")
            .field("resource", &self.resource)
            .field("issuers", &self.issuers)
            .field("jwks_uri", &self.jwks_uri)
            .field(
                "jwks_source",
                &self.jwks_source.as_ref().map(|_| "in-process"),
            )
            .field("scopes_supported", &self.scopes_supported)
            .field("policy", &self.policy)
            .field("algorithms", &self.algorithms)
            .field("clock_skew", &self.clock_skew)
            .field("allowed_origins", &self.allowed_origins)
            .field("allow_loopback_origins", &self.allow_loopback_origins)
            .field("introspection", &self.introspection)
            .field("serve_as_metadata", &self.serve_as_metadata)
            .finish_non_exhaustive()
    }
}

/// RFC 7662 introspection settings: the guard authenticates to the endpoint with
/// `client_secret_basic` as a confidential client of the authorization server.
#[derive(Clone, Debug)]
pub struct Introspection {
    pub(crate) client_id: String,
    pub(crate) client_secret: Secret,
    pub(crate) endpoint: Option<String>,
    pub(crate) cache_ttl: Duration,
}

impl Introspection {
    /// Introspect with these client credentials (for Gatehouse: a confidential client of the
    /// environment, e.g. `gatehouse clients add --confidential`).
    pub fn new(client_id: impl Into<String>, client_secret: impl AsRef<str>) -> Self {
        Self {
            client_id: client_id.into(),
            client_secret: Secret::presented(client_secret.as_ref()),
            endpoint: None,
            cache_ttl: Duration::ZERO,
        }
    }

    /// The introspection endpoint. Default: `<first issuer>/introspect` (Gatehouse's).
    pub fn endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// How long an `active` answer is reused. Default: 0 (ask every time, so a revoked token
    /// is refused on its next request). Never beyond the token's `exp`.
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }
}

/// Every problem found in a configuration.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid gatehouse-guard configuration: {}", .problems.join("; "))]
pub struct ConfigError {
    /// One sentence per problem.
    pub problems: Vec<String>,
}

/// Builds a [`GuardConfig`]. Every option is documented with its default.
#[derive(Clone)]
#[must_use]
pub struct GuardConfigBuilder {
    pub(crate) cfg: GuardConfig,
    /// Scope lists by purpose (`""` required, `tool:<name>`, `unlisted`, `implies:<scope>`),
    /// checked and turned into the policy by `build`.
    pub(crate) raw_scopes: Vec<(String, Vec<String>)>,
    pub(crate) allow_insecure_http: bool,
    pub(crate) http: Option<reqwest::Client>,
}

impl GuardConfig {
    /// Starts a configuration for the MCP server at `resource`, trusting tokens of `issuer`.
    ///
    /// `resource` is this server's resource identifier exactly as registered at the
    /// authorization server (the PRM `resource`, the tokens' `aud`; RFC 9728 §3.3 compares
    /// it exactly, so keep the spelling, trailing slash included). `issuer` is compared
    /// exactly with the tokens' `iss` (no trailing-slash normalisation).
    pub fn builder(resource: impl Into<String>, issuer: impl Into<String>) -> GuardConfigBuilder {
        GuardConfigBuilder {
            cfg: GuardConfig {
                resource: resource.into(),
                issuers: vec![issuer.into()],
                jwks_uri: None,
                jwks_source: None,
                scopes_supported: Vec::new(),
                policy: ToolPolicy::new(),
                algorithms: vec![Algorithm::ES256, Algorithm::RS256],
                clock_skew: Duration::from_secs(60),
                allowed_origins: Vec::new(),
                allow_loopback_origins: false,
                introspection: None,
                serve_as_metadata: false,
                metadata_ttl: Duration::from_secs(300),
                resource_name: None,
                resource_documentation: None,
                max_body_bytes: 1 << 20,
                token_cache_capacity: 10_000,
                jwks_max_age: Duration::from_secs(300),
                jwks_min_refetch_interval: Duration::from_secs(30),
                strip_authorization: false,
                clock: Arc::new(SystemClock),
                http: reqwest::Client::new(),
            },
            raw_scopes: Vec::new(),
            allow_insecure_http: false,
            http: None,
        }
    }

    /// The resource identifier, exactly as configured.
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// The accepted issuers; the first is the primary one.
    pub fn issuers(&self) -> &[String] {
        &self.issuers
    }

    /// The scope rules.
    pub fn policy(&self) -> &ToolPolicy {
        &self.policy
    }

    /// The largest JSON-RPC request body read to judge tool scopes
    /// ([`GuardConfigBuilder::max_body_bytes`]); see [`crate::read_body`].
    pub fn max_body_bytes(&self) -> usize {
        self.max_body_bytes
    }

    pub(crate) fn claim_rules(&self) -> ClaimRules {
        ClaimRules {
            issuers: self.issuers.clone().into(),
            resource: self.resource.clone(),
            skew: self.clock_skew.as_secs() as i64,
        }
    }

    /// One metadata cache per issuer, in order.
    pub(crate) fn discoveries(&self) -> Vec<Arc<Discovery>> {
        self.issuers
            .iter()
            .map(|i| {
                Arc::new(Discovery::new(
                    i,
                    Fetcher::new(self.http.clone()),
                    self.clock.clone(),
                    self.metadata_ttl.as_secs() as i64,
                ))
            })
            .collect()
    }
}
