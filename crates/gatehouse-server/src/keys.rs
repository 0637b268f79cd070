//! Signing keys of an environment, unsealed and parsed once per change.
//!
//! Rotation (AS-40, `gatehouse keys rotate`): a new key is published in the JWKS when it is
//! created and starts signing at `activates_at`, after clients' JWKS caches have picked it
//! up; the key it replaces stops signing then and stays published until every token it
//! signed has expired (`removed_at`).

use std::sync::{Arc, Mutex};

use gatehouse_oauth::jose::{Algorithm, Jwk, SigningKey, VerifyingKey};
use gatehouse_store::SigningKeyRecord;

use crate::crypto::MasterKey;

/// Sealing context of a private key: binds the ciphertext to its kid.
pub fn seal_context(kid: &str) -> String {
    format!("signing-key:{kid}")
}

struct Loaded {
    record: SigningKeyRecord,
    key: Arc<SigningKey>,
    verifying: VerifyingKey,
    jwk: Jwk,
}

/// The parsed keys of one environment.
pub struct KeyRing {
    keys: Vec<Loaded>,
    jwks_cache: Mutex<Option<(i64, Arc<String>)>>,
}

/// Why a stored key could not be used.
#[derive(Debug, thiserror::Error)]
#[error("signing key {kid}: {reason}")]
pub struct KeyLoadError {
    kid: String,
    reason: String,
}

impl KeyRing {
    /// Unseals and parses keys read from the store.
    pub fn load(records: Vec<SigningKeyRecord>, master: &MasterKey) -> Result<Self, KeyLoadError> {
        let mut keys = Vec::with_capacity(records.len());
        for record in records {
            let fail = |reason: String| KeyLoadError {
                kid: record.kid.clone(),
                reason,
            };
            let alg = Algorithm::parse(&record.alg)
                .ok_or_else(|| fail(format!("unknown alg {}", record.alg)))?;
            let der = master
                .open(&seal_context(&record.kid), &record.sealed_private_key)
                .ok_or_else(|| {
                    fail(
                        "cannot be unsealed: is this the master key the key was created with?"
                            .into(),
                    )
                })?;
            let key =
                SigningKey::from_pkcs8(&record.kid, alg, &der).map_err(|e| fail(e.to_string()))?;
            let jwk = key.public_jwk();
            let verifying = VerifyingKey::from_jwk(&jwk).map_err(|e| fail(e.to_string()))?;
            keys.push(Loaded {
                record,
                key: Arc::new(key),
                verifying,
                jwk,
            });
        }
        Ok(Self {
            keys,
            jwks_cache: Mutex::new(None),
        })
    }

    /// The key that signs with `alg` at `now`: of the keys active at `now` (activated, not
    /// retired), the most recently activated.
    pub fn signing_key(&self, alg: Algorithm, now: i64) -> Option<Arc<SigningKey>> {
        self.keys
            .iter()
            .filter(|k| {
                k.key.alg() == alg
                    && k.record.activates_at <= now
                    && k.record.retired_at.is_none_or(|r| r > now)
            })
            .max_by_key(|k| (k.record.activates_at, k.record.created_at))
            .map(|k| k.key.clone())
    }

    /// Keys that verify tokens at `now` (every published key).
    pub fn verifying_keys(&self, now: i64) -> Vec<VerifyingKey> {
        self.published(now).map(|k| k.verifying.clone()).collect()
    }

    /// Until when the key `kid` verifies tokens (`i64::MAX` if it is not scheduled for
    /// removal, `i64::MIN` if there is no such key).
    pub fn verifies_until(&self, kid: &str) -> i64 {
        self.keys
            .iter()
            .find(|k| k.record.kid == kid)
            .map_or(i64::MIN, |k| k.record.removed_at.unwrap_or(i64::MAX))
    }

    fn published(&self, now: i64) -> impl Iterator<Item = &Loaded> {
        self.keys
            .iter()
            .filter(move |k| k.record.removed_at.is_none_or(|r| r > now))
    }

    /// The JWKS document (RFC 7517 §5) at `now`, cached until the published set changes.
    pub fn jwks_json(&self, now: i64) -> Arc<String> {
        let mut cache = self.jwks_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((valid_until, json)) = cache.as_ref()
            && now < *valid_until
        {
            return json.clone();
        }
        let keys: Vec<&Jwk> = self.published(now).map(|k| &k.jwk).collect();
        let json = Arc::new(serde_json::json!({ "keys": keys }).to_string());
        let valid_until = self
            .keys
            .iter()
            .filter_map(|k| k.record.removed_at)
            .filter(|r| *r > now)
            .min()
            .unwrap_or(i64::MAX);
        *cache = Some((valid_until, json.clone()));
        json
    }

    /// Records of the loaded keys (no private material).
    pub fn records(&self) -> impl Iterator<Item = &SigningKeyRecord> {
        self.keys.iter().map(|k| &k.record)
    }
}
