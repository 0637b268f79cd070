//! A bounded cache of verified tokens, keyed by the SHA-256 of the token (the token itself
//! is never kept), so a repeated request costs a hash, a read lock and a reference count.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::{PoisonError, RwLock};

/// The cache key of a token: its SHA-256, raw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct TokenKey([u8; 32]);

impl TokenKey {
    /// The key of `token`.
    pub(crate) fn of(token: &str) -> Self {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut key = [0; 32];
        key.copy_from_slice(digest.as_ref());
        Self(key)
    }
}

impl Hash for TokenKey {
    /// The key is already a uniform hash: its first eight bytes are the table hash. Only
    /// verified tokens are ever inserted, so nobody can fill the table with chosen
    /// collisions, and lookups of made-up tokens cost one probe like any other.
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut first = [0; 8];
        first.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_ne_bytes(first));
    }
}

/// Passes [`TokenKey`]'s `write_u64` through.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `TokenKey`; fold anything else in rather than ignore it.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

type Map<V> = HashMap<TokenKey, (V, i64), BuildHasherDefault<PassThrough>>;

/// Entries are served while `now < valid_until` and dropped after; when full, expired
/// entries go first, then an arbitrary tenth of the rest (no token is ever served past
/// its `valid_until`).
#[derive(Debug)]
pub(crate) struct TokenCache<V> {
    capacity: usize,
    map: RwLock<Map<V>>,
}

impl<V: Clone> TokenCache<V> {
    /// A cache of at most `capacity` entries; `0` disables it.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            map: RwLock::new(Map::default()),
        }
    }

    /// Whether the cache holds anything at all (`false` when disabled).
    pub(crate) fn enabled(&self) -> bool {
        self.capacity > 0
    }

    /// The cached value, if present and `now < valid_until`.
    pub(crate) fn get(&self, key: &TokenKey, now: i64) -> Option<V> {
        if self.capacity == 0 {
            return None;
        }
        let expired = {
            let map = self.map.read().unwrap_or_else(PoisonError::into_inner);
            match map.get(key) {
                Some((v, until)) if now < *until => return Some(v.clone()),
                Some(_) => true,
                None => false,
            }
        };
        if expired {
            self.remove_expired(key, now);
        }
        None
    }

    fn remove_expired(&self, key: &TokenKey, now: i64) {
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if map.get(key).is_some_and(|(_, until)| now >= *until) {
            map.remove(key);
        }
    }

    /// Caches `value` until `valid_until` (exclusive).
    pub(crate) fn insert(&self, key: TokenKey, value: V, valid_until: i64, now: i64) {
        if self.capacity == 0 || valid_until <= now {
            return;
        }
        let mut map = self.map.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.retain(|_, (_, until)| now < *until);
            if map.len() >= self.capacity {
                let evict: Vec<TokenKey> = map
                    .keys()
                    .take((self.capacity / 10).max(1))
                    .copied()
                    .collect();
                for k in &evict {
                    map.remove(k);
                }
            }
        }
        map.insert(key, (value, valid_until));
    }

    /// Forgets a token.
    pub(crate) fn remove(&self, key: &TokenKey) {
        self.map
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(key);
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(token: &str) -> TokenKey {
        TokenKey::of(token)
    }

    #[test]
    fn key_is_the_raw_sha256() {
        // SHA-256("abc"), FIPS 180-2 Appendix B.1.
        assert_eq!(
            k("abc").0[..4],
            [0xba, 0x78, 0x16, 0xbf],
            "the first bytes of SHA-256(\"abc\")"
        );
        assert_ne!(k("t1"), k("t2"));
    }

    #[test]
    fn cache_serves_until_valid_until_and_stays_bounded() {
        let c = TokenCache::new(10);
        c.insert(k("t1"), 1u8, 100, 50);
        assert_eq!(c.get(&k("t1"), 99), Some(1));
        assert_eq!(c.get(&k("t1"), 100), None);
        assert_eq!(c.len(), 0, "expired entries are dropped on lookup");
        for i in 0..25 {
            c.insert(k(&format!("t{i}")), 0, 1000, 0);
            assert!(c.len() <= 10);
        }
        c.insert(k("late"), 2, 1000, 0);
        assert_eq!(c.get(&k("late"), 1), Some(2));
    }

    #[test]
    fn full_cache_evicts_expired_entries_first() {
        let c = TokenCache::new(2);
        c.insert(k("old"), 0, 10, 0);
        c.insert(k("live"), 1, 1000, 0);
        c.insert(k("new"), 2, 1000, 20);
        assert_eq!(c.get(&k("live"), 20), Some(1));
        assert_eq!(c.get(&k("new"), 20), Some(2));
    }

    #[test]
    fn zero_capacity_disables_caching() {
        let c = TokenCache::new(0);
        assert!(!c.enabled());
        c.insert(k("t"), 1, 1000, 0);
        assert_eq!(c.get(&k("t"), 1), None);
    }
}
