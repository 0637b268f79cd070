//! Prometheus metrics: requests and latency per endpoint, tokens issued per grant type,
//! failures per reason. Counters are atomics on fixed label sets, so recording costs a few
//! nanoseconds on the hot path; failure reasons (open-ended, rarer) sit behind a mutex.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Endpoints measured separately.
pub const ENDPOINTS: [&str; 13] = [
    "discovery",
    "jwks",
    "authorize",
    "login",
    "consent",
    "token",
    "register",
    "revoke",
    "introspect",
    "userinfo",
    "events",
    "admin",
    "other",
];
const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];
/// Latency bucket upper bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];
const GRANTS: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// The server's metrics.
pub struct Metrics {
    requests: Vec<[AtomicU64; 4]>,
    latency: Vec<Histogram>,
    tokens: [AtomicU64; 3],
    failures: Mutex<BTreeMap<(String, String), u64>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: ENDPOINTS.iter().map(|_| Default::default()).collect(),
            latency: ENDPOINTS.iter().map(|_| Histogram::default()).collect(),
            tokens: Default::default(),
            failures: Mutex::default(),
        }
    }
}

/// The endpoint label of a path below an issuer.
pub fn endpoint_of(path: &str) -> usize {
    let name = match path {
        p if p.starts_with("/.well-known/") => "discovery",
        "/jwks.json" => "jwks",
        "/authorize" => "authorize",
        "/login" => "login",
        "/consent" => "consent",
        "/token" => "token",
        "/register" => "register",
        "/revoke" => "revoke",
        "/introspect" => "introspect",
        "/userinfo" => "userinfo",
        "/events" => "events",
        p if p.starts_with("/admin") => "admin",
        _ => "other",
    };
    ENDPOINTS
        .iter()
        .position(|e| *e == name)
        .unwrap_or(ENDPOINTS.len() - 1)
}

impl Metrics {
    /// Records one answered request.
    pub fn request(&self, endpoint: usize, status: u16, seconds: f64) {
        let class = match status {
            200..=299 => 0,
            300..=399 => 1,
            400..=499 => 2,
            _ => 3,
        };
        self.requests[endpoint][class].fetch_add(1, Ordering::Relaxed);
        let h = &self.latency[endpoint];
        for (i, bound) in BUCKETS.iter().enumerate() {
            if seconds <= *bound {
                h.buckets[i].fetch_add(1, Ordering::Relaxed);
            }
        }
        h.count.fetch_add(1, Ordering::Relaxed);
        h.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// Records tokens issued by a grant.
    pub fn token_issued(&self, grant_type: &str) {
        if let Some(i) = GRANTS.iter().position(|g| *g == grant_type) {
            self.tokens[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records a failure of a step (`token`, `authorize`, …) with its error code.
    pub fn failure(&self, event: &str, error: &str) {
        let mut f = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if f.len() < 1_000 {
            *f.entry((event.to_owned(), error.to_owned())).or_default() += 1;
        }
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(8 * 1024);
        out.push_str("# HELP gatehouse_requests_total HTTP requests answered, by endpoint and status class.\n# TYPE gatehouse_requests_total counter\n");
        for (e, name) in ENDPOINTS.iter().enumerate() {
            for (c, class) in CLASSES.iter().enumerate() {
                let n = self.requests[e][c].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "gatehouse_requests_total{{endpoint=\"{name}\",status=\"{class}\"}} {n}"
                );
            }
        }
        out.push_str("# HELP gatehouse_request_duration_seconds Time to answer a request, by endpoint.\n# TYPE gatehouse_request_duration_seconds histogram\n");
        for (e, name) in ENDPOINTS.iter().enumerate() {
            let h = &self.latency[e];
            for (i, bound) in BUCKETS.iter().enumerate() {
                let n = h.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "gatehouse_request_duration_seconds_bucket{{endpoint=\"{name}\",le=\"{bound}\"}} {n}"
                );
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "gatehouse_request_duration_seconds_bucket{{endpoint=\"{name}\",le=\"+Inf\"}} {count}"
            );
            let sum = h.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "gatehouse_request_duration_seconds_sum{{endpoint=\"{name}\"}} {sum}"
            );
            let _ = writeln!(
                out,
                "gatehouse_request_duration_seconds_count{{endpoint=\"{name}\"}} {count}"
            );
        }
        out.push_str("# HELP gatehouse_tokens_issued_total Access tokens issued, by grant type.\n# TYPE gatehouse_tokens_issued_total counter\n");
        for (i, g) in GRANTS.iter().enumerate() {
            let _ = writeln!(
                out,
                "gatehouse_tokens_issued_total{{grant_type=\"{g}\"}} {}",
                self.tokens[i].load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP gatehouse_failures_total Failed steps in the authentication log, by step and error.\n# TYPE gatehouse_failures_total counter\n");
        for ((event, error), n) in self
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "gatehouse_failures_total{{step=\"{}\",error=\"{}\"}} {n}",
                label(event),
                label(error)
            );
        }
        out
    }
}

fn label(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'))
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_histograms_and_failures() {
        let m = Metrics::default();
        m.request(endpoint_of("/token"), 200, 0.0007);
        m.request(endpoint_of("/token"), 400, 0.003);
        m.request(
            endpoint_of("/.well-known/openid-configuration"),
            200,
            0.0001,
        );
        m.token_issued("client_credentials");
        m.failure("token", "invalid_grant");
        m.failure("token", "bad\"label");
        let text = m.render();
        for line in [
            "gatehouse_requests_total{endpoint=\"token\",status=\"2xx\"} 1",
            "gatehouse_requests_total{endpoint=\"token\",status=\"4xx\"} 1",
            "gatehouse_requests_total{endpoint=\"discovery\",status=\"2xx\"} 1",
            "gatehouse_request_duration_seconds_bucket{endpoint=\"token\",le=\"0.001\"} 1",
            "gatehouse_request_duration_seconds_bucket{endpoint=\"token\",le=\"0.005\"} 2",
            "gatehouse_request_duration_seconds_count{endpoint=\"token\"} 2",
            "gatehouse_tokens_issued_total{grant_type=\"client_credentials\"} 1",
            "gatehouse_failures_total{step=\"token\",error=\"invalid_grant\"} 1",
            "gatehouse_failures_total{step=\"token\",error=\"badlabel\"} 1",
        ] {
            assert!(text.contains(line), "missing {line}\n{text}");
        }
    }
}
