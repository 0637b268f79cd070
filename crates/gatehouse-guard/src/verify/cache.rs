//! A bounded cache of verified tokens, keyed by the SHA-256 of the token (the token itself
//! is never kept), so a repeated request costs a hash and a lookup.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use gatehouse_oauth::secret::SecretHash;

/// Entries are dropped when `valid_until` passes; when full, expired entries go first, then
/// an arbitrary tenth of the rest (no token is ever served past its `valid_until`).
#[derive(Debug)]
pub(crate) struct TokenCache<V> {
    capacity: usize,
    map: Mutex<HashMap<SecretHash, (V, i64)>>,
}

impl<V: Clone> TokenCache<V> {
    /// A cache of at most `capacity` entries; `0` disables it.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<SecretHash, (V, i64)>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cache key of a token.
    pub(crate) fn key(token: &str) -> SecretHash {
        SecretHash::of(token)
    }

    /// The cached value, if present and `now < valid_until`.
    pub(crate) fn get(&self, key: &SecretHash, now: i64) -> Option<V> {
        if self.capacity == 0 {
            return None;
        }
        let mut map = self.lock();
        match map.get(key) {
            Some((v, until)) if now < *until => Some(v.clone()),
            Some(_) => {
                map.remove(key);
                None
            }
            None => None,
        }
    }

    /// Caches `value` until `valid_until` (exclusive).
    pub(crate) fn insert(&self, key: SecretHash, value: V, valid_until: i64, now: i64) {
        if self.capacity == 0 || valid_until <= now {
            return;
        }
        let mut map = self.lock();
        if map.len() >= self.capacity && !map.contains_key(&key) {
            map.retain(|_, (_, until)| now < *until);
            if map.len() >= self.capacity {
                let evict: Vec<SecretHash> = map
                    .keys()
                    .take((self.capacity / 10).max(1))
                    .cloned()
                    .collect();
                for k in evict {
                    map.remove(&k);
                }
            }
        }
        map.insert(key, (value, valid_until));
    }

    /// Forgets a token.
    pub(crate) fn remove(&self, key: &SecretHash) {
        self.lock().remove(key);
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_serves_until_valid_until_and_stays_bounded() {
        let c = TokenCache::new(10);
        let k = TokenCache::<u8>::key("t1");
        c.insert(k.clone(), 1u8, 100, 50);
        assert_eq!(c.get(&k, 99), Some(1));
        assert_eq!(c.get(&k, 100), None);
        assert_eq!(c.len(), 0, "expired entries are dropped on lookup");
        for i in 0..25 {
            c.insert(TokenCache::<u8>::key(&format!("t{i}")), 0, 1000, 0);
            assert!(c.len() <= 10);
        }
        c.insert(TokenCache::<u8>::key("late"), 2, 1000, 0);
        assert_eq!(c.get(&TokenCache::<u8>::key("late"), 1), Some(2));
    }

    #[test]
    fn full_cache_evicts_expired_entries_first() {
        let c = TokenCache::new(2);
        c.insert(TokenCache::<u8>::key("old"), 0, 10, 0);
        c.insert(TokenCache::<u8>::key("live"), 1, 1000, 0);
        c.insert(TokenCache::<u8>::key("new"), 2, 1000, 20);
        assert_eq!(c.get(&TokenCache::<u8>::key("live"), 20), Some(1));
        assert_eq!(c.get(&TokenCache::<u8>::key("new"), 20), Some(2));
    }

    #[test]
    fn zero_capacity_disables_caching() {
        let c = TokenCache::new(0);
        c.insert(TokenCache::<u8>::key("t"), 1, 1000, 0);
        assert_eq!(c.get(&TokenCache::<u8>::key("t"), 1), None);
    }
}
