//! One issuer's JSON Web Key Set: fetched on first use, refreshed when older than its max
//! age, and refetched when a token names an unknown `kid` (a key rotation) — but at most
//! once per minimum interval, and by one task at a time, so a flood of tokens with made-up
//! `kid`s costs the authorization server one request per interval.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};

use bytes::Bytes;
use gatehouse_oauth::jose::{Algorithm, Jwk, VerifyingKey};
use serde::Deserialize;
use serde_json::Value;

use super::{FetchError, Fetcher, VerifyError};
use crate::clock::Clock;
use crate::discovery::Discovery;

/// The future a [`JwksSource`] returns: the JWKS document, or why it could not be had.
pub type JwksFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<u8>, String>> + Send + 'a>>;

/// Where a [`super::JwtVerifier`] gets the (first) issuer's JSON Web Key Set.
///
/// The default fetches the issuer's `jwks_uri` over HTTP. An authorization server running in
/// the same process can hand over its key set directly instead
/// ([`crate::GuardConfigBuilder::jwks_source`]), so the guard never depends on reaching the
/// server's public URL from the server's own host. Either way the key set is cached, refetched
/// when older than [`crate::GuardConfigBuilder::jwks_max_age`] and, at most once per
/// [`crate::GuardConfigBuilder::jwks_min_refetch_interval`], when a token names an unknown
/// `kid`.
pub trait JwksSource: Send + Sync + 'static {
    /// The current key set: a JWKS document (`{"keys": [...]}`, RFC 7517 §5).
    fn jwks(&self) -> JwksFuture<'_>;
}

/// Where one issuer's keys come from.
pub(crate) enum KeySource {
    /// `jwks_uri` (explicit, else from the metadata, else `<issuer>/jwks.json`) over HTTP.
    Http {
        explicit_uri: Option<String>,
        discovery: Arc<Discovery>,
        fetcher: Fetcher,
    },
    /// Handed over by the embedding application.
    Custom(Arc<dyn JwksSource>),
}

/// After a failed fetch, the next attempt waits at least this long (or the minimum refetch
/// interval, if shorter).
const FAILURE_BACKOFF_SECS: i64 = 5;

/// Keys ready for verification, and the generation they belong to: it changes whenever the
/// published key set changes, which invalidates tokens cached under the previous one.
#[derive(Clone, Debug)]
pub(crate) struct Keys {
    pub(crate) keys: Arc<[VerifyingKey]>,
    pub(crate) generation: u64,
}

#[derive(Debug, Default)]
struct State {
    keys: Option<Arc<[VerifyingKey]>>,
    jwks: Vec<Jwk>,
    generation: u64,
    fetched_at: i64,
    attempts: u64,
    attempted_at: Option<i64>,
    error: Option<String>,
}

/// Timing of JWKS fetches, in seconds.
#[derive(Clone, Copy, Debug)]
pub(crate) struct JwksTiming {
    pub(crate) max_age: i64,
    pub(crate) min_refetch: i64,
}

/// What a task saw of the state before waiting for the gate.
struct Seen {
    keys: Option<Arc<[VerifyingKey]>>,
    generation: u64,
    fetched_at: i64,
    attempts: u64,
}

/// The key set of one issuer.
pub(crate) struct JwksCache {
    issuer: String,
    source: KeySource,
    clock: Arc<dyn Clock>,
    algorithms: Vec<Algorithm>,
    timing: JwksTiming,
    state: RwLock<State>,
    /// The generation of the current keys and until when they are fresh (`fetched_at +
    /// max_age`, 0 before the first fetch): read without locking on every cached token.
    fresh_generation: AtomicU64,
    fresh_until: AtomicI64,
    gate: tokio::sync::Mutex<()>,
}

#[derive(Deserialize)]
struct JwksDoc {
    keys: Vec<Value>,
}

impl JwksCache {
    pub(crate) fn new(
        issuer: &str,
        source: KeySource,
        clock: Arc<dyn Clock>,
        algorithms: Vec<Algorithm>,
        timing: JwksTiming,
    ) -> Self {
        Self {
            issuer: issuer.to_owned(),
            source,
            clock,
            algorithms,
            timing,
            state: RwLock::default(),
            fresh_generation: AtomicU64::new(0),
            fresh_until: AtomicI64::new(0),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    fn seen(&self) -> Seen {
        let st = self.state.read().unwrap_or_else(PoisonError::into_inner);
        Seen {
            keys: st.keys.clone(),
            generation: st.generation,
            fetched_at: st.fetched_at,
            attempts: st.attempts,
        }
    }

    /// The generation of the current key set, if it is fresh (a cached token verified under
    /// it is still good). Two atomic loads, no lock: this runs for every cached token.
    pub(crate) fn fresh_generation(&self, now: i64) -> Option<u64> {
        let generation = self.fresh_generation.load(Ordering::Acquire);
        (now < self.fresh_until.load(Ordering::Acquire)).then_some(generation)
    }

    /// Keys to verify a token signed with `kid`. Fetches if there are none yet, if they are
    /// stale, or if `kid` is unknown and the last fetch is older than the minimum interval.
    /// The returned keys may still lack `kid`; the caller then rejects the token.
    pub(crate) async fn keys_for(&self, kid: &str) -> Result<Keys, VerifyError> {
        let now = self.clock.now();
        let seen = self.seen();
        let fresh = now - seen.fetched_at < self.timing.max_age;
        if let Some(keys) = seen.keys.as_ref().filter(|k| fresh && has(k, kid)) {
            return Ok(Keys {
                keys: keys.clone(),
                generation: seen.generation,
            });
        }
        let _gate = self.gate.lock().await;
        {
            let cur = self.state.read().unwrap_or_else(PoisonError::into_inner);
            let interval = match cur.error {
                Some(_) => FAILURE_BACKOFF_SECS.min(self.timing.min_refetch),
                None => self.timing.min_refetch,
            };
            let recent = cur.attempted_at.is_some_and(|t| now - t < interval);
            // Another task fetched while this one waited, or one did so too recently: share
            // it.
            if cur.attempts != seen.attempts || recent {
                return current(&cur);
            }
        }
        let result = self.fetch().await;
        self.record(result, now)
    }

    /// Stores a fetch's outcome; a failure keeps the previous keys (served stale).
    fn record(
        &self,
        result: Result<(Vec<Jwk>, Vec<VerifyingKey>), FetchError>,
        now: i64,
    ) -> Result<Keys, VerifyError> {
        let mut st = self.state.write().unwrap_or_else(PoisonError::into_inner);
        st.attempts += 1;
        st.attempted_at = Some(now);
        match result {
            Ok((jwks, keys)) => {
                if st.keys.is_none() || jwks != st.jwks {
                    st.generation += 1;
                }
                st.keys = Some(keys.into());
                st.jwks = jwks;
                st.fetched_at = now;
                st.error = None;
                // Until first, so a reader that sees the new generation sees its freshness.
                self.fresh_until
                    .store(now.saturating_add(self.timing.max_age), Ordering::Release);
                self.fresh_generation
                    .store(st.generation, Ordering::Release);
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "JWKS fetch failed");
                st.error = Some(e.to_string());
            }
        }
        current(&st)
    }

    /// The key set document, and how logs name where it came from.
    async fn document(&self) -> Result<(Bytes, String), FetchError> {
        match &self.source {
            KeySource::Http {
                explicit_uri,
                discovery,
                fetcher,
            } => {
                let uri = match explicit_uri {
                    Some(uri) => uri.clone(),
                    None => match discovery.get().await {
                        Ok(meta) if meta.jwks_uri.is_some() => {
                            meta.jwks_uri.clone().unwrap_or_default()
                        }
                        Ok(_) | Err(_) => format!("{}/jwks.json", self.issuer),
                    },
                };
                Ok((fetcher.get(&uri).await?, uri))
            }
            KeySource::Custom(source) => {
                let what = format!("the in-process key set of {}", self.issuer);
                match source.jwks().await {
                    Ok(doc) => Ok((Bytes::from(doc), what)),
                    Err(e) => Err(FetchError::new(&what, e)),
                }
            }
        }
    }

    async fn fetch(&self) -> Result<(Vec<Jwk>, Vec<VerifyingKey>), FetchError> {
        let (raw, uri) = self.document().await?;
        let doc: JwksDoc = serde_json::from_slice(&raw)
            .map_err(|e| FetchError::new(&uri, format!("not a JWKS: {e}")))?;
        let mut jwks = Vec::new();
        let mut keys = Vec::new();
        for value in doc.keys {
            match self.accept(value) {
                Ok((jwk, key)) => {
                    jwks.push(jwk);
                    keys.push(key);
                }
                Err(why) => tracing::debug!(jwks = %uri, %why, "JWKS entry skipped"),
            }
        }
        tracing::debug!(jwks = %uri, keys = keys.len(), "JWKS fetched");
        Ok((jwks, keys))
    }

    /// A signing key of an allowed algorithm; its `alg` is pinned to it (RFC 8725 §3.1).
    fn accept(&self, value: Value) -> Result<(Jwk, VerifyingKey), String> {
        let jwk: Jwk = serde_json::from_value(value).map_err(|e| e.to_string())?;
        if jwk.use_ != "sig" {
            return Err(format!("key {} is not a signing key", jwk.kid));
        }
        match Algorithm::parse(&jwk.alg) {
            Some(alg) if self.algorithms.contains(&alg) => {}
            _ => return Err(format!("key {} has a disallowed alg {}", jwk.kid, jwk.alg)),
        }
        let key = VerifyingKey::from_jwk(&jwk).map_err(|e| e.to_string())?;
        Ok((jwk, key))
    }
}

fn has(keys: &[VerifyingKey], kid: &str) -> bool {
    keys.iter().any(|k| k.kid() == kid)
}

fn current(st: &State) -> Result<Keys, VerifyError> {
    match &st.keys {
        Some(keys) => Ok(Keys {
            keys: keys.clone(),
            generation: st.generation,
        }),
        None => Err(VerifyError::Unavailable(
            st.error
                .clone()
                .unwrap_or_else(|| "JWKS not fetched yet".into()),
        )),
    }
}
