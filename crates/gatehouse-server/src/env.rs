//! Environments as the server serves them: resolved issuer, parsed keys, MCP servers and the
//! pre-rendered discovery document, cached in memory and reloaded when the store's
//! generation changes (the CLI may change them while the server runs).

use std::sync::{Arc, RwLock};

use gatehouse_oauth::authorize::ResourceView;
use gatehouse_oauth::metadata::{AuthorizationServerMetadata, MetadataInput};
use gatehouse_oauth::params::Params;
use gatehouse_oauth::redirect::RedirectPolicy;
use gatehouse_oauth::resource::{RequestedResource, ResourceUri};
use gatehouse_oauth::scope::{self, ScopeSet};
use gatehouse_store::{
    EnvironmentRecord, Profile, RegistrationMode, ResourceRecord, Store, StoreError,
};
use url::Url;

use crate::cache::{ClientCache, TokenCache};
use crate::crypto::MasterKey;
use crate::keys::KeyRing;

/// An MCP server with its parsed URI and scopes.
pub struct Resource {
    /// The stored record.
    pub record: ResourceRecord,
    /// Parsed URI.
    pub uri: ResourceUri,
    /// Its scopes as a set.
    pub scopes: ScopeSet,
}

impl Resource {
    fn new(record: ResourceRecord) -> Self {
        let uri = ResourceUri::from_stored(&record.uri);
        let scopes = ScopeSet::from_tokens(record.scopes.iter().map(|s| &s.name));
        Self {
            record,
            uri,
            scopes,
        }
    }

    /// The description of a scope (OIDC scopes have built-in ones).
    pub fn describe_scope(&self, name: &str) -> String {
        if let Some(d) = self.record.scopes.iter().find(|s| s.name == name) {
            return d.description.clone();
        }
        match name {
            scope::OPENID => "Confirm your identity".to_owned(),
            "profile" => "See your name".to_owned(),
            "email" => "See your email address".to_owned(),
            scope::OFFLINE_ACCESS => {
                "Stay connected when you are not using it (refresh tokens)".to_owned()
            }
            other => format!("Use \u{201c}{other}\u{201d}"),
        }
    }
}

/// One environment, ready to serve.
pub struct EnvHandle {
    /// The stored record.
    pub record: EnvironmentRecord,
    /// Absolute issuer identifier.
    pub issuer: String,
    /// `host[:port]` of the issuer, lower-case, port always explicit.
    authority: String,
    /// Path of the issuer (`""` or `/prod`).
    pub path: String,
    /// Whether the issuer is https (cookies get `Secure` and the `__Host-` prefix).
    pub https: bool,
    /// Signing and verification keys.
    pub keys: KeyRing,
    /// MCP servers.
    pub resources: Vec<Arc<Resource>>,
    /// The discovery document, rendered once.
    pub metadata_json: Arc<String>,
}

impl EnvHandle {
    /// The environment id.
    pub fn id(&self) -> &str {
        &self.record.id
    }

    /// Absolute URL of an endpoint path under the issuer.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.issuer)
    }

    /// Redirect policy of the profile.
    pub fn redirect_policy(&self) -> RedirectPolicy {
        match self.record.profile {
            Profile::Development => RedirectPolicy::Development,
            Profile::Production => RedirectPolicy::Production,
        }
    }

    /// The MCP server a `resource` value names.
    pub fn find_resource(&self, requested: &RequestedResource) -> Option<&Arc<Resource>> {
        self.resources.iter().find(|r| requested.matches(&r.uri))
    }

    /// The MCP servers as the protocol core's validation sees them.
    pub fn resource_views(&self) -> Vec<ResourceView<'_>> {
        self.resources
            .iter()
            .map(|r| ResourceView {
                uri: &r.uri,
                scopes: &r.scopes,
            })
            .collect()
    }

    /// An MCP server by id.
    pub fn resource_by_id(&self, id: &str) -> Option<&Arc<Resource>> {
        self.resources.iter().find(|r| r.record.id == id)
    }

    /// Name of a session cookie etc., prefixed `__Host-` when the issuer is https.
    pub fn cookie_name(&self, base: &str) -> String {
        if self.https {
            format!("__Host-{base}")
        } else {
            base.to_owned()
        }
    }
}

/// Resolves a stored issuer (absolute, or a path relative to the public URL).
pub fn resolve_issuer(stored: &str, public_url: &Url) -> String {
    if stored.starts_with("http://") || stored.starts_with("https://") {
        return stored.trim_end_matches('/').to_owned();
    }
    let base = public_url.as_str().trim_end_matches('/');
    format!("{base}{}", stored.trim_end_matches('/'))
}

fn authority_of(url: &Url) -> String {
    format!(
        "{}:{}",
        url.host_str().unwrap_or_default().to_ascii_lowercase(),
        url.port_or_known_default().unwrap_or(0)
    )
}

/// Normalises a request `Host` header to `host:port`.
pub fn normalise_host(host: &str, https: bool) -> String {
    let host = host.trim().to_ascii_lowercase();
    let has_port = if host.starts_with('[') {
        host.contains("]:")
    } else {
        host.contains(':')
    };
    if has_port {
        host
    } else {
        format!("{host}:{}", if https { 443 } else { 80 })
    }
}

/// What the server knows about all environments at one generation.
pub struct Snapshot {
    generation: i64,
    /// The environments.
    pub envs: Vec<Arc<EnvHandle>>,
    public_authority: String,
}

impl Snapshot {
    /// The environment whose issuer serves `host` + `path`, with the remaining path.
    ///
    /// Candidates are the environments whose issuer host is the request's host; when none
    /// is (a proxy rewrote Host, or `localhost` vs `127.0.0.1`), those on the public URL's
    /// host. Among them the longest issuer path that prefixes `path` on a segment boundary wins.
    pub fn resolve<'p>(
        &self,
        host: Option<&str>,
        path: &'p str,
    ) -> Option<(Arc<EnvHandle>, &'p str)> {
        let candidates = self.candidates(host);
        candidates
            .into_iter()
            .filter_map(|e| strip_path(path, &e.path).map(|rest| (e, rest)))
            .max_by_key(|(e, _)| e.path.len())
            .map(|(e, rest)| (e.clone(), rest))
    }

    /// The environment whose issuer path is exactly `issuer_path` (for the path-inserted
    /// well-known URLs of RFC 8414 §3.1).
    pub fn resolve_exact(&self, host: Option<&str>, issuer_path: &str) -> Option<Arc<EnvHandle>> {
        let wanted = issuer_path.trim_end_matches('/');
        self.candidates(host)
            .into_iter()
            .find(|e| e.path == wanted)
            .cloned()
    }

    fn candidates(&self, host: Option<&str>) -> Vec<&Arc<EnvHandle>> {
        if let Some(h) = host {
            let mut by_host: Vec<&Arc<EnvHandle>> = Vec::new();
            for e in &self.envs {
                if normalise_host(h, e.https) == e.authority {
                    by_host.push(e);
                }
            }
            if !by_host.is_empty() {
                return by_host;
            }
        }
        self.envs
            .iter()
            .filter(|e| e.authority == self.public_authority)
            .collect()
    }
}

fn strip_path<'p>(path: &'p str, prefix: &str) -> Option<&'p str> {
    if prefix.is_empty() {
        return Some(path);
    }
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// Why environments could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored key could not be used.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyLoadError),
}

/// The cached environments and how to reload them, with the caches that must be dropped
/// whenever the store's generation moves.
pub struct EnvRegistry {
    store: Arc<dyn Store>,
    master: MasterKey,
    public_url: Url,
    current: RwLock<Arc<Snapshot>>,
    reload_lock: tokio::sync::Mutex<()>,
    /// Resolved clients and their secret hashes.
    pub clients: ClientCache,
    /// Verified access tokens.
    pub tokens: TokenCache,
}

impl EnvRegistry {
    /// Loads every environment.
    pub async fn load(
        store: Arc<dyn Store>,
        master: MasterKey,
        public_url: Url,
        now: i64,
    ) -> Result<Self, LoadError> {
        let snapshot = build_snapshot(&*store, &master, &public_url, now).await?;
        Ok(Self {
            store,
            master,
            public_url,
            current: RwLock::new(Arc::new(snapshot)),
            reload_lock: tokio::sync::Mutex::new(()),
            clients: ClientCache::default(),
            tokens: TokenCache::default(),
        })
    }

    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The public URL.
    pub fn public_url(&self) -> &Url {
        &self.public_url
    }

    /// Drops the client and token caches (after a change made through this server, which
    /// must show at once rather than at the next poll).
    pub fn drop_caches(&self) {
        self.clients.clear();
        self.tokens.clear();
    }

    /// Reloads if the store's generation moved (or always, with `force`); the client and
    /// token caches are dropped first, as what they hold may have changed too.
    pub async fn refresh(&self, now: i64, force: bool) -> Result<Arc<Snapshot>, LoadError> {
        let _guard = self.reload_lock.lock().await;
        let generation = self.store.generation().await?;
        let current = self.snapshot();
        if !force && generation == current.generation {
            return Ok(current);
        }
        self.drop_caches();
        let fresh =
            Arc::new(build_snapshot(&*self.store, &self.master, &self.public_url, now).await?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh.clone();
        Ok(fresh)
    }

    /// `env` as the store has it now: reloaded if the generation moved since the last poll.
    /// A failed reload is logged and the known state kept (the request then fails on what it
    /// names, as it would have).
    pub async fn latest(&self, env: &Arc<EnvHandle>, now: i64) -> Arc<EnvHandle> {
        match self.refresh(now, false).await {
            Ok(snapshot) => snapshot
                .envs
                .iter()
                .find(|e| e.id() == env.id())
                .cloned()
                .unwrap_or_else(|| env.clone()),
            Err(e) => {
                tracing::error!(error = %e, "reloading environments failed");
                env.clone()
            }
        }
    }

    /// `env`, reloaded first if the request names an MCP server (`resource`, `audience`) this
    /// node has not loaded, or names none while none is loaded. The CLI or another node may
    /// have added it since the last poll (every 250 ms); a request right after must not fail
    /// for that.
    pub async fn knowing_resources(
        &self,
        env: &Arc<EnvHandle>,
        params: &Params,
        now: i64,
    ) -> Arc<EnvHandle> {
        let unknown = names_unknown_resource(env, params);
        if unknown {
            self.latest(env, now).await
        } else {
            env.clone()
        }
    }

    /// An MCP server of `env` by id, reloading once if this node has not loaded it yet (a
    /// grant made through another node may name one added since the last poll).
    pub async fn resource(
        &self,
        env: &Arc<EnvHandle>,
        id: &str,
        now: i64,
    ) -> Option<Arc<Resource>> {
        if let Some(r) = env.resource_by_id(id) {
            return Some(r.clone());
        }
        self.latest(env, now).await.resource_by_id(id).cloned()
    }
}

/// Whether `params` name an MCP server `env` does not have, or name none while it has none.
fn names_unknown_resource(env: &EnvHandle, params: &Params) -> bool {
    let mut named = false;
    for raw in ["resource", "audience"]
        .into_iter()
        .filter_map(|n| params.get(n))
    {
        named = true;
        if RequestedResource::parse(raw).is_ok_and(|r| env.find_resource(&r).is_none()) {
            return true;
        }
    }
    !named && env.resources.is_empty()
}

async fn build_snapshot(
    store: &dyn Store,
    master: &MasterKey,
    public_url: &Url,
    now: i64,
) -> Result<Snapshot, LoadError> {
    // Read the generation first: a change racing with this load triggers another reload.
    let generation = store.generation().await?;
    let mut envs = Vec::new();
    for record in store.list_environments().await? {
        let keys = KeyRing::load(store.list_keys(&record.id, now).await?, master)?;
        let resources: Vec<Arc<Resource>> = store
            .list_resources(&record.id)
            .await?
            .into_iter()
            .map(|r| Arc::new(Resource::new(r)))
            .collect();
        envs.push(Arc::new(build_handle(record, keys, resources, public_url)));
    }
    Ok(Snapshot {
        generation,
        envs,
        public_authority: authority_of(public_url),
    })
}

fn build_handle(
    record: EnvironmentRecord,
    keys: KeyRing,
    resources: Vec<Arc<Resource>>,
    public_url: &Url,
) -> EnvHandle {
    let issuer = resolve_issuer(&record.issuer, public_url);
    let parsed = Url::parse(&issuer).unwrap_or_else(|_| public_url.clone());
    let mut scopes: Vec<String> = scope::IDENTITY_SCOPES
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
    for r in &resources {
        for s in r.scopes.iter() {
            if !scopes.iter().any(|x| x == s) {
                scopes.push(s.to_owned());
            }
        }
    }
    let metadata = AuthorizationServerMetadata::new(&MetadataInput {
        issuer: &issuer,
        scopes,
        registration: record.settings.registration != RegistrationMode::Off,
        protected_resources: resources.iter().map(|r| r.record.uri.clone()).collect(),
        client_id_metadata_documents: record.settings.cimd.enabled,
    });
    let metadata_json = Arc::new(serde_json::to_string(&metadata).unwrap_or_default());
    EnvHandle {
        authority: authority_of(&parsed),
        path: parsed.path().trim_end_matches('/').to_owned(),
        https: parsed.scheme() == "https",
        issuer,
        record,
        keys,
        resources,
        metadata_json,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issuer_resolution() {
        let public = Url::parse("http://127.0.0.1:8080/").unwrap();
        assert_eq!(resolve_issuer("", &public), "http://127.0.0.1:8080");
        assert_eq!(
            resolve_issuer("/prod", &public),
            "http://127.0.0.1:8080/prod"
        );
        assert_eq!(
            resolve_issuer("https://auth.example.com/", &public),
            "https://auth.example.com"
        );
    }

    fn handle(issuer: &str) -> EnvHandle {
        let record = EnvironmentRecord {
            id: "prod".into(),
            issuer: issuer.into(),
            profile: Profile::Production,
            settings: Default::default(),
            created_at: 0,
        };
        let master = MasterKey::from_text(&gatehouse_oauth::secret::b64url(&[0; 32])).unwrap();
        let public = Url::parse("http://127.0.0.1:8080").unwrap();
        build_handle(
            record,
            KeyRing::load(vec![], &master).unwrap(),
            vec![],
            &public,
        )
    }

    #[test]
    fn https_issuers_get_host_prefixed_cookie_names() {
        let secure = handle("https://auth.example.com/prod");
        assert!(secure.https);
        assert_eq!(secure.cookie_name("gh_browser"), "__Host-gh_browser");
        assert_eq!(secure.path, "/prod");
        let plain = handle("/prod");
        assert!(!plain.https);
        assert_eq!(plain.cookie_name("gh_browser"), "gh_browser");
        assert_eq!(plain.issuer, "http://127.0.0.1:8080/prod");
    }

    #[test]
    fn host_normalisation() {
        assert_eq!(normalise_host("LocalHost", false), "localhost:80");
        assert_eq!(normalise_host("a.example:8443", true), "a.example:8443");
        assert_eq!(normalise_host("[::1]", true), "[::1]:443");
        assert_eq!(normalise_host("[::1]:9", true), "[::1]:9");
    }

    #[test]
    fn path_prefix_on_segment_boundary() {
        assert_eq!(strip_path("/prod/token", "/prod"), Some("/token"));
        assert_eq!(strip_path("/prod", "/prod"), Some(""));
        assert_eq!(strip_path("/production/token", "/prod"), None);
        assert_eq!(strip_path("/token", ""), Some("/token"));
    }
}
