//! One issuer's JSON Web Key Set: fetched on first use, refreshed when older than its max
//! age, and refetched when a token names an unknown `kid` (a key rotation) — but at most
//! once per minimum interval, and by one task at a time, so a flood of tokens with made-up
//! `kid`s costs the authorization server one request per interval.

use std::sync::{Arc, PoisonError, RwLock};

use gatehouse_oauth::jose::{Algorithm, Jwk, VerifyingKey};
use serde::Deserialize;
use serde_json::Value;

use super::{FetchError, Fetcher, VerifyError};
use crate::clock::Clock;
use crate::discovery::Discovery;

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

#[derive(Clone, Debug, Default)]
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

/// The key set of one issuer.
pub(crate) struct JwksCache {
    issuer: String,
    explicit_uri: Option<String>,
    discovery: Arc<Discovery>,
    fetcher: Fetcher,
    clock: Arc<dyn Clock>,
    algorithms: Vec<Algorithm>,
    timing: JwksTiming,
    state: RwLock<State>,
    gate: tokio::sync::Mutex<()>,
}

#[derive(Deserialize)]
struct JwksDoc {
    keys: Vec<Value>,
}

impl JwksCache {
    pub(crate) fn new(
        issuer: &str,
        explicit_uri: Option<String>,
        discovery: Arc<Discovery>,
        fetcher: Fetcher,
        clock: Arc<dyn Clock>,
        algorithms: Vec<Algorithm>,
        timing: JwksTiming,
    ) -> Self {
        Self {
            issuer: issuer.to_owned(),
            explicit_uri,
            discovery,
            fetcher,
            clock,
            algorithms,
            timing,
            state: RwLock::default(),
            gate: tokio::sync::Mutex::new(()),
        }
    }

    fn snapshot(&self) -> State {
        self.state
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The generation of the current key set, if it is fresh (a cached token verified under
    /// it is still good).
    pub(crate) fn fresh_generation(&self, now: i64) -> Option<u64> {
        let st = self.state.read().unwrap_or_else(PoisonError::into_inner);
        (st.keys.is_some() && now - st.fetched_at < self.timing.max_age).then_some(st.generation)
    }

    /// Keys to verify a token signed with `kid`. Fetches if there are none yet, if they are
    /// stale, or if `kid` is unknown and the last fetch is older than the minimum interval.
    /// The returned keys may still lack `kid`; the caller then rejects the token.
    pub(crate) async fn keys_for(&self, kid: &str) -> Result<Keys, VerifyError> {
        let now = self.clock.now();
        let seen = self.snapshot();
        let fresh = now - seen.fetched_at < self.timing.max_age;
        if let Some(keys) = seen.keys.as_ref().filter(|k| fresh && has(k, kid)) {
            return Ok(Keys {
                keys: keys.clone(),
                generation: seen.generation,
            });
        }
        let _gate = self.gate.lock().await;
        let cur = self.snapshot();
        let interval = match cur.error {
            Some(_) => FAILURE_BACKOFF_SECS.min(self.timing.min_refetch),
            None => self.timing.min_refetch,
        };
        let recent = cur.attempted_at.is_some_and(|t| now - t < interval);
        // Another task fetched while this one waited, or one did so too recently: share it.
        if cur.attempts != seen.attempts || recent {
            return current(&cur);
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
            }
            Err(e) => {
                tracing::warn!(issuer = %self.issuer, error = %e, "JWKS fetch failed");
                st.error = Some(e.to_string());
            }
        }
        current(&st)
    }

    async fn uri(&self) -> String {
        if let Some(uri) = &self.explicit_uri {
            return uri.clone();
        }
        match self.discovery.get().await {
            Ok(meta) if meta.jwks_uri.is_some() => meta.jwks_uri.clone().unwrap_or_default(),
            Ok(_) | Err(_) => format!("{}/jwks.json", self.issuer),
        }
    }

    async fn fetch(&self) -> Result<(Vec<Jwk>, Vec<VerifyingKey>), FetchError> {
        let uri = self.uri().await;
        let raw = self.fetcher.get(&uri).await?;
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
