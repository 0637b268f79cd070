//! Reporting: one [`GatewayEvent`] per request the gateway authorized or refused, handed to an
//! [`EventSink`] that never blocks the request path.
//!
//! - [`BatchingSink`] queues events (bounded; when full, events are counted and dropped) and
//!   a background task hands them, in batches of what has accumulated, to a [`Deliver`]er.
//! - [`RemoteReporter`] delivers to Gatehouse's `POST <issuer>/events` with the credentials
//!   of a confidential client registered with the `gatehouse:events` scope.
//! - An in-process server supplies its own [`Deliver`] that writes to its log directly.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

/// A boxed future, for the object-safe traits below.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Whether the gateway let a request through (the upstream answered below 400).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Authorized and answered.
    Success,
    /// Refused by the guard, or failed at the gateway or upstream.
    Failure,
}

/// One request seen by the gateway, in the shape of Gatehouse's `POST /events` report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GatewayEvent {
    /// When, milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// The protected resource (MCP server URI).
    pub resource: String,
    /// Success or failure.
    pub outcome: Outcome,
    /// The HTTP status answered.
    pub status: u16,
    /// The error code (RFC 6750 or the gateway's), on failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What exactly went wrong, on failure (for the log, never sent to the client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The JSON-RPC method (the first one of a batch), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The tool, for `tools/call`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool: Option<String>,
    /// The token's `client_id`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The token's `sub`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The token's `sid` (its grant), which correlates the event with the authorization.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The token's `jti`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
    /// The client's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
}

/// Where the gateway reports. `report` must return at once: it runs on the request path.
pub trait EventSink: Send + Sync + 'static {
    /// Takes one event.
    fn report(&self, event: GatewayEvent);

    /// Whether events are wanted at all (the gateway skips building them when not).
    fn enabled(&self) -> bool {
        true
    }

    /// Delivers everything reported so far (at shutdown).
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
}

/// A sink that discards everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoEvents;

impl EventSink for NoEvents {
    fn report(&self, _: GatewayEvent) {}
    fn enabled(&self) -> bool {
        false
    }
}

/// Delivers batches of events somewhere (a remote server, a log, a test).
pub trait Deliver: Send + Sync + 'static {
    /// Delivers one batch; failures are the deliverer's to log.
    fn deliver(&self, batch: Vec<GatewayEvent>) -> BoxFuture<'_, ()>;
}

enum Msg {
    Event(Box<GatewayEvent>),
    Flush(oneshot::Sender<()>),
}

/// Queues events and delivers them from a background task, in batches of whatever
/// accumulated while the previous batch was being delivered (at most [`MAX_BATCH`]).
pub struct BatchingSink {
    tx: mpsc::Sender<Msg>,
    dropped: AtomicU64,
}

/// Most events in one delivery (Gatehouse accepts 500 per report).
pub const MAX_BATCH: usize = 200;

impl BatchingSink {
    /// Spawns the delivery task on the current Tokio runtime; at most `capacity` events
    /// wait (more are dropped and counted, so a slow log never slows requests).
    pub fn spawn(deliver: Arc<dyn Deliver>, capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(run(rx, deliver));
        Self {
            tx,
            dropped: AtomicU64::new(0),
        }
    }

    /// Events dropped because the queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for BatchingSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchingSink")
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl EventSink for BatchingSink {
    fn report(&self, event: GatewayEvent) {
        if self.tx.try_send(Msg::Event(Box::new(event))).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_power_of_two() {
                tracing::warn!(dropped = n, "gateway event queue full; events dropped");
            }
        }
    }

    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let (done, wait) = oneshot::channel();
            if self.tx.send(Msg::Flush(done)).await.is_ok() {
                let _ = wait.await;
            }
        })
    }
}

async fn run(mut rx: mpsc::Receiver<Msg>, deliver: Arc<dyn Deliver>) {
    let mut batch = Vec::new();
    let mut flushes = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                Msg::Event(e) => batch.push(*e),
                Msg::Flush(done) => flushes.push(done),
            }
            if batch.len() >= MAX_BATCH {
                deliver.deliver(std::mem::take(&mut batch)).await;
            }
            next = rx.try_recv().ok();
        }
        if !batch.is_empty() {
            deliver.deliver(std::mem::take(&mut batch)).await;
        }
        for done in flushes.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Delivers to Gatehouse's `POST <issuer>/events`, authenticating with `client_secret_basic`
/// (RFC 6749 §2.3.1: id and secret form-encoded, then Base64).
pub struct RemoteReporter {
    http: reqwest::Client,
    url: String,
    authorization: String,
}

impl RemoteReporter {
    /// A reporter to `<issuer>/events` as `client_id`.
    pub fn new(issuer: &str, client_id: &str, client_secret: &str) -> Self {
        use base64::Engine as _;
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            enc(client_id),
            enc(client_secret)
        ));
        let http = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(5))
            .timeout(std::time::Duration::from_secs(15))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_default();
        Self {
            http,
            url: format!("{}/events", issuer.trim_end_matches('/')),
            authorization: format!("Basic {basic}"),
        }
    }
}

impl std::fmt::Debug for RemoteReporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteReporter")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Report<'a> {
    events: &'a [GatewayEvent],
}

impl Deliver for RemoteReporter {
    fn deliver(&self, batch: Vec<GatewayEvent>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let body = match serde_json::to_vec(&Report { events: &batch }) {
                Ok(b) => b,
                Err(e) => return tracing::error!(error = %e, "cannot encode gateway events"),
            };
            let sent = self
                .http
                .post(&self.url)
                .header(reqwest::header::AUTHORIZATION, &self.authorization)
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body)
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => {}
                Ok(r) => tracing::warn!(
                    url = %self.url, status = %r.status(), events = batch.len(),
                    "the authorization server refused gateway events (check --report-client-id, its secret and its gatehouse:events scope)"
                ),
                Err(e) => {
                    tracing::warn!(url = %self.url, error = %e, events = batch.len(), "gateway events not delivered")
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect(Mutex<Vec<usize>>);

    impl Deliver for Collect {
        fn deliver(&self, batch: Vec<GatewayEvent>) -> BoxFuture<'_, ()> {
            self.0.lock().unwrap().push(batch.len());
            Box::pin(async {})
        }
    }

    fn event(status: u16) -> GatewayEvent {
        GatewayEvent {
            at_ms: 1,
            resource: "https://mcp.example.com/mcp".into(),
            outcome: Outcome::Failure,
            status,
            error: Some("invalid_token".into()),
            detail: None,
            method: Some("tools/list".into()),
            tool: None,
            client_id: None,
            sub: None,
            sid: None,
            jti: None,
            ip: Some("127.0.0.1".into()),
        }
    }

    #[tokio::test]
    async fn flush_delivers_everything_reported_before_it() {
        let collect = Arc::new(Collect::default());
        let sink = BatchingSink::spawn(collect.clone(), 1000);
        for _ in 0..450 {
            sink.report(event(401));
        }
        sink.flush().await;
        let batches = collect.0.lock().unwrap().clone();
        assert_eq!(batches.iter().sum::<usize>(), 450);
        assert!(batches.iter().all(|&n| n <= MAX_BATCH), "{batches:?}");
    }

    #[test]
    fn events_serialise_in_the_report_shape() {
        let v = serde_json::to_value(event(401)).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "at_ms": 1, "resource": "https://mcp.example.com/mcp", "outcome": "failure",
                "status": 401, "error": "invalid_token", "method": "tools/list", "ip": "127.0.0.1"
            })
        );
    }
}
