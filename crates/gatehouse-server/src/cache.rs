//! In-memory caches for the per-request hot paths: resolved clients (with the SHA-256 hashes
//! of their secrets) and verified access tokens.
//!
//! Both live in [`crate::env::EnvRegistry`] and are dropped whenever the store's generation
//! moves — the signal that already reloads environments, polled every 250 ms, so a change made
//! by the CLI or another node (a client disabled, deleted, its secret rotated) is seen within
//! a poll interval. Changes made through this server's admin API or dashboard drop them at
//! once. Only positive answers are cached: an unknown `client_id` is looked up every time, so
//! a client created a moment ago works immediately, and every way of not knowing a client
//! still ends in `invalid_client` from the store's answer.
//!
//! A value read from the store is inserted only if nothing was dropped since before the read
//! began ([`Epoch`]), so a read racing with a change cannot put the stale record back.
//!
//! Nothing clear is kept: clients carry secret hashes, tokens are keyed by SHA-256.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use gatehouse_oauth::claims::AccessTokenClaims;

use crate::clients::Client;

/// Most clients kept; the cache starts over when one more would exceed it.
pub const MAX_CLIENTS: usize = 4096;
/// Most verified access tokens kept; expired ones go first, then everything.
pub const MAX_TOKENS: usize = 16_384;

/// Taken before a store read or a verification and handed back to `insert`: the value is
/// kept only if the cache was not dropped in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Epoch(u64);

fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|p| p.into_inner())
}

fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|p| p.into_inner())
}

/// Resolved clients by environment and `client_id` as presented.
#[derive(Default)]
pub struct ClientCache {
    inner: RwLock<ClientMap>,
}

#[derive(Default)]
struct ClientMap {
    epoch: u64,
    len: usize,
    by_env: HashMap<String, HashMap<String, Arc<Client>>>,
}

impl ClientCache {
    /// The current epoch (read it before the store).
    pub fn epoch(&self) -> Epoch {
        Epoch(read(&self.inner).epoch)
    }

    /// A cached client.
    pub fn get(&self, env_id: &str, client_id: &str) -> Option<Arc<Client>> {
        read(&self.inner)
            .by_env
            .get(env_id)?
            .get(client_id)
            .cloned()
    }

    /// Keeps a client resolved from what the store said at `epoch` (ignored if the cache was
    /// dropped since).
    pub fn insert(&self, epoch: Epoch, env_id: &str, client: &Arc<Client>) {
        let mut guard = write(&self.inner);
        let ClientMap {
            epoch: e,
            len,
            by_env,
        } = &mut *guard;
        if *e != epoch.0 {
            return;
        }
        if *len >= MAX_CLIENTS {
            by_env.clear();
            *len = 0;
        }
        let env = match by_env.get_mut(env_id) {
            Some(m) => m,
            None => by_env.entry(env_id.to_owned()).or_default(),
        };
        if env.insert(client.id().to_owned(), client.clone()).is_none() {
            *len += 1;
        }
    }

    /// Forgets every client.
    pub fn clear(&self) {
        let mut m = write(&self.inner);
        m.epoch += 1;
        m.by_env.clear();
        m.len = 0;
    }

    /// How many clients are cached.
    pub fn len(&self) -> usize {
        read(&self.inner).len
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The SHA-256 of a token: what the token cache is keyed by.
pub fn token_key(token: &str) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    let mut key = [0u8; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

/// Access tokens whose signature, `typ` and issuer were verified, by SHA-256 of the token,
/// until they expire. Revocation is not cached: callers still ask the store.
#[derive(Default)]
pub struct TokenCache {
    inner: RwLock<TokenMap>,
}

#[derive(Default)]
struct TokenMap {
    epoch: u64,
    map: HashMap<[u8; 32], TokenEntry>,
}

struct TokenEntry {
    env_id: Box<str>,
    claims: Arc<AccessTokenClaims>,
    /// The token's `exp`, or earlier when its key is removed before.
    until: i64,
}

impl TokenCache {
    /// The current epoch (read it before verifying).
    pub fn epoch(&self) -> Epoch {
        Epoch(read(&self.inner).epoch)
    }

    /// The verified claims of a token of `env_id`, if still valid at `now`.
    pub fn get(&self, env_id: &str, key: &[u8; 32], now: i64) -> Option<Arc<AccessTokenClaims>> {
        read(&self.inner)
            .map
            .get(key)
            .filter(|e| &*e.env_id == env_id && e.until > now)
            .map(|e| e.claims.clone())
    }

    /// Keeps, until `until`, the claims of a token verified for `env_id` at `epoch`.
    pub fn insert(
        &self,
        epoch: Epoch,
        env_id: &str,
        key: [u8; 32],
        claims: &Arc<AccessTokenClaims>,
        until: i64,
        now: i64,
    ) {
        if until <= now {
            return;
        }
        let mut m = write(&self.inner);
        if m.epoch != epoch.0 {
            return;
        }
        if m.map.len() >= MAX_TOKENS {
            m.map.retain(|_, e| e.until > now);
            if m.map.len() >= MAX_TOKENS {
                m.map.clear();
            }
        }
        m.map.insert(
            key,
            TokenEntry {
                env_id: env_id.into(),
                claims: claims.clone(),
                until,
            },
        );
    }

    /// Forgets every token.
    pub fn clear(&self) {
        let mut m = write(&self.inner);
        m.epoch += 1;
        m.map.clear();
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        read(&self.inner).map.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Arc<AccessTokenClaims> {
        Arc::new(AccessTokenClaims {
            iss: "http://issuer".into(),
            sub: "s".into(),
            aud: "http://mcp".into(),
            client_id: "c".into(),
            scope: String::new(),
            iat: 0,
            exp,
            jti: "j".into(),
            auth_time: None,
            sid: None,
        })
    }

    #[test]
    fn a_value_read_before_a_drop_is_not_kept() {
        let cache = TokenCache::default();
        let before = cache.epoch();
        cache.clear();
        cache.insert(before, "dev", token_key("t"), &claims(10), 10, 0);
        assert!(cache.get("dev", &token_key("t"), 0).is_none());
        cache.insert(cache.epoch(), "dev", token_key("t"), &claims(10), 10, 0);
        assert!(cache.get("dev", &token_key("t"), 0).is_some());
        assert!(cache.get("dev", &token_key("t"), 10).is_none(), "expired");
    }

    #[test]
    fn tokens_are_kept_per_environment() {
        let cache = TokenCache::default();
        cache.insert(cache.epoch(), "dev", token_key("t"), &claims(10), 10, 0);
        assert!(cache.get("prod", &token_key("t"), 0).is_none());
        assert!(cache.get("dev", &token_key("u"), 0).is_none());
    }

    #[test]
    fn the_token_cache_is_bounded_and_drops_expired_tokens_first() {
        let cache = TokenCache::default();
        let e = cache.epoch();
        for i in 0..MAX_TOKENS {
            let exp = if i == 0 { 100 } else { 5 };
            cache.insert(e, "dev", token_key(&i.to_string()), &claims(exp), exp, 0);
        }
        assert_eq!(cache.len(), MAX_TOKENS);
        cache.insert(e, "dev", token_key("new"), &claims(100), 100, 10);
        assert_eq!(cache.len(), 2, "expired tokens were dropped");
        assert!(cache.get("dev", &token_key("0"), 10).is_some());
    }
}
