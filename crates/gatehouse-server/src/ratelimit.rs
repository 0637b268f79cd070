//! In-memory rate limits (GCRA), keyed by client identity as well as by IP so that one
//! abuser behind a shared address does not lock out everyone else's clients.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

/// A rate: `per_minute` sustained, with bursts of up to `burst` requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rate {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests allowed at once.
    pub burst: u32,
}

impl Rate {
    /// A rate.
    pub const fn new(per_minute: u32, burst: u32) -> Self {
        Self { per_minute, burst }
    }
}

/// A set of limits sharing one table.
#[derive(Default)]
pub struct Limiter {
    // key -> theoretical arrival time, in milliseconds
    table: Mutex<HashMap<String, i64>>,
}

impl Limiter {
    /// Checks and counts one request for `key`. `Err(seconds)` says when to retry.
    pub fn check(&self, key: &str, rate: Rate, now_ms: i64) -> Result<(), u64> {
        if rate.per_minute == 0 {
            return Ok(());
        }
        let interval = 60_000 / i64::from(rate.per_minute.max(1));
        let tolerance = interval * i64::from(rate.burst.max(1));
        let mut table = self.table.lock().unwrap_or_else(|p| p.into_inner());
        if table.len() > 100_000 {
            table.retain(|_, tat| *tat > now_ms);
        }
        let tat = table.get(key).copied().unwrap_or(now_ms).max(now_ms);
        let new_tat = tat + interval;
        if new_tat - now_ms > tolerance {
            let wait_ms = new_tat - now_ms - tolerance;
            return Err(((wait_ms + 999) / 1000).max(1) as u64);
        }
        table.insert(key.to_owned(), new_tat);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_sustained_rate() {
        let l = Limiter::default();
        let rate = Rate::new(60, 3); // one per second, bursts of 3
        for _ in 0..3 {
            assert!(l.check("k", rate, 0).is_ok());
        }
        assert_eq!(l.check("k", rate, 0), Err(1));
        assert!(l.check("other", rate, 0).is_ok(), "keys are independent");
        assert!(l.check("k", rate, 1000).is_ok());
        assert!(l.check("k", rate, 1000).is_err());
    }

    #[test]
    fn zero_means_unlimited() {
        let l = Limiter::default();
        for _ in 0..1000 {
            assert!(l.check("k", Rate::new(0, 0), 0).is_ok());
        }
    }
}
