//! Who a `client_id` is. Three kinds of client, one answer:
//!
//! - `https://…` — a Client ID Metadata Document ([`cimd`]), fetched safely, cached, checked
//!   against the environment's trust policy;
//! - `ghd_…` — a self-contained dynamic registration ([`dcr`]), valid without its row;
//! - anything else — a pre-registered (static) client in the store.
//!
//! Every way of not finding a client ([`Unknown`]) maps to `invalid_client`, with a
//! description precise enough to act on: that is what MCP clients take as "register again".

pub mod cimd;
pub mod dcr;
pub mod keys;
pub mod known;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use gatehouse_oauth::OAuthError;
use gatehouse_oauth::client::AuthMethod;
use gatehouse_oauth::redirect::{RedirectKind, classify};
use gatehouse_oauth::secret::SecretHash;
use gatehouse_store::{ClientKind, ClientRecord, ClientSecretRecord};

use self::known::KnownClient;
use crate::env::EnvHandle;
use crate::respond::internal;
use crate::state::AppState;

/// A resolved client. Shared (`Arc`) between the requests that find it in the cache.
#[derive(Debug)]
pub struct Client {
    /// The client as a record; `record.client_id` is the client_id as presented.
    pub record: ClientRecord,
    /// For dynamic clients, the logical client (`dcr_…`) all identical registrations share.
    pub logical_id: Option<String>,
    /// The known client this provably is, if any.
    pub verified: Option<&'static KnownClient>,
    /// What a presented secret is checked against (hashes only).
    pub(crate) secrets: Secrets,
    /// Last use recorded in the store by this server (seconds; `i64::MIN` for never).
    last_use: AtomicI64,
}

/// What a client's presented secret must match: SHA-256 hashes, never clear values.
#[derive(Debug, Default)]
pub(crate) enum Secrets {
    /// No shared secret (public, `private_key_jwt`, metadata-document clients).
    #[default]
    None,
    /// A pre-registered client's stored secrets: hash and expiry.
    Stored(Vec<(SecretHash, Option<i64>)>),
    /// A dynamic client's secret, derived from its client_id (see [`dcr::secret`]).
    Derived(SecretHash),
}

impl Secrets {
    fn stored(records: Vec<ClientSecretRecord>) -> Self {
        Self::Stored(
            records
                .into_iter()
                .map(|s| (s.hash, s.expires_at))
                .collect(),
        )
    }

    /// Whether `presented` is a live secret, in constant time per secret: every secret is
    /// compared, so timing does not reveal which one matched.
    pub(crate) fn matches(&self, presented: &str, now: i64) -> bool {
        let compare = |h: &SecretHash, p: &SecretHash| {
            aws_lc_rs::constant_time::verify_slices_are_equal(
                h.as_str().as_bytes(),
                p.as_str().as_bytes(),
            )
            .is_ok()
        };
        match self {
            Self::None => false,
            Self::Derived(h) => compare(h, &SecretHash::of(presented)),
            Self::Stored(list) => {
                let p = SecretHash::of(presented);
                let mut ok = false;
                for (h, expires_at) in list {
                    ok |= compare(h, &p) && expires_at.is_none_or(|e| e > now);
                }
                ok
            }
        }
    }
}

impl Client {
    /// A resolved client.
    pub(crate) fn new(
        record: ClientRecord,
        logical_id: Option<String>,
        verified: Option<&'static KnownClient>,
        secrets: Secrets,
    ) -> Self {
        let last_use = record.last_used_at.unwrap_or(i64::MIN);
        Self {
            record,
            logical_id,
            verified,
            secrets,
            last_use: AtomicI64::new(last_use),
        }
    }

    /// The client_id as presented.
    pub fn id(&self) -> &str {
        &self.record.client_id
    }

    /// The registered token endpoint authentication method.
    pub fn auth_method(&self) -> AuthMethod {
        AuthMethod::parse(&self.record.metadata.token_endpoint_auth_method)
            .unwrap_or(AuthMethod::ClientSecretBasic)
    }

    /// The display name.
    pub fn name(&self) -> &str {
        self.record
            .metadata
            .client_name
            .as_deref()
            .unwrap_or(&self.record.client_id)
    }

    /// The key of the row that holds this client's mutable state.
    pub fn row_id(&self) -> &str {
        self.logical_id.as_deref().unwrap_or(&self.record.client_id)
    }

    /// What consent is remembered under. Registrations of one logical client share consent
    /// only when every redirect URI is https: codes can then reach only the owner of those
    /// URIs, whoever registered. Loopback and private-scheme URIs can be claimed by any
    /// program on the machine, so there consent stays per registration (confused deputy).
    pub fn consent_key(&self) -> &str {
        let https_only = self
            .record
            .metadata
            .redirect_uris
            .iter()
            .all(|u| matches!(classify(u), Ok(RedirectKind::Https)));
        match &self.logical_id {
            Some(l) if https_only => l,
            _ => &self.record.client_id,
        }
    }
}

/// Why a client_id did not resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unknown {
    /// Nothing by that id in this environment.
    NotRegistered,
    /// An administrator disabled it.
    Disabled,
    /// A dynamic registration of another environment (named when it is on this server).
    ForeignEnvironment(Option<String>),
    /// A metadata document URL that could not be used.
    Metadata(cimd::Failure),
}

impl Unknown {
    /// The `invalid_client` error: client-facing description plus operator detail.
    pub fn error(&self, env: &EnvHandle, client_id: &str) -> OAuthError {
        let description = match self {
            Self::NotRegistered => "unknown client; register again".to_owned(),
            Self::Disabled => "this client has been disabled by the administrator".to_owned(),
            Self::ForeignEnvironment(_) => {
                "this client was registered with another authorization server or environment; register again".to_owned()
            }
            Self::Metadata(f) => format!("the client metadata document could not be used: {}", f.reason),
        };
        let detail = match self {
            Self::NotRegistered => format!(
                "client_id {client_id:?} is not registered in environment {} (registered elsewhere, deleted, or data reset)",
                env.id()
            ),
            Self::Disabled => format!("client {client_id:?} is disabled"),
            Self::ForeignEnvironment(Some(other)) => {
                format!(
                    "client_id was issued by environment {other}, not {}",
                    env.id()
                )
            }
            Self::ForeignEnvironment(None) => {
                format!(
                    "client_id is a dynamic registration not signed by environment {} (another server, or a new master key)",
                    env.id()
                )
            }
            Self::Metadata(f) => format!("{} {}: {}", f.kind.as_str(), f.url, f.reason),
        };
        OAuthError::invalid_client(description).with_detail(detail)
    }
}

/// Resolves a client_id in an environment. `Err` only for unexpected failures.
///
/// Pre-registered and dynamic clients come from the client cache when they can (see
/// [`crate::cache`]); what is not found, disabled or foreign is looked up every time.
pub async fn resolve(
    state: &AppState,
    env: &EnvHandle,
    client_id: &str,
) -> Result<Result<Arc<Client>, Unknown>, OAuthError> {
    if gatehouse_oauth::cimd::is_url_client_id(client_id) {
        return Ok(cimd::resolve(state, env, client_id).await?.map(Arc::new));
    }
    let cache = &state.envs.clients;
    if let Some(c) = cache.get(env.id(), client_id) {
        return Ok(Ok(c));
    }
    let epoch = cache.epoch();
    let resolved = if client_id.starts_with(dcr::PREFIX) {
        resolve_dynamic(state, env, client_id).await?
    } else {
        resolve_static(state, env, client_id).await?
    };
    Ok(resolved.map(|c| {
        let c = Arc::new(c);
        cache.insert(epoch, env.id(), &c);
        c
    }))
}

async fn resolve_static(
    state: &AppState,
    env: &EnvHandle,
    client_id: &str,
) -> Result<Result<Client, Unknown>, OAuthError> {
    let row = state
        .store
        .get_client(env.id(), client_id)
        .await
        .map_err(|e| internal("client lookup", e))?;
    let r = match row {
        Some(r) if r.kind != ClientKind::Static => return Ok(Err(Unknown::NotRegistered)),
        Some(r) if r.disabled => return Ok(Err(Unknown::Disabled)),
        Some(r) => r,
        None => return Ok(Err(Unknown::NotRegistered)),
    };
    let uses_secret = AuthMethod::parse(&r.metadata.token_endpoint_auth_method)
        .unwrap_or(AuthMethod::ClientSecretBasic)
        .uses_secret();
    let secrets = if uses_secret {
        Secrets::stored(
            state
                .store
                .client_secrets(env.id(), client_id)
                .await
                .map_err(|e| internal("client secret lookup", e))?,
        )
    } else {
        Secrets::None
    };
    let verified = known::by_verified_redirects(&r.metadata.redirect_uris);
    Ok(Ok(Client::new(r, None, verified, secrets)))
}

async fn resolve_dynamic(
    state: &AppState,
    env: &EnvHandle,
    client_id: &str,
) -> Result<Result<Client, Unknown>, OAuthError> {
    let snapshot = state.envs.snapshot();
    let others: Vec<&str> = snapshot
        .envs
        .iter()
        .map(|e| e.id())
        .filter(|e| *e != env.id())
        .collect();
    let reg = match dcr::verify(&state.master, env.id(), client_id, &others) {
        Ok(r) => r,
        Err(dcr::Refused::Malformed) => return Ok(Err(Unknown::NotRegistered)),
        Err(dcr::Refused::WrongEnvironment(other)) => {
            return Ok(Err(Unknown::ForeignEnvironment(other)));
        }
    };
    let row = state
        .store
        .get_client(env.id(), &reg.logical)
        .await
        .map_err(|e| internal("client lookup", e))?;
    if row.as_ref().is_some_and(|r| r.disabled) {
        return Ok(Err(Unknown::Disabled));
    }
    // The row, when present, holds display fields the id leaves out.
    // What the id carries is authoritative; the row only adds the display fields it leaves out.
    let metadata = match &row {
        Some(r) if r.metadata.redirect_uris == reg.meta.redirect_uris => r.metadata.clone(),
        _ => reg.meta.clone(),
    };
    let verified = known::by_verified_redirects(&metadata.redirect_uris);
    let uses_secret = AuthMethod::parse(&metadata.token_endpoint_auth_method)
        .unwrap_or(AuthMethod::ClientSecretBasic)
        .uses_secret();
    let secrets = if uses_secret {
        Secrets::Derived(dcr::secret(&state.master, env.id(), client_id).hash())
    } else {
        Secrets::None
    };
    Ok(Ok(Client::new(
        ClientRecord {
            env_id: env.id().to_owned(),
            client_id: client_id.to_owned(),
            kind: ClientKind::Dynamic,
            metadata,
            created_at: reg.iat,
            disabled: false,
            last_used_at: row.as_ref().and_then(|r| r.last_used_at),
            registrations: row.as_ref().map_or(1, |r| r.registrations),
        },
        Some(reg.logical),
        verified,
        secrets,
    )))
}

/// Records a successful use of a client (at most once a minute per client and server). A
/// dynamic client whose row was lost gets it back.
pub async fn record_use(state: &AppState, env: &EnvHandle, client: &Client, now: i64) {
    let last = client.last_use.load(Ordering::Relaxed);
    if now.saturating_sub(last) < 60 {
        return;
    }
    // One request of the many sharing this cached client writes.
    if client
        .last_use
        .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        return;
    }
    let row_id = client.row_id();
    let result = match state.store.touch_client(env.id(), row_id, now).await {
        Ok(true) => Ok(()),
        Ok(false) if client.record.kind != ClientKind::Static => {
            let row = ClientRecord {
                client_id: row_id.to_owned(),
                last_used_at: Some(now),
                registrations: 1,
                ..client.record.clone()
            };
            state.store.save_client_metadata(&row).await.and(
                state
                    .store
                    .touch_client(env.id(), row_id, now)
                    .await
                    .map(drop),
            )
        }
        Ok(false) => Ok(()),
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        tracing::warn!(error = %e, client = row_id, "could not record client use");
    }
}
