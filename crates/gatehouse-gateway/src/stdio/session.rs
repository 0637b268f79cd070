//! One MCP session of a stdio upstream: one child process (its tasks are in
//! [`super::process`]), the exchanges (POSTs) waiting for responses, the `GET` stream, and
//! the session's life: activity, idling, ending. Messages from the server are routed by
//! [`super::route`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use gatehouse_guard::VerifiedToken;
use serde_json::Value;
use tokio::process::Command;
use tokio::sync::{mpsc, watch};

use super::process;
use crate::config::StdioCommand;
use crate::error::GatewayError;

/// Messages kept for a `GET` stream that is not open.
pub(super) const BACKLOG: usize = 100;

/// Who may use a session: the subject and client of the token that created it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Owner {
    pub(crate) subject: String,
    pub(crate) client_id: String,
}

impl Owner {
    pub(crate) fn of(token: &VerifiedToken) -> Self {
        Self {
            subject: token.subject.clone(),
            client_id: token.client_id.clone(),
        }
    }
}

/// A message from the server, routed to an exchange.
#[derive(Debug)]
pub(crate) struct Routed {
    pub(crate) line: Bytes,
    /// Whether it is the response to one of the exchange's requests.
    pub(crate) response: bool,
}

impl AsRef<[u8]> for Routed {
    fn as_ref(&self) -> &[u8] {
        &self.line
    }
}

pub(super) struct Pending {
    pub(super) tx: mpsc::Sender<Routed>,
    /// Registration order: the oldest exchange gets messages about no known request.
    pub(super) order: u64,
}

#[derive(Default)]
pub(super) struct State {
    /// Request id (as JSON text) → the exchange waiting for its response.
    pub(super) pending: HashMap<String, Pending>,
    /// Progress token (as JSON text) → request id.
    pub(super) progress: HashMap<String, String>,
    next_order: u64,
    pub(super) stream: Option<mpsc::Sender<Routed>>,
    pub(super) backlog: VecDeque<Bytes>,
    ended: Option<String>,
    last_active: Option<Instant>,
}

/// One session and its process.
pub(crate) struct Session {
    /// The `Mcp-Session-Id`: a secret, never logged.
    pub(crate) id: String,
    /// A number for logs.
    pub(crate) seq: u64,
    pub(crate) owner: Owner,
    /// The protocol version `initialize` settled on, when seen.
    pub(crate) protocol_version: OnceLock<String>,
    stdin: mpsc::Sender<Bytes>,
    state: Mutex<State>,
    pub(super) closing: watch::Sender<bool>,
    exited: watch::Receiver<bool>,
    in_flight: AtomicUsize,
}

/// A JSON value as a map key (ids and progress tokens compare by JSON value).
pub(crate) fn key(v: &Value) -> String {
    v.to_string()
}

impl Session {
    /// Starts `command` for `token`'s owner. The child gets the verified identity in
    /// `GATEHOUSE_SUBJECT`, `GATEHOUSE_CLIENT_ID`, `GATEHOUSE_SCOPES` (and `GATEHOUSE_GRANT`
    /// for user tokens), and none of the gateway's own `GATEHOUSE_*` variables.
    pub(crate) fn spawn(
        command: &StdioCommand,
        token: &VerifiedToken,
        id: String,
        seq: u64,
        grace: Duration,
    ) -> std::io::Result<Arc<Self>> {
        let mut cmd = Command::new(&command.program);
        cmd.args(&command.args);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("GATEHOUSE_") {
                cmd.env_remove(k);
            }
        }
        cmd.env("GATEHOUSE_SUBJECT", &token.subject)
            .env("GATEHOUSE_CLIENT_ID", &token.client_id)
            .env("GATEHOUSE_SCOPES", token.scopes.to_string());
        if let Some(grant) = &token.session_id {
            cmd.env("GATEHOUSE_GRANT", grant);
        }
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let (Some(stdin), Some(stdout), Some(stderr)) =
            (child.stdin.take(), child.stdout.take(), child.stderr.take())
        else {
            return Err(std::io::Error::other("child pipes missing"));
        };
        let (lines, rx) = mpsc::channel(64);
        let (closing, closing_rx) = watch::channel(false);
        let (exited_tx, exited) = watch::channel(false);
        let session = Arc::new(Self {
            id,
            seq,
            owner: Owner::of(token),
            protocol_version: OnceLock::new(),
            stdin: lines,
            state: Mutex::new(State {
                last_active: Some(Instant::now()),
                ..State::default()
            }),
            closing,
            exited,
            in_flight: AtomicUsize::new(0),
        });
        tokio::spawn(process::write_lines(stdin, rx, closing_rx.clone()));
        tokio::spawn(process::read_lines(Arc::downgrade(&session), stdout));
        tokio::spawn(process::log_stderr(stderr, seq));
        tokio::spawn(process::supervise(
            session.clone(),
            child,
            closing_rx,
            exited_tx,
            grace,
        ));
        tracing::info!(session = seq, command = %command, "stdio MCP server started");
        Ok(session)
    }

    pub(super) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Why the session ended, if it did.
    pub(crate) fn ended(&self) -> Option<String> {
        self.state().ended.clone()
    }

    /// Writes messages (one compact JSON text each) to the server's stdin, in order.
    pub(crate) async fn send(&self, lines: Vec<Bytes>) -> Result<(), GatewayError> {
        for line in lines {
            if self.stdin.send(line).await.is_err() {
                return Err(GatewayError::SessionNotFound(
                    "the MCP server process has exited",
                ));
            }
        }
        Ok(())
    }

    /// Registers an exchange waiting for the responses to `ids`; `progress` maps progress
    /// tokens to those ids. The registration is undone when the returned guard is dropped.
    pub(crate) fn register(
        self: &Arc<Self>,
        ids: Vec<String>,
        progress: Vec<(String, String)>,
    ) -> Result<(Registration, mpsc::Receiver<Routed>), GatewayError> {
        let (tx, rx) = mpsc::channel(64);
        let mut st = self.state();
        if st.ended.is_some() {
            return Err(GatewayError::SessionNotFound(
                "the MCP server process has exited",
            ));
        }
        if ids.iter().any(|id| st.pending.contains_key(id)) {
            return Err(GatewayError::BadRequest(
                "a request with this id is already in flight in this session",
            ));
        }
        let order = st.next_order;
        st.next_order += 1;
        for id in &ids {
            st.pending.insert(
                id.clone(),
                Pending {
                    tx: tx.clone(),
                    order,
                },
            );
        }
        st.progress.extend(progress);
        drop(st);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Ok((
            Registration {
                session: Arc::downgrade(self),
                ids,
            },
            rx,
        ))
    }

    /// Opens the `GET` stream (replacing an older one), fed first with the backlog.
    pub(crate) fn open_stream(
        self: &Arc<Self>,
    ) -> Result<(Activity, mpsc::Receiver<Routed>), GatewayError> {
        let (tx, rx) = mpsc::channel(BACKLOG + 16);
        let mut st = self.state();
        if st.ended.is_some() {
            return Err(GatewayError::SessionNotFound(
                "the MCP server process has exited",
            ));
        }
        for line in st.backlog.drain(..) {
            let _ = tx.try_send(Routed {
                line,
                response: false,
            });
        }
        st.stream = Some(tx);
        drop(st);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Ok((Activity(Arc::downgrade(self)), rx))
    }

    /// Marks a request.
    pub(crate) fn touch(&self) {
        self.state().last_active = Some(Instant::now());
    }

    /// How long the session has been idle (nothing in flight, no open stream).
    pub(crate) fn idle_for(&self, now: Instant) -> Option<Duration> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        self.state()
            .last_active
            .map(|t| now.saturating_duration_since(t))
    }

    pub(crate) fn last_active(&self) -> Option<Instant> {
        self.state().last_active
    }

    /// Asks the process to stop (stdin closed, killed after the grace period) and waits.
    pub(crate) async fn terminate(&self) {
        self.closing.send_replace(true);
        process::set(&mut self.exited.clone()).await;
    }

    /// Ends the session: waiting exchanges and the stream see their channels close.
    pub(super) fn end(&self, reason: String) {
        let mut st = self.state();
        if st.ended.is_none() {
            tracing::info!(session = self.seq, %reason, "stdio MCP session ended");
            st.ended = Some(reason);
        }
        st.pending.clear();
        st.progress.clear();
        st.stream = None;
        st.backlog.clear();
        drop(st);
        self.closing.send_replace(true);
    }
}

/// An exchange's claim on its request ids; dropping it (the client went away, or every
/// response arrived) forgets them.
pub(crate) struct Registration {
    session: Weak<Session>,
    ids: Vec<String>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let Some(s) = self.session.upgrade() else {
            return;
        };
        let mut st = s.state();
        for id in &self.ids {
            st.pending.remove(id);
        }
        let ids = &self.ids;
        st.progress.retain(|_, req| !ids.contains(req));
        st.last_active = Some(Instant::now());
        drop(st);
        s.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// An open `GET` stream keeps its session from idling out.
pub(crate) struct Activity(Weak<Session>);

impl Drop for Activity {
    fn drop(&mut self) {
        if let Some(s) = self.0.upgrade() {
            s.in_flight.fetch_sub(1, Ordering::Relaxed);
            s.touch();
        }
    }
}
