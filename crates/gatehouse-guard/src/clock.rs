//! The one place the guard reads the time. Tests pass their own clock to move time.

use std::time::{SystemTime, UNIX_EPOCH};

/// A source of the current time in seconds since the Unix epoch.
///
/// Implemented for [`SystemClock`] and for any `Fn() -> i64`, so a test can write
/// `.clock(move || start + offset.load(Ordering::SeqCst))`.
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The system clock (the default).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
}

impl<F> Clock for F
where
    F: Fn() -> i64 + Send + Sync + 'static,
{
    fn now(&self) -> i64 {
        self()
    }
}
