//! A stdio MCP server exposed as Streamable HTTP (MCP 2025-06-18 / 2025-11-25 transports).
//!
//! **Sessions.** Each MCP session is one child process, started by an `initialize` POST
//! without `Mcp-Session-Id`. The gateway answers it with a session id of 256 random bits
//! (base64url), bound to the token's subject and client: a request presenting the id with
//! another identity is answered exactly like an unknown id (404), so ids cannot be probed.
//! A child that exits ends its session, and so do `DELETE` and
//! [`crate::GatewayOptions::session_idle_timeout`]; the next request with that id gets 404,
//! which tells the client to initialize again. One user holds at most
//! [`crate::GatewayOptions::max_sessions_per_user`] sessions (the least recently used is
//! ended), the gateway at most [`crate::GatewayOptions::max_sessions`] (then 503).
//!
//! **Messages.** A POST's messages are written to the child's stdin, one per line, and
//! answered as [`exchange`] describes; `GET` opens the session's stream for messages that
//! belong to no request. `server/discover` without a session is answered "method not found"
//! so 2026-07-28 clients fall back to `initialize`.

mod exchange;
mod process;
mod route;
mod session;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use base64::Engine as _;
use bytes::Bytes;
use gatehouse_guard::VerifiedToken;
use gatehouse_guard::mcp::RpcMessage;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Response, StatusCode};

use self::exchange::{Answer, Outgoing};
use self::session::{Owner, Session};
use crate::body::{EventStream, GatewayBody};
use crate::config::{GatewayOptions, StdioCommand};
use crate::error::GatewayError;

const MCP_SESSION_ID: HeaderName = HeaderName::from_static("mcp-session-id");
const MCP_PROTOCOL_VERSION: HeaderName = HeaderName::from_static("mcp-protocol-version");

/// What the gateway hands a stdio upstream: an admitted request.
pub(crate) struct StdioRequest<'a> {
    pub(crate) method: &'a Method,
    pub(crate) headers: &'a HeaderMap,
    pub(crate) body: Bytes,
    pub(crate) messages: &'a [RpcMessage],
    pub(crate) token: &'a VerifiedToken,
}

/// The sessions of one stdio upstream.
pub(crate) struct StdioUpstream {
    shared: Arc<Shared>,
}

struct Shared {
    command: StdioCommand,
    label: String,
    options: GatewayOptions,
    sessions: Mutex<HashMap<String, Arc<Session>>>,
    seq: AtomicU64,
}

impl StdioUpstream {
    /// Starts the idle-session sweeper on the current runtime.
    pub(crate) fn new(command: StdioCommand, options: &GatewayOptions) -> Self {
        let shared = Arc::new(Shared {
            label: command.to_string(),
            command,
            options: options.clone(),
            sessions: Mutex::default(),
            seq: AtomicU64::new(0),
        });
        tokio::spawn(sweep(Arc::downgrade(&shared)));
        Self { shared }
    }

    /// Ends every session and waits for the processes to exit.
    pub(crate) async fn shutdown(&self) {
        let all: Vec<Arc<Session>> = self.shared.table().drain().map(|(_, s)| s).collect();
        for s in all {
            s.terminate().await;
        }
    }

    pub(crate) async fn handle(
        &self,
        req: StdioRequest<'_>,
    ) -> Result<Response<GatewayBody>, GatewayError> {
        let sid = req.headers.get(MCP_SESSION_ID);
        let owner = Owner::of(req.token);
        match (req.method, sid) {
            (&Method::POST, None) => self.start(req).await,
            (&Method::POST, Some(id)) => {
                let s = self.shared.find(id, &owner)?;
                check_version(&s, req.headers)?;
                s.touch();
                let out = Outgoing::parse(&req.body)?;
                let a = exchange::answer(
                    &s,
                    out,
                    self.shared.options.first_byte_timeout,
                    &self.shared.label,
                )
                .await?;
                Ok(respond(a, None))
            }
            (&Method::GET, Some(id)) => {
                let s = self.shared.find(id, &owner)?;
                if !accepts_event_stream(req.headers) {
                    return Err(GatewayError::NotAcceptable);
                }
                let (activity, rx) = s.open_stream()?;
                Ok(sse(EventStream::new(None, rx, Some(Box::new(activity)))))
            }
            (&Method::DELETE, Some(id)) => {
                let s = self.shared.find(id, &owner)?;
                self.shared.table().remove(&s.id);
                s.terminate().await;
                let mut resp = Response::new(GatewayBody::empty());
                *resp.status_mut() = StatusCode::NO_CONTENT;
                Ok(resp)
            }
            (&Method::GET | &Method::DELETE, None) => Err(GatewayError::SessionRequired),
            _ => Err(GatewayError::MethodNotAllowed),
        }
    }

    /// A POST without a session: `initialize` starts one.
    async fn start(&self, req: StdioRequest<'_>) -> Result<Response<GatewayBody>, GatewayError> {
        let only = match req.messages {
            [m] if m.id.is_some() => m.method.as_deref(),
            _ => None,
        };
        match only {
            Some("initialize") => {}
            Some("server/discover") => return Ok(method_not_found(req.messages[0].id.as_ref())),
            _ => return Err(GatewayError::SessionRequired),
        }
        let out = Outgoing::parse(&req.body)?;
        let s = self.shared.create(req.token)?;
        let answer = exchange::answer(
            &s,
            out,
            self.shared.options.first_byte_timeout,
            &self.shared.label,
        )
        .await;
        let answer = match answer {
            Ok(a) => a,
            Err(e) => {
                self.shared.table().remove(&s.id);
                s.terminate().await;
                return Err(e);
            }
        };
        if let Answer::Json(line) = &answer {
            let v: serde_json::Value = serde_json::from_slice(line).unwrap_or_default();
            if let Some(version) = v
                .pointer("/result/protocolVersion")
                .and_then(|v| v.as_str())
            {
                let _ = s.protocol_version.set(version.to_owned());
            }
        }
        Ok(respond(answer, Some(&s.id)))
    }
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The caller's live session with this id. Unknown, ended and someone else's sessions
    /// are all "not found".
    fn find(&self, id: &HeaderValue, owner: &Owner) -> Result<Arc<Session>, GatewayError> {
        let id = id
            .to_str()
            .map_err(|_| GatewayError::SessionNotFound("unknown session"))?;
        let mut table = self.table();
        let Some(s) = table.get(id).cloned() else {
            return Err(GatewayError::SessionNotFound("unknown session"));
        };
        if s.ended().is_some() {
            table.remove(id);
            return Err(GatewayError::SessionNotFound(
                "the MCP server process has exited",
            ));
        }
        if s.owner != *owner {
            tracing::warn!(
                session = s.seq,
                "an MCP session id was presented by another user or client"
            );
            return Err(GatewayError::SessionNotFound(
                "the session belongs to another user or client",
            ));
        }
        Ok(s)
    }

    /// Starts a session for `token`, within the limits.
    fn create(&self, token: &VerifiedToken) -> Result<Arc<Session>, GatewayError> {
        let owner = Owner::of(token);
        let mut table = self.table();
        table.retain(|_, s| s.ended().is_none());
        let mine: Vec<&Arc<Session>> = table.values().filter(|s| s.owner == owner).collect();
        if mine.len() >= self.options.max_sessions_per_user {
            let lru = mine
                .iter()
                .min_by_key(|s| s.last_active())
                .map(|s| Arc::clone(s));
            if let Some(lru) = lru {
                tracing::info!(
                    session = lru.seq,
                    "per-user session limit reached; ending the least recently used session"
                );
                table.remove(&lru.id);
                tokio::spawn(async move { lru.terminate().await });
            }
        }
        if table.len() >= self.options.max_sessions {
            return Err(GatewayError::TooManySessions(self.options.max_sessions));
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let s = Session::spawn(
            &self.command,
            token,
            new_session_id(),
            seq,
            self.options.stdio_exit_grace,
        )
        .map_err(|e| GatewayError::UpstreamUnavailable {
            upstream: self.label.clone(),
            detail: format!("cannot start {:?}: {e}", self.command.program),
        })?;
        table.insert(s.id.clone(), s.clone());
        Ok(s)
    }
}

/// Ends sessions idle longer than the timeout, and forgets ended ones.
async fn sweep(shared: Weak<Shared>) {
    let period = match shared.upgrade() {
        Some(s) => (s.options.session_idle_timeout / 4)
            .clamp(Duration::from_millis(100), Duration::from_secs(30)),
        None => return,
    };
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = Instant::now();
        let limit = shared.options.session_idle_timeout;
        let idle: Vec<Arc<Session>> = {
            let mut table = shared.table();
            table.retain(|_, s| s.ended().is_none());
            let idle: Vec<Arc<Session>> = table
                .values()
                .filter(|s| s.idle_for(now).is_some_and(|d| d >= limit))
                .cloned()
                .collect();
            for s in &idle {
                table.remove(&s.id);
            }
            idle
        };
        for s in idle {
            tracing::info!(
                session = s.seq,
                "stdio MCP session idle too long; ending it"
            );
            tokio::spawn(async move { s.terminate().await });
        }
    }
}

/// 256 random bits, base64url: unguessable, and ASCII as a header must be.
fn new_session_id() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("system randomness");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// MCP 2025-06-18 transports: a version header that is not the negotiated one is a 400.
fn check_version(s: &Session, headers: &HeaderMap) -> Result<(), GatewayError> {
    let (Some(negotiated), Some(got)) =
        (s.protocol_version.get(), headers.get(MCP_PROTOCOL_VERSION))
    else {
        return Ok(());
    };
    if got.as_bytes() == negotiated.as_bytes() {
        return Ok(());
    }
    Err(GatewayError::ProtocolVersionMismatch {
        got: String::from_utf8_lossy(got.as_bytes()).into_owned(),
        negotiated: negotiated.clone(),
    })
}

fn accepts_event_stream(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|m| m.split(';').next().unwrap_or_default().trim())
        .any(|m| m.eq_ignore_ascii_case("text/event-stream") || m == "*/*")
}

fn respond(answer: Answer, session_id: Option<&str>) -> Response<GatewayBody> {
    let mut resp = match answer {
        Answer::Accepted => {
            let mut r = Response::new(GatewayBody::empty());
            *r.status_mut() = StatusCode::ACCEPTED;
            r
        }
        Answer::Json(line) => json(line),
        Answer::Stream {
            first,
            rest,
            registration,
        } => sse(EventStream::new(
            Some(first),
            rest,
            Some(Box::new(registration)),
        )),
    };
    if let Some(v) = session_id.and_then(|id| HeaderValue::from_str(id).ok()) {
        resp.headers_mut().insert(MCP_SESSION_ID, v);
    }
    resp
}

fn json(body: Bytes) -> Response<GatewayBody> {
    let mut r = Response::new(GatewayBody::full(body));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn sse<T: AsRef<[u8]> + Unpin + Send + 'static>(stream: EventStream<T>) -> Response<GatewayBody> {
    let mut r = Response::new(GatewayBody::new(stream));
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

/// JSON-RPC "method not found" (-32601) for `server/discover`.
fn method_not_found(id: Option<&serde_json::Value>) -> Response<GatewayBody> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": { "code": -32601, "message": "server/discover is not supported; send initialize" },
    });
    json(Bytes::from(body.to_string()))
}
