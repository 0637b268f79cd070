//! Administrative operations shared by the CLI (and, later, the admin API): environments,
//! keys, MCP servers, users and clients. Each validates its input and reports every problem
//! in words an operator can act on.

use gatehouse_oauth::client::{AuthMethod, ClientMetadata, GrantType, RegistrationRequest};
use gatehouse_oauth::jose::{Algorithm, SigningKey};
use gatehouse_oauth::redirect::RedirectPolicy;
use gatehouse_oauth::resource::ResourceUri;
use gatehouse_oauth::scope::{self, ScopeSet};
use gatehouse_oauth::secret::Secret;
use gatehouse_store::{
    AdminKeyRecord, AdminUserRecord, ClientKind, ClientRecord, ClientSecretRecord, EnvSettings,
    EnvironmentRecord, InitialAccessTokenRecord, Profile, ResourceRecord, ScopeDef,
    SigningKeyRecord, Store, StoreError, UserRecord,
};

use crate::crypto::{self, MasterKey, password};
use crate::keys::seal_context;

/// Why an admin operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The input is not acceptable.
    #[error("{0}")]
    Invalid(String),
    /// Something named does not exist.
    #[error("{0}")]
    NotFound(String),
    /// It already exists.
    #[error("{0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AdminError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => Self::Conflict(m),
            other => Self::Store(other),
        }
    }
}

type Result<T> = std::result::Result<T, AdminError>;

/// The id of the environment every installation starts with.
pub const DEV: &str = "dev";

/// Names an environment may not take: they are endpoint paths of the root issuer.
const RESERVED: [&str; 12] = [
    "authorize",
    "token",
    "register",
    "revoke",
    "introspect",
    "userinfo",
    "login",
    "consent",
    "jwks.json",
    "healthz",
    "admin",
    "assets",
];

/// First start: creates `dev` (issuer = the public URL, development profile) if there is no
/// environment yet, and makes sure every environment has signing keys.
pub async fn bootstrap(store: &dyn Store, master: &MasterKey, now: i64) -> Result<()> {
    if store.list_environments().await?.is_empty() {
        let env = EnvironmentRecord {
            id: DEV.to_owned(),
            issuer: String::new(),
            profile: Profile::Development,
            settings: EnvSettings::default(),
            created_at: now,
        };
        match store.create_environment(&env).await {
            Ok(()) | Err(StoreError::Conflict(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    for env in store.list_environments().await? {
        ensure_keys(store, master, &env.id, now).await?;
    }
    Ok(())
}

/// Creates an environment with its keys. `issuer` is an absolute URL (host-based, or with a
/// path) or `None` for `<public URL>/<id>`.
pub async fn create_environment(
    store: &dyn Store,
    master: &MasterKey,
    id: &str,
    issuer: Option<&str>,
    profile: Profile,
    now: i64,
) -> Result<EnvironmentRecord> {
    check_env_id(id)?;
    let issuer = match issuer {
        Some(i) => check_issuer(i)?,
        None => format!("/{id}"),
    };
    let env = EnvironmentRecord {
        id: id.to_owned(),
        issuer,
        profile,
        settings: EnvSettings::default(),
        created_at: now,
    };
    store.create_environment(&env).await.map_err(|e| match e {
        StoreError::Conflict(_) => {
            AdminError::Conflict(format!("environment {id:?} already exists"))
        }
        other => other.into(),
    })?;
    ensure_keys(store, master, id, now).await?;
    Ok(env)
}

fn check_env_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-');
    if !ok {
        return Err(AdminError::Invalid(format!(
            "environment name {id:?} must be 1-32 characters of a-z, 0-9 and '-'"
        )));
    }
    if RESERVED.contains(&id) {
        return Err(AdminError::Invalid(format!(
            "environment name {id:?} is reserved (it is an endpoint path)"
        )));
    }
    Ok(())
}

fn check_issuer(raw: &str) -> Result<String> {
    let raw = raw.trim().trim_end_matches('/');
    let url = url::Url::parse(raw)
        .map_err(|_| AdminError::Invalid(format!("issuer {raw:?} is not an absolute URL")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(AdminError::Invalid(format!(
            "issuer {raw:?} must be an http or https URL"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(AdminError::Invalid(format!(
            "issuer {raw:?} must not have a query, fragment or user information (RFC 8414 §2)"
        )));
    }
    let segments: Vec<&str> = url.path().split('/').filter(|s| !s.is_empty()).collect();
    if let Some(first) = segments.first()
        && (RESERVED.contains(first) || first.starts_with('.'))
    {
        return Err(AdminError::Invalid(format!(
            "issuer path /{first} is reserved"
        )));
    }
    Ok(raw.to_owned())
}

/// Replaces an environment's settings and profile.
pub async fn update_environment(store: &dyn Store, env: &EnvironmentRecord) -> Result<()> {
    for o in &env.settings.allowed_origins {
        check_origin(o, env.profile)?;
    }
    for c in &env.settings.allowed_callback_urls {
        gatehouse_oauth::redirect::check_callback_pattern(c, policy_of(env.profile))
            .map_err(AdminError::Invalid)?;
    }
    if !(1..=3650).contains(&env.settings.log_retention_days) {
        return Err(AdminError::Invalid(
            "log_retention_days must be between 1 and 3650".into(),
        ));
    }
    if !(0..=60).contains(&env.settings.refresh_grace) {
        return Err(AdminError::Invalid(
            "refresh_grace must be between 0 and 60 seconds".into(),
        ));
    }
    if env.settings.pending_ttl < 600 {
        return Err(AdminError::Invalid(
            "pending_ttl must be at least 600 seconds".into(),
        ));
    }
    if !(1..=600).contains(&env.settings.code_ttl) {
        return Err(AdminError::Invalid(
            "code_ttl must be between 1 and 600 seconds".into(),
        ));
    }
    if store.update_environment(env).await? {
        Ok(())
    } else {
        Err(not_found_env(&env.id))
    }
}

/// ADM-04 for CORS origins: `scheme://host[:port]` only; production environments require
/// https, or http on a loopback host listed explicitly (a local tool such as MCP Inspector).
pub fn check_origin(origin: &str, profile: Profile) -> Result<String> {
    let o = origin.trim().trim_end_matches('/');
    let url = url::Url::parse(o).map_err(|_| {
        AdminError::Invalid(format!(
            "origin {o:?} is not a URL like https://app.example.com"
        ))
    })?;
    if url.path() != "/" || url.query().is_some() || url.fragment().is_some() || o.contains('*') {
        return Err(AdminError::Invalid(format!(
            "origin {o:?} must be scheme://host[:port] with no path or wildcard"
        )));
    }
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match (url.scheme(), profile) {
        ("https", _) | ("http", Profile::Development) => Ok(o.to_owned()),
        // Listed one by one, a local browser tool (MCP Inspector at http://localhost:6274)
        // may call a production environment; nothing else over http.
        ("http", Profile::Production) if loopback => Ok(o.to_owned()),
        ("http", Profile::Production) => Err(AdminError::Invalid(format!(
            "origin {o:?}: production environments allow https origins, and http only on \
             localhost or a loopback address (such as MCP Inspector at http://localhost:6274)"
        ))),
        _ => Err(AdminError::Invalid(format!(
            "origin {o:?} must be http or https"
        ))),
    }
}

/// A fetched environment, or a `NotFound` naming it.
pub async fn get_environment(store: &dyn Store, id: &str) -> Result<EnvironmentRecord> {
    store
        .get_environment(id)
        .await?
        .ok_or_else(|| not_found_env(id))
}

fn not_found_env(id: &str) -> AdminError {
    AdminError::NotFound(format!(
        "environment {id:?} does not exist (see `gatehouse env list`)"
    ))
}

fn new_key(
    env_id: &str,
    alg: Algorithm,
    master: &MasterKey,
    now: i64,
    activates_at: i64,
) -> Result<SigningKeyRecord> {
    let der = SigningKey::generate_pkcs8(alg).map_err(|e| AdminError::Invalid(e.to_string()))?;
    let kid = format!("{env_id}-{}", crypto::new_id(""))
        .chars()
        .take(40)
        .collect::<String>();
    let key =
        SigningKey::from_pkcs8(&kid, alg, &der).map_err(|e| AdminError::Invalid(e.to_string()))?;
    Ok(SigningKeyRecord {
        public_jwk: serde_json::to_string(&key.public_jwk()).unwrap_or_default(),
        sealed_private_key: master.seal(&seal_context(&kid), &der),
        kid,
        env_id: env_id.to_owned(),
        alg: alg.as_str().to_owned(),
        created_at: now,
        activates_at,
        retired_at: None,
        removed_at: None,
    })
}

/// Makes sure the environment has a signing key of each algorithm (ES256 for access tokens,
/// RS256 for ID tokens) active now or scheduled.
pub async fn ensure_keys(
    store: &dyn Store,
    master: &MasterKey,
    env_id: &str,
    now: i64,
) -> Result<()> {
    let keys = store.list_keys(env_id, now).await?;
    for alg in [Algorithm::ES256, Algorithm::RS256] {
        let has = keys
            .iter()
            .any(|k| k.alg == alg.as_str() && k.retired_at.is_none_or(|r| r > now));
        if !has {
            store
                .insert_key(&new_key(env_id, alg, master, now, now)?)
                .await?;
        }
    }
    Ok(())
}

/// What a rotation did.
#[derive(Debug, serde::Serialize)]
pub struct Rotated {
    /// New key ids.
    pub new_kids: Vec<String>,
    /// When they start signing.
    pub activates_at: i64,
    /// Retired key ids and when they leave the JWKS.
    pub retired: Vec<(String, i64)>,
}

/// Rotates every signing key of an environment: new keys are published now and sign from
/// `now + activate_after`; the keys they replace stop signing then and stay published until
/// the longest-lived token they could have signed has expired.
pub async fn rotate_keys(
    store: &dyn Store,
    master: &MasterKey,
    env_id: &str,
    activate_after: i64,
    now: i64,
) -> Result<Rotated> {
    let env = get_environment(store, env_id).await?;
    let max_token_ttl = store
        .list_resources(env_id)
        .await?
        .iter()
        .map(|r| r.access_token_ttl)
        .chain([env.settings.id_token_ttl])
        .max()
        .unwrap_or(3600);
    let activates_at = now + activate_after.max(0);
    let mut out = Rotated {
        new_kids: vec![],
        activates_at,
        retired: vec![],
    };
    let keys = store.list_keys(env_id, now).await?;
    for alg in [Algorithm::ES256, Algorithm::RS256] {
        let fresh = new_key(env_id, alg, master, now, activates_at)?;
        store.insert_key(&fresh).await?;
        out.new_kids.push(fresh.kid);
        for old in keys
            .iter()
            .filter(|k| k.alg == alg.as_str() && k.retired_at.is_none_or(|r| r > activates_at))
        {
            let removed_at = activates_at + max_token_ttl + 300;
            store
                .retire_key(env_id, &old.kid, activates_at, removed_at)
                .await?;
            out.retired.push((old.kid.clone(), removed_at));
        }
    }
    Ok(out)
}

/// An MCP server to register.
#[derive(Clone, Debug)]
pub struct NewResource {
    /// Display name.
    pub name: String,
    /// Resource URI.
    pub url: String,
    /// Scopes, with optional descriptions.
    pub scopes: Vec<ScopeDef>,
    /// Access token lifetime (default 3600).
    pub access_token_ttl: Option<i64>,
    /// Refresh tokens without `offline_access` (default on).
    pub refresh_without_offline_access: Option<bool>,
}

/// Parses `"todo:read todo:write"` plus `name=description` pairs into scope definitions.
pub fn scope_defs(
    scopes: &str,
    descriptions: &[(String, String)],
    resource_name: &str,
) -> Result<Vec<ScopeDef>> {
    let set =
        ScopeSet::parse(scopes).map_err(|e| AdminError::Invalid(e.description.into_owned()))?;
    for (name, _) in descriptions {
        if !set.contains(name) {
            return Err(AdminError::Invalid(format!(
                "description given for {name:?}, which is not one of the scopes"
            )));
        }
    }
    Ok(set
        .iter()
        .map(|s| ScopeDef {
            name: s.to_owned(),
            description: descriptions
                .iter()
                .find(|(n, _)| n == s)
                .map(|(_, d)| d.clone())
                .unwrap_or_else(|| format!("Use \u{201c}{s}\u{201d} on {resource_name}")),
        })
        .collect())
}

/// Registers an MCP server.
pub async fn add_resource(
    store: &dyn Store,
    env_id: &str,
    new: NewResource,
    now: i64,
) -> Result<ResourceRecord> {
    get_environment(store, env_id).await?;
    let (uri, ttl) = check_resource(&new)?;
    let existing = store.list_resources(env_id).await?;
    if let Some(dup) = existing
        .iter()
        .find(|r| ResourceUri::from_stored(&r.uri).key() == uri.key())
    {
        return Err(AdminError::Conflict(format!(
            "MCP server {:?} ({}) already uses this URL",
            dup.name, dup.id
        )));
    }
    let record = ResourceRecord {
        id: crypto::new_id("res_"),
        env_id: env_id.to_owned(),
        name: new.name.trim().to_owned(),
        uri: uri.as_str().to_owned(),
        scopes: new.scopes,
        access_token_ttl: ttl,
        refresh_without_offline_access: new.refresh_without_offline_access.unwrap_or(true),
        created_at: now,
    };
    store.create_resource(&record).await?;
    Ok(record)
}

fn check_resource(new: &NewResource) -> Result<(ResourceUri, i64)> {
    let uri = ResourceUri::parse_registered(&new.url).map_err(AdminError::Invalid)?;
    if new.name.trim().is_empty() {
        return Err(AdminError::Invalid(
            "the MCP server needs a name (shown on the consent page)".into(),
        ));
    }
    for s in &new.scopes {
        if scope::IDENTITY_SCOPES.contains(&s.name.as_str()) {
            return Err(AdminError::Invalid(format!(
                "{:?} is an OpenID Connect scope handled by Gatehouse itself; do not list it as an MCP server scope",
                s.name
            )));
        }
        if !scope::is_valid_scope_token(&s.name) {
            return Err(AdminError::Invalid(format!(
                "{:?} is not a valid scope token",
                s.name
            )));
        }
    }
    let ttl = new.access_token_ttl.unwrap_or(3600);
    if !(60..=86_400).contains(&ttl) {
        return Err(AdminError::Invalid(
            "access token lifetime must be between 60 and 86400 seconds".into(),
        ));
    }
    Ok((uri, ttl))
}

/// Changes an MCP server. Changing its URL changes the audience of new tokens.
pub async fn update_resource(
    store: &dyn Store,
    env_id: &str,
    id: &str,
    new: NewResource,
) -> Result<ResourceRecord> {
    let current = store
        .get_resource(env_id, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no MCP server {id} in {env_id}")))?;
    let (uri, ttl) = check_resource(&new)?;
    let existing = store.list_resources(env_id).await?;
    if let Some(dup) = existing
        .iter()
        .find(|r| r.id != id && ResourceUri::from_stored(&r.uri).key() == uri.key())
    {
        return Err(AdminError::Conflict(format!(
            "MCP server {:?} ({}) already uses this URL",
            dup.name, dup.id
        )));
    }
    let record = ResourceRecord {
        name: new.name.trim().to_owned(),
        uri: uri.as_str().to_owned(),
        scopes: new.scopes,
        access_token_ttl: ttl,
        refresh_without_offline_access: new
            .refresh_without_offline_access
            .unwrap_or(current.refresh_without_offline_access),
        ..current
    };
    store.update_resource(&record).await?;
    Ok(record)
}

/// Deletes an MCP server; tokens for it can no longer be issued or refreshed.
pub async fn delete_resource(store: &dyn Store, env_id: &str, id: &str) -> Result<()> {
    if store.delete_resource(env_id, id).await? {
        Ok(())
    } else {
        Err(AdminError::NotFound(format!(
            "no MCP server {id} in {env_id}"
        )))
    }
}

/// A user by id, or `NotFound`.
pub async fn get_user(store: &dyn Store, env_id: &str, id: &str) -> Result<UserRecord> {
    store
        .get_user(env_id, id)
        .await?
        .ok_or_else(|| AdminError::NotFound(format!("no user {id} in {env_id}")))
}

/// Disables or enables a user. Disabling ends their sessions; their refresh tokens stop
/// working (checked at every refresh).
pub async fn set_user_disabled(
    store: &dyn Store,
    env_id: &str,
    id: &str,
    disabled: bool,
) -> Result<UserRecord> {
    let mut user = get_user(store, env_id, id).await?;
    user.disabled = disabled;
    store.update_user(&user).await?;
    if disabled {
        store.delete_user_sessions(env_id, id).await?;
    }
    Ok(user)
}

/// Sets a user's display name.
pub async fn rename_user(
    store: &dyn Store,
    env_id: &str,
    id: &str,
    name: Option<String>,
) -> Result<UserRecord> {
    let mut user = get_user(store, env_id, id).await?;
    user.name = name.filter(|n| !n.trim().is_empty());
    store.update_user(&user).await?;
    Ok(user)
}

/// Sets a new password and ends the user's sessions.
pub async fn reset_password(
    store: &dyn Store,
    env_id: &str,
    id: &str,
    password: &str,
) -> Result<()> {
    let mut user = get_user(store, env_id, id).await?;
    user.password_hash = hash_password(password).await?;
    store.update_user(&user).await?;
    store.delete_user_sessions(env_id, id).await?;
    Ok(())
}

/// A lower-cased email address, or why it is not one.
fn check_email(email: &str) -> Result<String> {
    let email = email.trim().to_ascii_lowercase();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.') && !d.starts_with('.'))
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(AdminError::Invalid(format!(
            "{email:?} is not an email address"
        )))
    }
}

async fn hash_password(password: &str) -> Result<String> {
    if password.chars().count() < 8 {
        return Err(AdminError::Invalid(
            "the password must be at least 8 characters".into(),
        ));
    }
    let pw = password.to_owned();
    tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        // The hashing thread panicked: an internal failure (500), not the caller's.
        .map_err(|e| AdminError::Store(StoreError::Other(Box::new(e))))
}

/// Deletes a client. A pre-registered client is gone; a dynamic or metadata-document client
/// only loses its row (its client_id still resolves): disable it to block it.
pub async fn delete_client(
    store: &dyn Store,
    master: &MasterKey,
    env_id: &str,
    client_id: &str,
) -> Result<()> {
    let id = row_id(master, env_id, client_id)?;
    if store.delete_client(env_id, &id).await? {
        Ok(())
    } else {
        Err(AdminError::NotFound(format!(
            "no client {client_id:?} in {env_id}"
        )))
    }
}

/// A new admin API key (shown once), optionally limited to one environment.
pub async fn create_admin_key(
    store: &dyn Store,
    name: &str,
    env_id: Option<&str>,
    now: i64,
) -> Result<(AdminKeyRecord, Secret)> {
    if let Some(env) = env_id {
        get_environment(store, env).await?;
    }
    let key = crypto::new_secret("gha_");
    let record = AdminKeyRecord {
        id: crypto::new_id("adk_"),
        name: name.trim().to_owned(),
        env_id: env_id.map(str::to_owned),
        hash: key.hash(),
        created_at: now,
        last_used_at: None,
        revoked_at: None,
    };
    store.create_admin_key(&record).await?;
    Ok((record, key))
}

/// Creates an administrator (dashboard sign-in); the password is hashed with argon2id.
pub async fn create_admin_user(
    store: &dyn Store,
    email: &str,
    password: &str,
    now: i64,
) -> Result<AdminUserRecord> {
    let email = check_email(email)?;
    let user = AdminUserRecord {
        id: crypto::new_id("adm_"),
        email: email.clone(),
        password_hash: hash_password(password).await?,
        created_at: now,
        disabled: false,
    };
    store.create_admin_user(&user).await.map_err(|e| match e {
        StoreError::Conflict(_) => {
            AdminError::Conflict(format!("an administrator {email} already exists"))
        }
        other => other.into(),
    })?;
    Ok(user)
}

/// Creates a user; the password is hashed with argon2id.
pub async fn add_user(
    store: &dyn Store,
    env_id: &str,
    email: &str,
    password: &str,
    name: Option<&str>,
    now: i64,
) -> Result<UserRecord> {
    get_environment(store, env_id).await?;
    let email = check_email(email)?;
    let password_hash = hash_password(password).await?;
    let user = UserRecord {
        id: crypto::new_id("usr_"),
        env_id: env_id.to_owned(),
        email: email.clone(),
        name: name.map(str::to_owned),
        password_hash,
        disabled: false,
        created_at: now,
    };
    store.create_user(&user).await.map_err(|e| match e {
        StoreError::Conflict(_) => AdminError::Conflict(format!(
            "a user with email {email} already exists in {env_id}"
        )),
        other => other.into(),
    })?;
    Ok(user)
}

/// A client an operator creates.
#[derive(Clone, Debug, Default)]
pub struct NewClient {
    /// Display name.
    pub name: String,
    /// Grant types (`authorization_code`, `refresh_token`, `client_credentials`).
    pub grants: Vec<String>,
    /// Allowed scopes, space-delimited.
    pub scopes: Option<String>,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// A public client (no secret).
    pub public: bool,
    /// Authenticate with `private_key_jwt` using this JWK Set (JSON) instead of a secret.
    pub jwks: Option<serde_json::Value>,
    /// Authenticate with `private_key_jwt` using keys published at this URL.
    pub jwks_uri: Option<String>,
}

/// A created client and its secret (shown once).
#[derive(Debug)]
pub struct CreatedClient {
    /// The record.
    pub client: ClientRecord,
    /// The secret, for confidential clients.
    pub secret: Option<Secret>,
}

/// Creates a pre-registered client under the environment's redirect rules.
pub async fn add_client(
    store: &dyn Store,
    env_id: &str,
    new: NewClient,
    now: i64,
) -> Result<CreatedClient> {
    let env = get_environment(store, env_id).await?;
    let grants = if new.grants.is_empty() {
        vec!["authorization_code".to_owned(), "refresh_token".to_owned()]
    } else {
        new.grants
    };
    let request = RegistrationRequest {
        redirect_uris: Some(new.redirect_uris),
        token_endpoint_auth_method: Some(
            match (new.public, new.jwks.is_some() || new.jwks_uri.is_some()) {
                (true, _) => "none",
                (false, true) => "private_key_jwt",
                (false, false) => "client_secret_basic",
            }
            .to_owned(),
        ),
        jwks: new.jwks,
        jwks_uri: new.jwks_uri,
        response_types: Some(if grants.iter().any(|g| g == "authorization_code") {
            vec!["code".to_owned()]
        } else {
            vec![]
        }),
        grant_types: Some(grants),
        client_name: Some(new.name),
        scope: new.scopes,
        ..Default::default()
    };
    let metadata = request
        .validate(policy_of(env.profile))
        .map_err(|e| AdminError::Invalid(e.description.into_owned()))?;
    create_static_client(store, env_id, metadata, now).await
}

/// Adds a new secret to a pre-registered confidential client; the other secrets expire after
/// `keep_old_for` seconds (rotation without downtime). Returns the new secret (shown once).
pub async fn rotate_client_secret(
    store: &dyn Store,
    env_id: &str,
    client_id: &str,
    keep_old_for: i64,
    now: i64,
) -> Result<Secret> {
    let client = store
        .get_client(env_id, client_id)
        .await?
        .filter(|c| c.kind == ClientKind::Static)
        .ok_or_else(|| {
            AdminError::NotFound(format!(
                "no pre-registered client {client_id:?} in {env_id}"
            ))
        })?;
    if !AuthMethod::parse(&client.metadata.token_endpoint_auth_method)
        .is_some_and(AuthMethod::uses_secret)
    {
        return Err(AdminError::Invalid(format!(
            "client {client_id:?} does not authenticate with a secret"
        )));
    }
    let secret = crypto::new_secret("ghs_");
    let record = ClientSecretRecord {
        env_id: env_id.to_owned(),
        client_id: client_id.to_owned(),
        hash: secret.hash(),
        created_at: now,
        expires_at: None,
    };
    store.add_client_secret(&record).await?;
    store
        .expire_client_secrets(env_id, client_id, &record.hash, now + keep_old_for.max(0))
        .await?;
    Ok(secret)
}

/// The id of the row holding a client's mutable state: a dynamic registration's logical
/// client, or the client_id itself.
pub fn row_id(master: &MasterKey, env_id: &str, client_id: &str) -> Result<String> {
    if client_id.starts_with(crate::clients::dcr::PREFIX) {
        let reg = crate::clients::dcr::verify(master, env_id, client_id, &[]).map_err(|_| {
            AdminError::NotFound(format!(
                "{client_id:?} is not a registration of environment {env_id}"
            ))
        })?;
        return Ok(reg.logical);
    }
    Ok(client_id.to_owned())
}

/// Disables or enables a client. For a dynamic registration this applies to its logical
/// client (every identical registration); a disabled client stays disabled whatever its
/// client_id carries.
pub async fn set_client_disabled(
    store: &dyn Store,
    master: &MasterKey,
    env_id: &str,
    client_id: &str,
    disabled: bool,
    now: i64,
) -> Result<String> {
    let id = row_id(master, env_id, client_id)?;
    if !store.set_client_disabled(env_id, &id, disabled).await? {
        // A dynamic registration whose row was forgotten: recreate it as a tombstone.
        let reg = crate::clients::dcr::verify(master, env_id, client_id, &[])
            .map_err(|_| AdminError::NotFound(format!("no client {client_id:?} in {env_id}")))?;
        let row = ClientRecord {
            env_id: env_id.to_owned(),
            client_id: id.clone(),
            kind: ClientKind::Dynamic,
            metadata: reg.meta,
            created_at: now,
            disabled,
            last_used_at: None,
            registrations: 1,
        };
        store.save_client_metadata(&row).await?;
        store.set_client_disabled(env_id, &id, disabled).await?;
    }
    Ok(id)
}

/// Stores a validated pre-registered client, generating its id and, for clients that
/// authenticate with a secret, the secret.
pub async fn create_static_client(
    store: &dyn Store,
    env_id: &str,
    metadata: ClientMetadata,
    now: i64,
) -> Result<CreatedClient> {
    let uses_secret = AuthMethod::parse(&metadata.token_endpoint_auth_method)
        .is_some_and(AuthMethod::uses_secret);
    let client = ClientRecord {
        env_id: env_id.to_owned(),
        client_id: crypto::new_id("ghc_"),
        kind: ClientKind::Static,
        metadata,
        created_at: now,
        disabled: false,
        last_used_at: None,
        registrations: 1,
    };
    let secret = uses_secret.then(|| crypto::new_secret("ghs_"));
    let secrets: Vec<ClientSecretRecord> = secret
        .iter()
        .map(|s| ClientSecretRecord {
            env_id: env_id.to_owned(),
            client_id: client.client_id.clone(),
            hash: s.hash(),
            created_at: now,
            expires_at: None,
        })
        .collect();
    store.create_client(&client, &secrets).await?;
    Ok(CreatedClient { client, secret })
}

/// The redirect policy of a profile.
pub fn policy_of(profile: Profile) -> RedirectPolicy {
    match profile {
        Profile::Development => RedirectPolicy::Development,
        Profile::Production => RedirectPolicy::Production,
    }
}

/// Whether a client may use a grant type.
pub fn client_has_grant(client: &ClientRecord, grant: GrantType) -> bool {
    client
        .metadata
        .grant_types
        .iter()
        .any(|g| g == grant.as_str())
}

/// Creates an initial access token for gated registration; returns it once.
pub async fn add_initial_access_token(
    store: &dyn Store,
    env_id: &str,
    description: &str,
    ttl: Option<i64>,
    now: i64,
) -> Result<Secret> {
    get_environment(store, env_id).await?;
    let token = crypto::new_secret("ghi_");
    store
        .create_initial_access_token(&InitialAccessTokenRecord {
            hash: token.hash(),
            env_id: env_id.to_owned(),
            description: description.to_owned(),
            created_at: now,
            expires_at: ttl.map(|t| now + t),
        })
        .await?;
    Ok(token)
}
