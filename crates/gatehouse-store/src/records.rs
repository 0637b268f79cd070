//! What Gatehouse persists. Times are seconds since the Unix epoch unless a field says
//! otherwise. Secrets appear only as [`SecretHash`]es; the two sealed (encrypted) fields are
//! opaque bytes the server encrypts with its master key.

use gatehouse_oauth::client::ClientMetadata;
use gatehouse_oauth::secret::SecretHash;
use serde::{Deserialize, Serialize};

/// Seconds since the Unix epoch.
pub type Timestamp = i64;

/// Redirect and security profile of an environment (ADM-04).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Profile {
    /// Loopback http allowed for every client; meant for local development.
    Development,
    /// https, or loopback/private-use schemes for native clients only.
    Production,
}

impl Profile {
    /// Wire and storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "development" => Some(Self::Development),
            "production" => Some(Self::Production),
            _ => None,
        }
    }
}

/// Who may use dynamic client registration (RFC 7591) in an environment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationMode {
    /// Anyone (MCP clients have no initial access token).
    #[default]
    Open,
    /// Only holders of an initial access token (RFC 7591 §3).
    Token,
    /// Registration is disabled; the endpoint is not advertised.
    Off,
}

/// Per-environment settings, stored as one JSON document so new settings need no
/// migration. Every field has a default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnvSettings {
    /// Dynamic client registration mode. Default: open.
    pub registration: RegistrationMode,
    /// Origins allowed to call the token, registration and revocation endpoints from a
    /// browser (CORS). In a development environment every loopback origin is also allowed.
    pub allowed_origins: Vec<String>,
    /// Authorization code lifetime. Default 60 s.
    pub code_ttl: i64,
    /// How long a pending authorization (login or consent not finished) stays valid.
    /// Default 1800 s; never less than 600 s.
    pub pending_ttl: i64,
    /// Login session lifetime. Default 12 h.
    pub session_ttl: i64,
    /// Refresh token lifetime (each rotation starts a new one). Default 30 days.
    pub refresh_token_ttl: i64,
    /// How long after a rotation the previous refresh token still returns the same
    /// successor (parallel refreshes). Default 30 s.
    pub refresh_grace: i64,
    /// ID token lifetime. Default 3600 s.
    pub id_token_ttl: i64,
    /// Client ID Metadata Documents (URL client_ids).
    pub cimd: CimdSettings,
    /// Most never-used dynamic registrations kept; older ones are forgotten (their client_ids
    /// keep working, since each carries its own signed registration). Default 10000.
    pub max_unused_dynamic_clients: u64,
    /// Allowed callback URLs: when not empty, every redirect URI of a dynamically registered
    /// or metadata-document client must match one (exactly, loopback with any port, or — in a
    /// development environment — a `*` leftmost label). Pre-registered clients are not
    /// affected. Default empty: the profile's rules alone apply.
    pub allowed_callback_urls: Vec<String>,
    /// Days authentication log events are kept. Default 30.
    pub log_retention_days: i64,
}

/// Which Client ID Metadata Document URLs an environment accepts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CimdTrust {
    /// Any https URL that passes the URL and fetch rules.
    #[default]
    AnyHttps,
    /// Only URLs on the listed domains (or their subdomains).
    AllowList,
    /// Only the URLs of Gatehouse's catalogue of known MCP clients.
    KnownClients,
}

/// Client ID Metadata Document settings of an environment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CimdSettings {
    /// Whether URL client_ids are accepted (and `client_id_metadata_document_supported`
    /// advertised). Default on.
    pub enabled: bool,
    /// Trust policy. Default: any https URL.
    pub trust: CimdTrust,
    /// Domains for the `allow_list` policy (`example.com` also allows `app.example.com`).
    pub allowed_domains: Vec<String>,
    /// Hosts exempt from the private-address block when fetching — for tests and local
    /// development only. Default none.
    pub fetch_allow_hosts: Vec<String>,
    /// A PEM file of extra trusted root certificates for fetching — for tests and private
    /// PKI only. Default none.
    pub fetch_ca_file: Option<String>,
    /// Shortest time a fetched document is cached, seconds. Default 60.
    pub min_cache_seconds: i64,
    /// Longest time a fetched document is cached, seconds. Default 86400.
    pub max_cache_seconds: i64,
}

impl Default for CimdSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            trust: CimdTrust::AnyHttps,
            allowed_domains: Vec::new(),
            fetch_allow_hosts: Vec::new(),
            fetch_ca_file: None,
            min_cache_seconds: 60,
            max_cache_seconds: 86_400,
        }
    }
}

impl Default for EnvSettings {
    fn default() -> Self {
        Self {
            registration: RegistrationMode::Open,
            allowed_origins: Vec::new(),
            code_ttl: 60,
            pending_ttl: 1800,
            session_ttl: 12 * 3600,
            refresh_token_ttl: 30 * 24 * 3600,
            refresh_grace: 30,
            id_token_ttl: 3600,
            cimd: CimdSettings::default(),
            max_unused_dynamic_clients: 10_000,
            allowed_callback_urls: Vec::new(),
            log_retention_days: 30,
        }
    }
}

/// An environment: its own issuer, keys, clients, users, MCP servers, settings and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvironmentRecord {
    /// Short name, also the id (`dev`, `prod`).
    pub id: String,
    /// The issuer: an absolute URL, or a path (`""` or `/prod`) relative to the server's
    /// public URL, resolved at run time.
    pub issuer: String,
    /// Redirect/security profile.
    pub profile: Profile,
    /// Settings.
    pub settings: EnvSettings,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A signing key. A key is published in the JWKS from `created_at` until `removed_at`,
/// signs from `activates_at` until `retired_at`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// Key id (`kid`), unique across environments.
    pub kid: String,
    /// Environment.
    pub env_id: String,
    /// JWS algorithm (`ES256`, `RS256`).
    pub alg: String,
    /// PKCS#8 private key sealed with the master key.
    pub sealed_private_key: Vec<u8>,
    /// Public JWK, JSON.
    pub public_jwk: String,
    /// Creation (and publication) time.
    pub created_at: Timestamp,
    /// When it starts signing.
    pub activates_at: Timestamp,
    /// When it stopped signing (a newer key of the same alg took over).
    pub retired_at: Option<Timestamp>,
    /// When it leaves the JWKS (after every token it signed has expired).
    pub removed_at: Option<Timestamp>,
}

/// A scope an MCP server defines, with the sentence the consent page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeDef {
    /// The scope token.
    pub name: String,
    /// What granting it allows, in plain words.
    pub description: String,
}

/// An MCP server (protected resource) registered in an environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceRecord {
    /// `res_…`
    pub id: String,
    /// Environment.
    pub env_id: String,
    /// Display name (consent page).
    pub name: String,
    /// Resource URI exactly as registered; the access token `aud`.
    pub uri: String,
    /// Scopes it defines.
    pub scopes: Vec<ScopeDef>,
    /// Access token lifetime, seconds.
    pub access_token_ttl: i64,
    /// Issue refresh tokens to clients registered for the `refresh_token` grant even when
    /// they did not ask for `offline_access` (TK-05). Default on.
    pub refresh_without_offline_access: bool,
    /// Creation time.
    pub created_at: Timestamp,
}

/// How a client came to exist.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// Registered through RFC 7591.
    Dynamic,
    /// Created by an operator (`gatehouse client add`).
    Static,
    /// Identified by the URL of its Client ID Metadata Document; the row caches the last
    /// document fetched.
    Cimd,
}

impl ClientKind {
    /// Storage spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dynamic => "dynamic",
            Self::Static => "static",
            Self::Cimd => "cimd",
        }
    }

    /// Parses the storage spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "dynamic" => Some(Self::Dynamic),
            "static" => Some(Self::Static),
            "cimd" => Some(Self::Cimd),
            _ => None,
        }
    }
}

/// A client of an environment.
///
/// For a dynamically registered client the row is the *logical* client: every registration
/// with the same software, name and redirect URIs shares it (`client_id` is then the
/// registration fingerprint `dcr_…`, and `registrations` counts them), while each
/// registration's own `client_id` carries its metadata, signed, so the client keeps working
/// if this row is lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientRecord {
    /// Environment.
    pub env_id: String,
    /// `client_id` (or, for dynamic clients, the logical id), unique across environments.
    pub client_id: String,
    /// Dynamic or static.
    pub kind: ClientKind,
    /// Validated metadata (RFC 7591 §2).
    pub metadata: ClientMetadata,
    /// Creation time.
    pub created_at: Timestamp,
    /// Disabled clients fail authentication like unknown ones.
    pub disabled: bool,
    /// Last successful token request.
    pub last_used_at: Option<Timestamp>,
    /// How many registrations this logical client stands for (1 for static and CIMD clients).
    pub registrations: i64,
}

/// One secret of a confidential client; a client may have several (rotation).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientSecretRecord {
    /// Environment.
    pub env_id: String,
    /// Owner.
    pub client_id: String,
    /// SHA-256 of the secret.
    pub hash: SecretHash,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry, if any.
    pub expires_at: Option<Timestamp>,
}

/// An end user who logs in to an environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// `usr_…`, the `sub` of the user's tokens.
    pub id: String,
    /// Environment.
    pub env_id: String,
    /// Email, lower-case; unique within the environment.
    pub email: String,
    /// Display name.
    pub name: Option<String>,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Disabled users cannot log in and their refresh tokens stop working.
    pub disabled: bool,
    /// Creation time.
    pub created_at: Timestamp,
}

/// A browser login session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the session cookie value.
    pub hash: SecretHash,
    /// Environment.
    pub env_id: String,
    /// The user.
    pub user_id: String,
    /// When the user entered their password.
    pub auth_time: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
}

/// An authorization request waiting for login or consent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingAuthorizationRecord {
    /// SHA-256 of the request handle carried in the login/consent URLs.
    pub hash: SecretHash,
    /// Environment.
    pub env_id: String,
    /// Client.
    pub client_id: String,
    /// Verified redirect URI.
    pub redirect_uri: String,
    /// MCP server.
    pub resource_id: String,
    /// Requested scopes, space-delimited.
    pub scope: String,
    /// `state` to echo.
    pub state: Option<String>,
    /// OIDC nonce.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// OIDC prompt, space-delimited.
    pub prompt: String,
    /// OIDC max_age.
    pub max_age: Option<i64>,
    /// SHA-256 of the browser-binding cookie of the browser that started the request.
    pub browser_hash: SecretHash,
    /// Correlation id of the authentication log events of this authorization.
    pub correlation_id: String,
    /// The user, once logged in.
    pub user_id: Option<String>,
    /// When that user authenticated.
    pub auth_time: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
}

/// A user's remembered consent for one client and one MCP server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentRecord {
    /// Environment.
    pub env_id: String,
    /// User.
    pub user_id: String,
    /// Client.
    pub client_id: String,
    /// MCP server.
    pub resource_id: String,
    /// Scopes consented to, space-delimited.
    pub scope: String,
    /// First consent.
    pub granted_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// A refresh token with what its use depends on, read in one query (one snapshot): its
/// grant, and whether the grant's user still exists and is enabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshWithGrant {
    /// The token, whatever its state.
    pub token: RefreshTokenRecord,
    /// Its grant, whatever its state.
    pub grant: GrantRecord,
    /// The grant's user exists in the environment and is not disabled.
    pub user_active: bool,
}

/// One authorization (a "family"): everything issued from one code, or one refresh chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GrantRecord {
    /// `gr_…`, the `sid` claim of its access tokens.
    pub id: String,
    /// Environment.
    pub env_id: String,
    /// The client whose consent it rests on: the client_id, or for dynamic registrations
    /// that share consent, their logical client (`dcr_…`). The codes and refresh tokens of
    /// the grant record the exact client_id they were issued to.
    pub client_id: String,
    /// User.
    pub user_id: String,
    /// MCP server id.
    pub resource_id: String,
    /// Granted scopes, space-delimited.
    pub scope: String,
    /// When the user authenticated.
    pub auth_time: Timestamp,
    /// Correlation id of the authorization that created it (log events of its tokens carry it).
    pub correlation_id: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Revocation time.
    pub revoked_at: Option<Timestamp>,
    /// Why it was revoked (`code_replay`, `refresh_token_reuse`, `revoked_by_client`, …).
    pub revoked_reason: Option<String>,
}

/// An authorization code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthCodeRecord {
    /// SHA-256 of the code.
    pub hash: SecretHash,
    /// Environment.
    pub env_id: String,
    /// The grant it starts.
    pub grant_id: String,
    /// Client it was issued to.
    pub client_id: String,
    /// User.
    pub user_id: String,
    /// Redirect URI of the authorization request.
    pub redirect_uri: String,
    /// PKCE S256 challenge.
    pub code_challenge: String,
    /// MCP server id.
    pub resource_id: String,
    /// Granted scopes, space-delimited.
    pub scope: String,
    /// OIDC nonce.
    pub nonce: Option<String>,
    /// When the user authenticated.
    pub auth_time: Timestamp,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// When it was redeemed.
    pub consumed_at: Option<Timestamp>,
}

/// A refresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    /// SHA-256 of the token.
    pub hash: SecretHash,
    /// Environment.
    pub env_id: String,
    /// Grant (family).
    pub grant_id: String,
    /// Client it was issued to.
    pub client_id: String,
    /// Scopes it carries, space-delimited.
    pub scope: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// When it was exchanged for its successor.
    pub rotated_at: Option<Timestamp>,
    /// Its successor.
    pub successor_hash: Option<SecretHash>,
    /// Revocation time.
    pub revoked_at: Option<Timestamp>,
}

/// An audit (authentication log) event. Never holds a token, code, secret or verifier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Store-assigned id, increasing (0 before insertion).
    pub id: i64,
    /// Environment.
    pub env_id: String,
    /// Milliseconds since the epoch.
    pub at_ms: i64,
    /// Follows one connect attempt across requests.
    pub correlation_id: String,
    /// `authorize`, `login`, `consent`, `code`, `token`, `refresh`, `revoke`, `register`, …
    pub event: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// OAuth error code on failure.
    pub error: Option<String>,
    /// Precise reason on failure, for the operator.
    pub error_detail: Option<String>,
    /// Client id.
    pub client_id: Option<String>,
    /// Resource URI.
    pub resource: Option<String>,
    /// User id.
    pub user_id: Option<String>,
    /// Remote address.
    pub ip: Option<String>,
    /// Further fields (redirect URI, scopes requested and granted, grant type…), JSON object.
    pub data: serde_json::Value,
}

/// Filter for reading audit events; newest first unless `oldest_first`.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    /// Environment.
    pub env_id: String,
    /// Only this correlation id.
    pub correlation_id: Option<String>,
    /// Only this client.
    pub client_id: Option<String>,
    /// Only this outcome.
    pub outcome: Option<String>,
    /// Only this event name.
    pub event: Option<String>,
    /// Only events with id greater than this.
    pub after_id: Option<i64>,
    /// Most events returned (default 100).
    pub limit: Option<u32>,
    /// Only events at or after this time (milliseconds).
    pub since_ms: Option<i64>,
    /// Only events before this time (milliseconds).
    pub until_ms: Option<i64>,
    /// Only this user.
    pub user_id: Option<String>,
    /// Only this resource URI.
    pub resource: Option<String>,
    /// Only this error code.
    pub error: Option<String>,
    /// Oldest first (for tailing with `after_id`) instead of newest first.
    pub oldest_first: bool,
}

/// An initial access token for gated registration (RFC 7591 §3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InitialAccessTokenRecord {
    /// SHA-256 of the token.
    pub hash: SecretHash,
    /// Environment.
    pub env_id: String,
    /// Operator's note.
    pub description: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry, if any.
    pub expires_at: Option<Timestamp>,
}

/// An API key of the admin API. The key itself is shown once; only its hash is stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminKeyRecord {
    /// `adk_…`
    pub id: String,
    /// What it is for.
    pub name: String,
    /// The environment it is limited to; `None` for a key that may administer everything.
    pub env_id: Option<String>,
    /// SHA-256 of the key.
    pub hash: SecretHash,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last successful use.
    pub last_used_at: Option<Timestamp>,
    /// Revocation time.
    pub revoked_at: Option<Timestamp>,
}

/// An administrator who signs in to the dashboard (separate from end users).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminUserRecord {
    /// `adm_…`
    pub id: String,
    /// Email, lower-case, unique.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Disabled administrators cannot sign in.
    pub disabled: bool,
}

/// A dashboard session of an administrator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdminSessionRecord {
    /// SHA-256 of the session cookie value.
    pub hash: SecretHash,
    /// The administrator.
    pub admin_id: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
}

/// Counts of what [`crate::Store::gc`] deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Expired codes.
    pub codes: u64,
    /// Expired pending authorizations.
    pub pending: u64,
    /// Expired sessions.
    pub sessions: u64,
    /// Expired refresh tokens.
    pub refresh_tokens: u64,
    /// Expired revoked-jti entries.
    pub revoked_jtis: u64,
    /// Keys past `removed_at`.
    pub keys: u64,
    /// Expired client-assertion jtis.
    pub assertion_jtis: u64,
    /// Expired admin sessions.
    pub admin_sessions: u64,
}
