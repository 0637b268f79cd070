//! The authentication log: every step of every authorization, written in batches by a
//! background task so request handlers never wait on the database for it.

use std::sync::Arc;

use gatehouse_oauth::OAuthError;
use gatehouse_store::{AuditEvent, Store};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

enum Msg {
    Event(Box<AuditEvent>),
    Flush(oneshot::Sender<()>),
}

/// Sends events to the writer task.
#[derive(Clone)]
pub struct AuditSink {
    tx: mpsc::Sender<Msg>,
    metrics: Arc<crate::metrics::Metrics>,
}

const BATCH: usize = 256;

impl AuditSink {
    /// Starts the writer task.
    pub fn spawn(store: Arc<dyn Store>, metrics: Arc<crate::metrics::Metrics>) -> Self {
        let (tx, rx) = mpsc::channel(16_384);
        tokio::spawn(writer(store, rx));
        Self { tx, metrics }
    }

    /// Queues an event (waits only if the queue is full).
    pub async fn emit(&self, event: AuditEvent) {
        log_event(&event);
        if event.outcome == "failure" {
            self.metrics
                .failure(&event.event, event.error.as_deref().unwrap_or("unknown"));
        }
        if self.tx.send(Msg::Event(Box::new(event))).await.is_err() {
            tracing::error!("authentication log writer has stopped; event lost");
        }
    }

    /// Waits until every event queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

fn log_event(e: &AuditEvent) {
    if e.outcome == "failure" {
        tracing::info!(
            target: "gatehouse::audit",
            env = %e.env_id, event = %e.event, correlation_id = %e.correlation_id,
            client_id = e.client_id.as_deref().unwrap_or("-"), error = e.error.as_deref().unwrap_or("-"),
            detail = e.error_detail.as_deref().unwrap_or("-"), "failed"
        );
    } else {
        tracing::debug!(target: "gatehouse::audit", env = %e.env_id, event = %e.event, correlation_id = %e.correlation_id, "ok");
    }
}

/// How long the writer waits, after the first event of a batch, for more to join it.
const BATCH_WINDOW: std::time::Duration = std::time::Duration::from_millis(5);

/// Writes events in batches. The first event of a batch wakes the writer; it then sleeps
/// for [`BATCH_WINDOW`] without listening, so the events that arrive meanwhile cost their
/// senders a queue push and no task wake-up (waking the writer per event cost more CPU than
/// writing the event), and writes what has queued, [`BATCH`] events per transaction. A
/// flush request that finds the writer idle is served at once; one that arrives during a
/// window is answered at its end, after the events queued before it are written.
async fn writer(store: Arc<dyn Store>, mut rx: mpsc::Receiver<Msg>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut waiters = Vec::new();
    while let Some(first) = rx.recv().await {
        if matches!(first, Msg::Event(_)) {
            tokio::time::sleep(BATCH_WINDOW).await;
        }
        take(first, &mut batch, &mut waiters);
        loop {
            while batch.len() < BATCH {
                match rx.try_recv() {
                    Ok(msg) => take(msg, &mut batch, &mut waiters),
                    Err(_) => break,
                }
            }
            if !batch.is_empty()
                && let Err(e) = store.append_events(&batch).await
            {
                tracing::error!(error = %e, lost = batch.len(), "failed to write authentication log events");
            }
            let more = batch.len() == BATCH;
            batch.clear();
            // A full batch leaves events queued: write them before sleeping again.
            if !more {
                break;
            }
        }
        for w in waiters.drain(..) {
            let _ = w.send(());
        }
    }
}

fn take(msg: Msg, batch: &mut Vec<AuditEvent>, waiters: &mut Vec<oneshot::Sender<()>>) {
    match msg {
        Msg::Event(e) => batch.push(*e),
        Msg::Flush(w) => waiters.push(w),
    }
}

/// Builds one event.
pub struct Ev(AuditEvent);

impl Ev {
    /// A new event of `event` kind in `env`, correlated by `correlation_id`.
    pub fn new(env_id: &str, correlation_id: &str, event: &str, at_ms: i64) -> Self {
        Self(AuditEvent {
            env_id: env_id.to_owned(),
            correlation_id: correlation_id.to_owned(),
            event: event.to_owned(),
            at_ms,
            outcome: "success".to_owned(),
            data: Value::Object(Default::default()),
            ..Default::default()
        })
    }

    /// Sets the client.
    #[must_use]
    pub fn client(mut self, client_id: Option<&str>) -> Self {
        self.0.client_id = client_id.map(str::to_owned);
        self
    }

    /// Sets the resource URI.
    #[must_use]
    pub fn resource(mut self, resource: Option<&str>) -> Self {
        self.0.resource = resource.map(str::to_owned);
        self
    }

    /// Sets the user.
    #[must_use]
    pub fn user(mut self, user_id: Option<&str>) -> Self {
        self.0.user_id = user_id.map(str::to_owned);
        self
    }

    /// Sets the remote address.
    #[must_use]
    pub fn ip(mut self, ip: Option<String>) -> Self {
        self.0.ip = ip;
        self
    }

    /// Adds a data field (never a secret).
    #[must_use]
    pub fn data(mut self, key: &str, value: impl Into<Value>) -> Self {
        if let Value::Object(m) = &mut self.0.data {
            m.insert(key.to_owned(), value.into());
        }
        self
    }

    /// Adds a data field in place.
    pub fn push(&mut self, key: &str, value: impl Into<Value>) {
        if let Value::Object(m) = &mut self.0.data {
            m.insert(key.to_owned(), value.into());
        }
    }

    /// Sets the client in place.
    pub fn set_client(&mut self, client_id: &str) {
        self.0.client_id = Some(client_id.to_owned());
    }

    /// Marks it failed with an OAuth error.
    #[must_use]
    pub fn failed(mut self, e: &OAuthError) -> Self {
        self.0.outcome = "failure".to_owned();
        self.0.error = Some(e.code.as_str().to_owned());
        self.0.error_detail = Some(match &e.detail {
            Some(d) => format!("{} ({d})", e.description),
            None => e.description.to_string(),
        });
        self
    }

    /// Marks it failed with a reason that is not an OAuth error.
    #[must_use]
    pub fn failed_with(mut self, error: &str, detail: impl Into<String>) -> Self {
        self.0.outcome = "failure".to_owned();
        self.0.error = Some(error.to_owned());
        self.0.error_detail = Some(detail.into());
        self
    }

    /// The finished event.
    pub fn build(self) -> AuditEvent {
        self.0
    }
}
