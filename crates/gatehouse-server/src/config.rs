//! Server configuration: documented data. Every field has a default; `gatehouse serve`
//! merges, in increasing priority, defaults, the TOML file (`--config`), `GATEHOUSE_*`
//! environment variables and command-line flags.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ratelimit::Rate;

/// The whole configuration file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Socket address to listen on. Default `127.0.0.1:8080`. Env `GATEHOUSE_LISTEN`.
    pub listen: String,
    /// Public base URL of the server, as clients reach it (the `dev` issuer and the base of
    /// path-based issuers). Default `http://<listen>`. Env `GATEHOUSE_PUBLIC_URL`.
    pub public_url: Option<String>,
    /// Directory of the embedded SQLite database (unless `database_url` is set) and the
    /// master key. Default `./gatehouse-data`. Env `GATEHOUSE_DATA_DIR`.
    pub data_dir: PathBuf,
    /// PostgreSQL connection URL (`postgres://user:password@host/dbname`). When set, it
    /// replaces the embedded SQLite database and several nodes can share it (see
    /// `docs/postgres.md`). Default none. Env `GATEHOUSE_DATABASE_URL`.
    pub database_url: Option<String>,
    /// Most PostgreSQL connections this node opens. Default 8. Env
    /// `GATEHOUSE_DATABASE_POOL_SIZE`.
    pub database_pool_size: usize,
    /// Log filter (tracing `EnvFilter` syntax). Default `info`. Env `GATEHOUSE_LOG`.
    pub log: String,
    /// Rate limits.
    pub rate_limits: RateLimits,
    /// Gateway routes run in this process (`[[gateway]]`, see `docs/gateway.md`): each puts
    /// the guard in front of one MCP server on a listener of its own and writes its events
    /// to this server's log. Default: none.
    pub gateway: Vec<GatewayRoute>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".to_owned(),
            public_url: None,
            data_dir: PathBuf::from("gatehouse-data"),
            database_url: None,
            database_pool_size: 8,
            log: "info".to_owned(),
            rate_limits: RateLimits::default(),
            gateway: Vec::new(),
        }
    }
}

/// Request rate limits; `per_minute = 0` disables one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Token endpoint, per client id. Default 600/min, burst 100.
    pub token_per_client: Rate,
    /// Token endpoint, per IP address. Default 1200/min, burst 200.
    pub token_per_ip: Rate,
    /// Registrations that create a new client, per IP address. Default 30/min, burst 20.
    pub register_per_ip: Rate,
    /// Registrations of one client (identical metadata), per registration fingerprint: clients
    /// such as Claude register on every connection from shared addresses. Default 600/min, burst 100.
    pub register_per_fingerprint: Rate,
    /// Client ID Metadata Document fetches per host. Default 60/min, burst 20.
    pub cimd_fetch_per_host: Rate,
    /// Login attempts per IP address. Default 30/min, burst 20.
    pub login_per_ip: Rate,
    /// Login attempts per account (email). Default 10/min, burst 5.
    pub login_per_account: Rate,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            token_per_client: Rate::new(600, 100),
            token_per_ip: Rate::new(1200, 200),
            register_per_ip: Rate::new(30, 20),
            register_per_fingerprint: Rate::new(600, 100),
            cimd_fetch_per_host: Rate::new(60, 20),
            login_per_ip: Rate::new(30, 20),
            login_per_account: Rate::new(10, 5),
        }
    }
}

impl Config {
    /// Parses a TOML file's text; unknown fields are errors.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The public URL, defaulting to `http://<listen>`.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }

    /// Every problem at once, as `field: message` lines.
    pub fn validate(&self) -> Result<url::Url, Vec<String>> {
        let mut problems = Vec::new();
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            problems.push(format!(
                "listen: {:?} is not a socket address like 127.0.0.1:8080",
                self.listen
            ));
        }
        let public = self.public_url();
        let parsed = url::Url::parse(&public);
        match &parsed {
            Ok(u) if !matches!(u.scheme(), "http" | "https") => {
                problems.push(format!("public_url: {public:?} must be http or https"))
            }
            Ok(u) if u.query().is_some() || u.fragment().is_some() => problems.push(format!(
                "public_url: {public:?} must not have a query or fragment (RFC 8414 §2)"
            )),
            Ok(_) => {}
            Err(_) => problems.push(format!("public_url: {public:?} is not an absolute URL")),
        }
        // Never echo the URL: it may carry a password.
        if let Some(url) = &self.database_url
            && !(url.starts_with("postgres://")
                || url.starts_with("postgresql://")
                || url.contains('='))
        {
            problems.push(
                "database_url: must be a PostgreSQL URL (postgres://…) or a libpq key=value string"
                    .into(),
            );
        }
        if !(1..=1000).contains(&self.database_pool_size) {
            problems.push(format!(
                "database_pool_size: {} must be between 1 and 1000",
                self.database_pool_size
            ));
        }
        let mut listens = vec![self.listen.as_str()];
        for (i, route) in self.gateway.iter().enumerate() {
            let prefix = format!("gateway[{i}]");
            problems.extend(route.problems(&prefix));
            if route.report_client_id.is_some() || route.report_client_secret_file.is_some() {
                problems.push(format!(
                    "{prefix}.report_client_id: in-process gateway routes write to the log directly; report_client_id and report_client_secret_file are for `gatehouse proxy`"
                ));
            }
            if listens.contains(&route.listen.as_str()) {
                problems.push(format!(
                    "{prefix}.listen: {:?} is already used by the server or another route",
                    route.listen
                ));
            }
            listens.push(&route.listen);
        }
        match parsed {
            Ok(u) if problems.is_empty() => Ok(u),
            _ => Err(problems),
        }
    }
}

/// One gateway route: the guard in front of one MCP server (`[[gateway]]` in the server's
/// file; the same keys, at the top level, make the file of `gatehouse proxy --config`).
/// Exactly one of `upstream` and `upstream_stdio` is required, and `resource`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayRoute {
    /// The environment whose issuer the route trusts and whose log gets its events
    /// (`gatehouse serve` only). Default `dev`.
    pub env: String,
    /// The issuer whose tokens are accepted. Default: the environment's issuer
    /// (`gatehouse serve`); required by `gatehouse proxy` (`--issuer`).
    pub issuer: Option<String>,
    /// The MCP server's resource identifier: the URL clients connect to, registered with
    /// `gatehouse resource add`, the tokens' `aud`. Required.
    pub resource: String,
    /// Socket address to listen on. Default `127.0.0.1:8443`.
    pub listen: String,
    /// A Streamable HTTP MCP server, e.g. `http://127.0.0.1:3000/mcp`.
    pub upstream: Option<String>,
    /// A stdio MCP server: a command line, split into words like a shell would but run
    /// without one (`"npx -y @modelcontextprotocol/server-everything"`), or its words
    /// (`["npx", "-y", "…"]`). One process per MCP session.
    pub upstream_stdio: Option<StdioCommandLine>,
    /// Scopes (space-separated) a `tools/call` of each tool needs, e.g.
    /// `{ add_todo = "todo:write" }`; `tools/list` shows a token only the tools it may call.
    /// Default: none.
    pub tool_scopes: BTreeMap<String, String>,
    /// Scopes (space-separated) each scope implies, e.g. `{ "todo:write" = "todo:read" }`.
    /// Default: none.
    pub scope_implies: BTreeMap<String, String>,
    /// The Protected Resource Metadata `scopes_supported`. Default: the MCP server's
    /// registered scopes (`gatehouse serve`), the scopes named in `tool_scopes`
    /// (`gatehouse proxy`).
    pub scopes_supported: Option<Vec<String>>,
    /// Browser origins allowed to call the MCP server (CORS); others get 403. The
    /// resource's own origin is always allowed. Default: none.
    pub allowed_origins: Vec<String>,
    /// Also allow every `http(s)://localhost:*`, `127.0.0.1:*`, `[::1]:*` origin (MCP
    /// Inspector). Default false.
    pub allow_loopback_origins: bool,
    /// PEM certificate chain: serve TLS (any port, 443 included). Needs `tls_key`.
    /// Default: plain HTTP.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// Believe `X-Forwarded-For`/`Forwarded` for the client address and
    /// `X-Forwarded-Proto` for the scheme: only behind a proxy that sets them. Default false.
    pub behind_proxy: bool,
    /// Longest wait for a connection to an HTTP upstream, milliseconds. Default 5000.
    pub connect_timeout_ms: u64,
    /// Longest wait for the upstream's answer to start, milliseconds (an open event stream
    /// never times out). Default 60000.
    pub first_byte_timeout_ms: u64,
    /// Stdio sessions without requests for this long are ended, seconds. Default 1800.
    pub session_idle_timeout_secs: u64,
    /// Most stdio sessions (processes) per user and client. Default 8.
    pub max_sessions_per_user: usize,
    /// Most stdio sessions (processes) in all. Default 256.
    pub max_sessions: usize,
    /// How long a connection keeps polling for its next event before its thread may
    /// sleep, microseconds; 0 never polls. Default 200: less added latency for up to that
    /// much CPU after each event. At most 10000.
    pub busy_poll_us: u64,
    /// `gatehouse proxy` only: the confidential client (registered with the
    /// `gatehouse:events` scope) that reports events to `<issuer>/events`. Default: no reports.
    pub report_client_id: Option<String>,
    /// `gatehouse proxy` only: a file holding that client's secret (or set
    /// `GATEHOUSE_PROXY_CLIENT_SECRET`).
    pub report_client_secret_file: Option<PathBuf>,
}

/// A stdio command: one line split like a shell would, or its words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StdioCommandLine {
    /// `"npx -y @modelcontextprotocol/server-everything"`.
    Line(String),
    /// `["npx", "-y", "@modelcontextprotocol/server-everything"]`.
    Words(Vec<String>),
}

/// Longest `busy_poll_us` (10 ms, a few scheduler ticks): longer windows only burn CPU.
const MAX_BUSY_POLL_US: u64 = 10_000;

impl Default for GatewayRoute {
    fn default() -> Self {
        Self {
            env: "dev".to_owned(),
            issuer: None,
            resource: String::new(),
            listen: "127.0.0.1:8443".to_owned(),
            upstream: None,
            upstream_stdio: None,
            tool_scopes: BTreeMap::new(),
            scope_implies: BTreeMap::new(),
            scopes_supported: None,
            allowed_origins: Vec::new(),
            allow_loopback_origins: false,
            tls_cert: None,
            tls_key: None,
            behind_proxy: false,
            connect_timeout_ms: 5_000,
            first_byte_timeout_ms: 60_000,
            session_idle_timeout_secs: 1_800,
            max_sessions_per_user: 8,
            max_sessions: 256,
            busy_poll_us: 200,
            report_client_id: None,
            report_client_secret_file: None,
        }
    }
}

impl GatewayRoute {
    /// Parses a `gatehouse proxy --config` file (one route at the top level).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Every problem of this route, as `<prefix>.field: message` lines (the guard and the
    /// gateway check scopes, origins and the command's quoting again when they start).
    pub fn problems(&self, prefix: &str) -> Vec<String> {
        let mut p = Vec::new();
        match url::Url::parse(&self.resource) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.fragment().is_none() => {}
            _ => p.push(format!(
                "{prefix}.resource: {:?} must be the absolute http(s) URL clients use for the MCP server",
                self.resource
            )),
        }
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            p.push(format!(
                "{prefix}.listen: {:?} is not a socket address like 0.0.0.0:443",
                self.listen
            ));
        }
        let stdio_empty = match &self.upstream_stdio {
            Some(StdioCommandLine::Line(l)) => l.trim().is_empty(),
            Some(StdioCommandLine::Words(w)) => w.first().is_none_or(|w| w.is_empty()),
            None => false,
        };
        match (&self.upstream, &self.upstream_stdio) {
            (Some(_), Some(_)) | (None, None) => p.push(format!(
                "{prefix}: exactly one of upstream (an http:// URL) and upstream_stdio (a command) is required"
            )),
            (Some(u), None) if !url::Url::parse(u).is_ok_and(|u| u.scheme() == "http") => p.push(
                format!("{prefix}.upstream: {u:?} must be an http:// URL"),
            ),
            (None, Some(_)) if stdio_empty => {
                p.push(format!("{prefix}.upstream_stdio: the command is empty"))
            }
            _ => {}
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            p.push(format!(
                "{prefix}.tls_cert: tls_cert and tls_key go together"
            ));
        }
        for (name, v) in [
            ("connect_timeout_ms", self.connect_timeout_ms),
            ("first_byte_timeout_ms", self.first_byte_timeout_ms),
            ("session_idle_timeout_secs", self.session_idle_timeout_secs),
            ("max_sessions_per_user", self.max_sessions_per_user as u64),
            ("max_sessions", self.max_sessions as u64),
        ] {
            if v == 0 {
                p.push(format!("{prefix}.{name}: must be positive"));
            }
        }
        if self.busy_poll_us > MAX_BUSY_POLL_US {
            p.push(format!(
                "{prefix}.busy_poll_us: {} is more than {MAX_BUSY_POLL_US} (10 ms); 0 turns polling off",
                self.busy_poll_us
            ));
        }
        p
    }
}

#[cfg(test)]
mod gateway_tests {
    use super::*;

    #[test]
    fn gateway_routes_parse_and_every_problem_is_reported() {
        let ok = Config::from_toml(
            r#"
            [[gateway]]
            resource = "https://mcp.example.com/mcp"
            listen = "0.0.0.0:443"
            upstream = "http://127.0.0.1:3000/mcp"
            tool_scopes = { add_todo = "todo:write" }
            tls_cert = "c.pem"
            tls_key = "k.pem"

            [[gateway]]
            resource = "http://127.0.0.1:9000/mcp"
            listen = "127.0.0.1:9000"
            upstream_stdio = ["gatehouse", "demo-server", "--stdio"]
            "#,
        )
        .unwrap();
        assert_eq!(ok.gateway.len(), 2);
        assert_eq!(ok.gateway[0].env, "dev");
        assert_eq!(ok.gateway[0].first_byte_timeout_ms, 60_000);
        assert!(ok.validate().is_ok(), "{:?}", ok.validate());

        let bad = Config::from_toml(
            r#"
            [[gateway]]
            resource = "mcp.example.com"
            listen = "127.0.0.1:8080"
            upstream = "https://10.0.0.1/mcp"
            upstream_stdio = "npx server"
            tls_cert = "c.pem"
            max_sessions = 0
            busy_poll_us = 10001
            report_client_id = "x"
            "#,
        )
        .unwrap();
        let problems = bad.validate().unwrap_err();
        assert_eq!(problems.len(), 7, "{problems:#?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("busy_poll_us: 10001 is more than 10000")),
            "{problems:#?}"
        );
        assert_eq!(ok.gateway[0].busy_poll_us, 200, "polling is on by default");
        assert!(Config::from_toml("[[gateway]]\nupstrem = \"x\"").is_err());
    }
}
