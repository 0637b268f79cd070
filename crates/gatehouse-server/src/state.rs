//! Shared server state.

use std::ops::Deref;
use std::sync::Arc;

use gatehouse_store::Store;

use crate::audit::AuditSink;
use crate::clock::Clock;
use crate::config::RateLimits;
use crate::crypto::MasterKey;
use crate::env::EnvRegistry;
use crate::ratelimit::Limiter;

/// Everything a handler may need. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
pub struct Inner {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Cached environments.
    pub envs: EnvRegistry,
    /// Master key.
    pub master: MasterKey,
    /// Time.
    pub clock: Arc<dyn Clock>,
    /// Authentication log.
    pub audit: AuditSink,
    /// Prometheus metrics.
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    /// Rate limiter table.
    pub limiter: Limiter,
    /// Rate limits.
    pub limits: RateLimits,
    /// Caches of client resolution (metadata documents, client keys).
    pub clients: crate::clients::keys::Caches,
}

impl AppState {
    /// Wraps the parts.
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    /// Seconds since the epoch.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}
