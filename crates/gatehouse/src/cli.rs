//! Command-line interface.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Gatehouse: an OAuth 2.1 / OpenID Connect authorization server for MCP servers.
#[derive(Debug, Parser)]
#[command(name = "gatehouse", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
    /// Worker threads of the async runtime [default: one per core; `proxy`: half the cores,
    /// at least one] (docs/gateway.md: measure first). The authorization server wants one
    /// per core.
    #[arg(long, global = true, env = "GATEHOUSE_THREADS", value_name = "N")]
    pub(crate) threads: Option<std::num::NonZeroUsize>,
}

// Parsed once per process: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the authorization server (embedded SQLite in the data directory, or PostgreSQL
    /// with --database-url).
    Serve(ServeArgs),
    /// Protect an MCP server (Streamable HTTP or stdio) with no change to it: a gateway that
    /// checks Gatehouse tokens and per-tool scopes, then proxies.
    Proxy(Box<crate::proxy_cmd::ProxyArgs>),
    /// A small Todo MCP server to try the gateway with (stdio or Streamable HTTP).
    DemoServer(crate::demo_server::DemoArgs),
    #[command(flatten)]
    Admin(AdminCommand),
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Socket address to listen on [default: 127.0.0.1:8080].
    #[arg(long, env = "GATEHOUSE_LISTEN")]
    pub(crate) listen: Option<String>,
    /// Public base URL clients use [default: http://<listen>].
    #[arg(long, env = "GATEHOUSE_PUBLIC_URL")]
    pub(crate) public_url: Option<String>,
    /// Data directory [default: ./gatehouse-data].
    #[arg(long, env = "GATEHOUSE_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// TOML configuration file (see docs/config.md).
    #[arg(long, env = "GATEHOUSE_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// PostgreSQL URL shared by several nodes [default: SQLite in the data directory].
    #[arg(long, env = "GATEHOUSE_DATABASE_URL", hide_env_values = true)]
    pub(crate) database_url: Option<String>,
}

/// Options every admin command takes.
#[derive(Debug, Args, Clone)]
pub(crate) struct Common {
    /// Data directory of the server to administer [default: ./gatehouse-data].
    #[arg(long, env = "GATEHOUSE_DATA_DIR", global = true)]
    pub(crate) data_dir: Option<PathBuf>,
    /// PostgreSQL URL of the server to administer, when it uses one.
    #[arg(
        long,
        env = "GATEHOUSE_DATABASE_URL",
        hide_env_values = true,
        global = true
    )]
    pub(crate) database_url: Option<String>,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Environments: each has its own issuer, keys, clients, users, MCP servers and logs.
    #[command(subcommand)]
    Env(EnvCmd),
    /// MCP servers (protected resources).
    #[command(subcommand)]
    Resource(ResourceCmd),
    /// End users.
    #[command(subcommand)]
    User(UserCmd),
    /// Pre-registered clients.
    #[command(subcommand)]
    Client(ClientCmd),
    /// Signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Initial access tokens for gated dynamic client registration.
    #[command(subcommand)]
    RegistrationToken(RegistrationTokenCmd),
    /// The authentication log.
    Logs(LogsArgs),
    /// Admin API keys (`Authorization: Bearer gha_…` for `/admin/api/v1` and `/metrics`).
    #[command(subcommand)]
    AdminKey(AdminKeyCmd),
    /// Dashboard administrators (separate from every environment's users).
    #[command(subcommand)]
    AdminUser(AdminUserCmd),
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdminKeyCmd {
    /// Create an admin API key; it is printed once and stored as a hash.
    Create {
        /// What the key is for.
        #[arg(long)]
        name: String,
        /// Limit the key to one environment [default: every environment and server-wide operations].
        #[arg(long)]
        env: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// List admin API keys (never the keys themselves).
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Revoke an admin API key by id (`adk_…`).
    Revoke {
        id: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AdminUserCmd {
    /// Create a dashboard administrator; the password is read from standard input.
    Add {
        #[arg(long)]
        email: String,
        /// Read the password from standard input (the only way; the flag makes it explicit).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        common: Common,
    },
    /// List dashboard administrators.
    List {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ProfileArg {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RegistrationArg {
    Open,
    Token,
    Off,
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub(crate) enum EnvCmd {
    /// Create an environment with its own issuer and keys.
    Add {
        /// Name (a-z, 0-9, -).
        name: String,
        /// Issuer URL: host-based (https://auth.example.com) or path-based
        /// (https://auth.example.com/prod) [default: <public URL>/<name>].
        #[arg(long)]
        issuer: Option<String>,
        /// Redirect and security rules [default: production].
        #[arg(long, value_enum)]
        profile: Option<ProfileArg>,
        #[command(flatten)]
        common: Common,
    },
    /// List environments.
    List {
        #[command(flatten)]
        common: Common,
    },
    /// Show one environment with its settings.
    Show {
        name: String,
        #[command(flatten)]
        common: Common,
    },
    /// Change an environment's settings.
    Set {
        name: String,
        /// Dynamic client registration: open, token (initial access token) or off.
        #[arg(long, value_enum)]
        registration: Option<RegistrationArg>,
        /// Allow a browser origin (CORS) for token, registration and revocation.
        #[arg(long = "allowed-origin")]
        allowed_origins: Vec<String>,
        /// Remove an allowed origin.
        #[arg(long = "remove-origin")]
        remove_origins: Vec<String>,
        /// Add an allowed callback URL: dynamic and metadata-document clients may then only
        /// use redirect URIs matching the list (repeatable).
        #[arg(long = "allowed-callback-url")]
        allowed_callback_urls: Vec<String>,
        /// Remove an allowed callback URL.
        #[arg(long = "remove-callback-url")]
        remove_callback_urls: Vec<String>,
        /// Days authentication-log events are kept (1-3650).
        #[arg(long)]
        log_retention_days: Option<i64>,
        /// Refresh token grace window for parallel refreshes, seconds (0-60).
        #[arg(long)]
        refresh_grace: Option<i64>,
        /// Authorization code lifetime, seconds.
        #[arg(long)]
        code_ttl: Option<i64>,
        #[command(flatten)]
        cimd: CimdArgs,
        /// Most never-used dynamic registrations kept (older ones are forgotten; their
        /// client_ids keep working).
        #[arg(long)]
        max_unused_registrations: Option<u64>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum CimdTrustArg {
    AnyHttps,
    AllowList,
    KnownClients,
}

/// Client ID Metadata Document settings of `env set`.
#[derive(Debug, Args)]
pub(crate) struct CimdArgs {
    /// Accept URL client_ids (Client ID Metadata Documents): on or off.
    #[arg(long, value_parser = ["on", "off"])]
    pub(crate) cimd: Option<String>,
    /// Which metadata documents are trusted.
    #[arg(long, value_enum)]
    pub(crate) cimd_trust: Option<CimdTrustArg>,
    /// A domain for the allow-list policy (repeatable; subdomains included).
    #[arg(long = "cimd-allow-domain")]
    pub(crate) cimd_allow_domains: Vec<String>,
    /// A host exempt from the private-address block when fetching (tests and local development only).
    #[arg(long = "cimd-fetch-allow-host")]
    pub(crate) cimd_fetch_allow_hosts: Vec<String>,
    /// A PEM file of extra trusted CA certificates for fetching (tests and private PKI only).
    #[arg(long)]
    pub(crate) cimd_ca_file: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ResourceCmd {
    /// Register an MCP server.
    Add {
        #[arg(long)]
        env: String,
        /// Name shown on the consent page.
        #[arg(long)]
        name: String,
        /// The MCP server's URL, exactly as clients are given it (the token audience).
        #[arg(long)]
        url: String,
        /// Scopes it defines, space-separated.
        #[arg(long, default_value = "")]
        scopes: String,
        /// Description of a scope for the consent page: SCOPE=TEXT (repeatable).
        #[arg(long = "describe", value_parser = parse_pair)]
        descriptions: Vec<(String, String)>,
        /// Access token lifetime in seconds [default: 3600].
        #[arg(long)]
        token_ttl: Option<i64>,
        /// Issue refresh tokens only when offline_access is requested.
        #[arg(long)]
        no_refresh_without_offline_access: bool,
        #[command(flatten)]
        common: Common,
    },
    /// List MCP servers.
    List {
        #[arg(long)]
        env: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum UserCmd {
    /// Create a user; the password is read from standard input.
    Add {
        #[arg(long)]
        env: String,
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
        /// Read the password from standard input (the only way to give it).
        #[arg(long, required = true)]
        password_stdin: bool,
        #[command(flatten)]
        common: Common,
    },
    /// List users.
    List {
        #[arg(long)]
        env: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ClientCmd {
    /// Create a client; a confidential client's secret is printed once.
    Add {
        #[arg(long)]
        env: String,
        #[arg(long)]
        name: String,
        /// Grant type (repeatable): authorization_code, refresh_token, client_credentials.
        #[arg(long = "grant")]
        grants: Vec<String>,
        /// Scopes the client may request, space-separated.
        #[arg(long)]
        scopes: Option<String>,
        /// Redirect URI (repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A public client (no secret; PKCE only).
        #[arg(long)]
        public: bool,
        /// Authenticate with private_key_jwt using the JWK Set in this file.
        #[arg(long, conflicts_with_all = ["public", "jwks_uri"])]
        jwks_file: Option<std::path::PathBuf>,
        /// Authenticate with private_key_jwt using the keys published at this https URL.
        #[arg(long, conflicts_with = "public")]
        jwks_uri: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Add a new secret to a pre-registered client; the old ones expire after --keep-old-for.
    RotateSecret {
        #[arg(long)]
        env: String,
        #[arg(long)]
        client_id: String,
        /// Seconds the previous secrets keep working [default: 86400].
        #[arg(long, default_value_t = 86_400)]
        keep_old_for: i64,
        #[command(flatten)]
        common: Common,
    },
    /// Disable a client (for a dynamic registration: every identical registration).
    Disable {
        #[arg(long)]
        env: String,
        #[arg(long)]
        client_id: String,
        #[command(flatten)]
        common: Common,
    },
    /// Enable a disabled client.
    Enable {
        #[arg(long)]
        env: String,
        #[arg(long)]
        client_id: String,
        #[command(flatten)]
        common: Common,
    },
    /// List clients.
    List {
        #[arg(long)]
        env: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCmd {
    /// Publish new signing keys now; they sign after --activate-after seconds.
    Rotate {
        #[arg(long)]
        env: String,
        /// Seconds before the new keys sign (clients cache the JWKS for 300 s) [default: 600].
        #[arg(long, default_value_t = 600)]
        activate_after: i64,
        #[command(flatten)]
        common: Common,
    },
    /// List signing keys.
    List {
        #[arg(long)]
        env: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum RegistrationTokenCmd {
    /// Create an initial access token (printed once).
    Create {
        #[arg(long)]
        env: String,
        #[arg(long, default_value = "")]
        description: String,
        /// Lifetime in seconds [default: no expiry].
        #[arg(long)]
        ttl: Option<i64>,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Debug, Args)]
pub(crate) struct LogsArgs {
    #[arg(long)]
    pub(crate) env: String,
    /// Only this client.
    #[arg(long)]
    pub(crate) client: Option<String>,
    /// Only success or failure.
    #[arg(long)]
    pub(crate) outcome: Option<String>,
    /// Only one connect attempt.
    #[arg(long)]
    pub(crate) correlation_id: Option<String>,
    /// Only one event kind (authorize, login, consent, code, token, refresh, revoke, register).
    #[arg(long)]
    pub(crate) event: Option<String>,
    /// Most events shown.
    #[arg(long, default_value_t = 50)]
    pub(crate) limit: u32,
    #[command(flatten)]
    pub(crate) common: Common,
}

pub(crate) fn parse_pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
        .ok_or_else(|| format!("expected SCOPE=TEXT, got {s:?}"))
}
