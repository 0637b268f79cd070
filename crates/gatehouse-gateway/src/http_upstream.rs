//! A Streamable HTTP upstream: a reverse proxy over hyper. Bodies stream both ways (the
//! response frame by frame, so SSE events pass as they come); the connect and first-byte
//! waits are bounded, an open stream never is.
//!
//! **Connections.** A request that came on an HTTP/1.1 connection goes over an upstream
//! connection owned by that inbound connection ([`LocalUpstream`]) and driven by the inbound
//! connection's own task ([`Driven`]): the request, its response and every body frame stay
//! on one task, with no hand-over between threads (which cost more CPU than the proxying
//! itself). The connection is opened on the first request and reused while it is free; a
//! request that finds it busy (an event stream still open) or closed gets a fresh one.
//! Requests that came over HTTP/2 (several at once on one connection), and any request when
//! a connection already holds [`MAX_LOCAL`] upstream connections, use a shared pool
//! (hyper-util's client, idle connections kept [`POOL_IDLE`]).
//!
//! **Busy polling.** Once a wake-up has left the connection with nothing to do, [`Driven`]
//! keeps its worker polling the sockets for up to [`GatewayOptions::busy_poll`] before it
//! lets the worker sleep: it yields, and the runtime looks at its sockets without blocking
//! before polling the connection again. Events within that window do not extend it; the
//! next wake-up after it opens a new one. The upstream's answer and the client's next
//! request then usually find the worker awake.
//! On the benchmark's VMs a sleeping thread woken by a socket took tens of microseconds to
//! run, twice per proxied request; polling cost that much CPU instead (bench/analysis.md).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HOST, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::body::BoxError;
use crate::config::GatewayOptions;
use crate::error::GatewayError;
use crate::headers::strip_hop_by_hop;

/// The body sent upstream: the bytes the gateway read, or the client's stream.
pub(crate) type UpstreamBody = UnsyncBoxBody<Bytes, BoxError>;

/// How long an unused pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// Most upstream connections one inbound connection drives itself; beyond, the pool.
const MAX_LOCAL: usize = 4;

type UpstreamConn = http1::Connection<TokioIo<TcpStream>, UpstreamBody>;

/// The upstream connections of one inbound connection. Requests take a sender from here;
/// [`Driven`] polls the connections on the inbound connection's task.
#[derive(Clone, Default)]
pub(crate) struct LocalUpstream(Arc<Mutex<Local>>);

#[derive(Default)]
struct Local {
    /// The connection the next request tries first.
    idle: Option<http1::SendRequest<UpstreamBody>>,
    /// Every open connection, until it ends.
    conns: Vec<Pin<Box<UpstreamConn>>>,
    /// The task that drives `conns`, woken when one is added.
    driver: Option<Waker>,
}

impl std::fmt::Debug for LocalUpstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalUpstream").finish_non_exhaustive()
    }
}

impl LocalUpstream {
    fn lock(&self) -> std::sync::MutexGuard<'_, Local> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The idle connection if it can take a request now.
    fn take_ready(&self) -> Option<http1::SendRequest<UpstreamBody>> {
        let sender = self.lock().idle.take()?;
        // Busy (a response still streaming) or closed: let it finish on its own; with its
        // last sender gone, hyper closes it after the response in flight.
        sender.is_ready().then_some(sender)
    }

    fn put_idle(&self, sender: http1::SendRequest<UpstreamBody>) {
        self.lock().idle = Some(sender);
    }

    /// Adds a connection to drive; given back when there are enough already.
    fn add(&self, conn: Pin<Box<UpstreamConn>>) -> Result<(), Pin<Box<UpstreamConn>>> {
        let mut local = self.lock();
        if local.conns.len() >= MAX_LOCAL {
            return Err(conn);
        }
        local.conns.push(conn);
        if let Some(w) = &local.driver {
            w.wake_by_ref();
        }
        Ok(())
    }

    fn is_full(&self) -> bool {
        self.lock().conns.len() >= MAX_LOCAL
    }

    /// Polls every connection; ended ones are dropped.
    fn poll_conns(&self, cx: &mut Context<'_>) {
        let mut local = self.lock();
        if !local
            .driver
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            local.driver = Some(cx.waker().clone());
        }
        local.conns.retain_mut(|conn| match conn.as_mut().poll(cx) {
            Poll::Pending => true,
            Poll::Ready(Ok(())) => false,
            Poll::Ready(Err(e)) => {
                tracing::debug!(error = %e, "upstream connection ended");
                false
            }
        });
    }
}

pin_project_lite::pin_project! {
    /// An inbound connection's future, driving its upstream connections on the same task.
    pub(crate) struct Driven<F> {
        #[pin]
        inner: F,
        local: LocalUpstream,
        busy_poll: Duration,
        // When the connection last went idle, while it polls; `None` once it has polled
        // for `busy_poll` (the next poll is a real wake-up, and starts a new window).
        idle_since: Option<Instant>,
    }
}

impl<F> Driven<F> {
    pub(crate) fn new(inner: F, local: LocalUpstream, busy_poll: Duration) -> Self {
        Self {
            inner,
            local,
            busy_poll,
            idle_since: None,
        }
    }
}

impl<F: Future> Future for Driven<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // Upstream first (responses and body frames that arrived), then the inbound
        // connection (which consumes them and may send a request), then upstream again
        // (which writes that request) — one wake-up for the whole exchange.
        this.local.poll_conns(cx);
        let out = this.inner.poll(cx);
        if out.is_pending() {
            this.local.poll_conns(cx);
            if !this.busy_poll.is_zero() {
                let now = Instant::now();
                let since = *this.idle_since.get_or_insert(now);
                if now.duration_since(since) < *this.busy_poll {
                    // Polled again right after the runtime has looked at its sockets
                    // (without blocking): `yield_now` defers the wake-up until then.
                    let _ = std::pin::pin!(tokio::task::yield_now()).poll(cx);
                } else {
                    *this.idle_since = None;
                }
            }
        }
        out
    }
}

/// The upstream's address, its connector, and the shared pool.
#[derive(Clone, Debug)]
pub(crate) struct HttpUpstream {
    client: Client<HttpConnector, UpstreamBody>,
    scheme: Scheme,
    authority: Authority,
    host: HeaderValue,
    /// The upstream URL's path without a trailing `/` (`/mcp`, or empty for `/`).
    base_path: String,
    label: String,
    first_byte: Duration,
    connect: Duration,
}

/// Why a send on a connection of our own failed.
enum LocalFailure {
    /// The connection went away before the request was written: it may be sent again.
    Unsent(Request<UpstreamBody>, hyper::Error),
    Failed(GatewayError),
}

impl HttpUpstream {
    /// `url` was checked by [`crate::GatewayConfig::validate`].
    pub(crate) fn new(url: &str, options: &GatewayOptions) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("upstream {url:?}: {e}"))?;
        let parts = uri.into_parts();
        let authority = parts.authority.ok_or("upstream has no host")?;
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|e| format!("upstream {url:?}: {e}"))?;
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(options.connect_timeout));
        connector.set_nodelay(true);
        connector.enforce_http(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(POOL_IDLE)
            .build(connector);
        let path = parts
            .path_and_query
            .map(|p| p.path().to_owned())
            .unwrap_or_default();
        Ok(Self {
            client,
            scheme: parts.scheme.unwrap_or(Scheme::HTTP),
            authority,
            host,
            base_path: path.trim_end_matches('/').to_owned(),
            label: url.to_owned(),
            first_byte: options.first_byte_timeout,
            connect: options.connect_timeout,
        })
    }

    /// Sends `req` (its URI is `<rest of the path after the resource path>[?query]`, headers
    /// already prepared) and returns the upstream's response head with its streaming body:
    /// over a connection of `local` when given (the inbound connection's own), else the pool.
    pub(crate) async fn send(
        &self,
        mut req: Request<UpstreamBody>,
        rest: &str,
        local: Option<&LocalUpstream>,
    ) -> Result<Response<Incoming>, GatewayError> {
        let pq = self.path_and_query(rest, req.uri().query())?;
        let own = local.and_then(|l| match l.take_ready() {
            Some(sender) => Some((l, Some(sender))),
            None if !l.is_full() => Some((l, None)),
            None => None,
        });
        let sent = match own {
            Some((local, sender)) => {
                *req.uri_mut() = Uri::from(pq);
                req.headers_mut().insert(HOST, self.host.clone());
                self.send_local(req, sender, local).await
            }
            None => {
                *req.uri_mut() = self.absolute(pq)?;
                self.send_pooled(req).await
            }
        };
        let mut resp = sent?;
        strip_hop_by_hop(resp.headers_mut());
        Ok(resp)
    }

    async fn send_pooled(
        &self,
        req: Request<UpstreamBody>,
    ) -> Result<Response<Incoming>, GatewayError> {
        match tokio::time::timeout(self.first_byte, self.client.request(req)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(self.classify(&e)),
            Err(_) => Err(self.no_response()),
        }
    }

    /// Sends on `sender` (a free connection of `local`), or on a new connection of `local`.
    async fn send_local(
        &self,
        req: Request<UpstreamBody>,
        sender: Option<http1::SendRequest<UpstreamBody>>,
        local: &LocalUpstream,
    ) -> Result<Response<Incoming>, GatewayError> {
        let work = async {
            let reused = sender.is_some();
            let sender = match sender {
                Some(s) => s,
                None => self.open(local).await?,
            };
            match self.exchange(sender, req, local).await {
                Ok(resp) => Ok(resp),
                // An idle connection the upstream had closed: once more on a new one.
                Err(LocalFailure::Unsent(req, e)) if reused => {
                    tracing::debug!(error = %e, "idle upstream connection closed; reconnecting");
                    let sender = self.open(local).await?;
                    match self.exchange(sender, req, local).await {
                        Ok(resp) => Ok(resp),
                        Err(LocalFailure::Unsent(_, e)) => Err(self.unavailable(&e)),
                        Err(LocalFailure::Failed(e)) => Err(e),
                    }
                }
                Err(LocalFailure::Unsent(_, e)) => Err(self.unavailable(&e)),
                Err(LocalFailure::Failed(e)) => Err(e),
            }
        };
        // The connect timeout applies inside; this bounds the whole wait for the head.
        match tokio::time::timeout(self.first_byte, work).await {
            Ok(result) => result,
            Err(_) => Err(self.no_response()),
        }
    }

    /// Sends on `sender`; on success the sender becomes the idle one again.
    async fn exchange(
        &self,
        mut sender: http1::SendRequest<UpstreamBody>,
        req: Request<UpstreamBody>,
        local: &LocalUpstream,
    ) -> Result<Response<Incoming>, LocalFailure> {
        match sender.try_send_request(req).await {
            Ok(resp) => {
                local.put_idle(sender);
                Ok(resp)
            }
            Err(mut e) => match e.take_message() {
                Some(req) => Err(LocalFailure::Unsent(req, e.into_error())),
                None => Err(LocalFailure::Failed(self.unavailable(&e.into_error()))),
            },
        }
    }

    /// A new connection, driven by the inbound connection's task.
    async fn open(
        &self,
        local: &LocalUpstream,
    ) -> Result<http1::SendRequest<UpstreamBody>, GatewayError> {
        let host = self.authority.host();
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        let port = self.authority.port_u16().unwrap_or(80);
        let tcp = match tokio::time::timeout(self.connect, TcpStream::connect((host, port))).await {
            Ok(Ok(tcp)) => tcp,
            Ok(Err(e)) => {
                return Err(GatewayError::UpstreamUnavailable {
                    upstream: self.label.clone(),
                    detail: format!("tcp connect error: {e}"),
                });
            }
            Err(_) => {
                return Err(GatewayError::UpstreamTimeout {
                    upstream: self.label.clone(),
                    detail: format!("no connection within {} s", self.connect.as_secs_f64()),
                });
            }
        };
        let _ = tcp.set_nodelay(true);
        tracing::debug!(upstream = %self.label, "upstream connection opened");
        let (sender, conn) = http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| self.unavailable(&e))?;
        if let Err(conn) = local.add(Box::pin(conn)) {
            // Enough connections driven here already (a retry racing a closing one): this
            // one runs on a task of its own, like a pooled one.
            tokio::spawn(async move {
                if let Err(e) = conn.await {
                    tracing::debug!(error = %e, "upstream connection ended");
                }
            });
        }
        Ok(sender)
    }

    fn path_and_query(
        &self,
        rest: &str,
        query: Option<&str>,
    ) -> Result<PathAndQuery, GatewayError> {
        let mut pq = String::with_capacity(self.base_path.len() + rest.len() + 16);
        pq.push_str(&self.base_path);
        pq.push_str(rest);
        if pq.is_empty() {
            pq.push('/');
        }
        if let Some(q) = query {
            pq.push('?');
            pq.push_str(q);
        }
        PathAndQuery::try_from(pq)
            .map_err(|e| GatewayError::Internal(format!("upstream path: {e}")))
    }

    fn absolute(&self, pq: PathAndQuery) -> Result<Uri, GatewayError> {
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
            .map_err(|e| GatewayError::Internal(format!("upstream URI: {e}")))
    }

    #[cfg(test)]
    fn target(&self, rest: &str, query: Option<&str>) -> Result<Uri, GatewayError> {
        self.absolute(self.path_and_query(rest, query)?)
    }

    fn no_response(&self) -> GatewayError {
        GatewayError::UpstreamTimeout {
            upstream: self.label.clone(),
            detail: format!("no response within {} s", self.first_byte.as_secs_f64()),
        }
    }

    fn unavailable(&self, e: &hyper::Error) -> GatewayError {
        GatewayError::UpstreamUnavailable {
            upstream: self.label.clone(),
            detail: describe(e),
        }
    }

    /// Refused/reset → 502; a connect that ran out of time → 504.
    fn classify(&self, e: &hyper_util::client::legacy::Error) -> GatewayError {
        let detail = describe(e);
        let timed_out = io_kind(e) == Some(std::io::ErrorKind::TimedOut);
        if timed_out && e.is_connect() {
            return GatewayError::UpstreamTimeout {
                upstream: self.label.clone(),
                detail,
            };
        }
        GatewayError::UpstreamUnavailable {
            upstream: self.label.clone(),
            detail,
        }
    }
}

fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        cur = err.source();
    }
    None
}

/// The error and its causes on one line: `connection refused` beats `client error (Connect)`.
fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(err) = cur {
        let s = err.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = err.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// How often `Driven` polls a connection that never becomes ready, over `wait`.
    async fn polls_while_idle(busy_poll: Duration, wait: Duration) -> (usize, usize) {
        let polls = Arc::new(AtomicUsize::new(0));
        let counted = polls.clone();
        let idle = std::future::poll_fn(move |_| {
            counted.fetch_add(1, Ordering::Relaxed);
            Poll::<()>::Pending
        });
        let task = tokio::spawn(Driven::new(idle, LocalUpstream::default(), busy_poll));
        tokio::time::sleep(wait).await;
        let early = polls.load(Ordering::Relaxed);
        tokio::time::sleep(wait).await;
        let late = polls.load(Ordering::Relaxed);
        task.abort();
        (early, late)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_idle_connection_polls_for_its_window_then_sleeps() {
        let (early, late) =
            polls_while_idle(Duration::from_millis(2), Duration::from_millis(50)).await;
        assert!(early > 10, "it kept polling in its window: {early} polls");
        assert_eq!(early, late, "and then slept until woken");
        let (early, late) = polls_while_idle(Duration::ZERO, Duration::from_millis(20)).await;
        assert_eq!(
            (early, late),
            (1, 1),
            "without busy polling it sleeps at once"
        );
    }

    #[test]
    fn targets_map_the_resource_path_onto_the_upstream_path() {
        let o = GatewayOptions::default();
        let cases = [
            (
                "http://127.0.0.1:3000/mcp",
                "",
                None,
                "http://127.0.0.1:3000/mcp",
            ),
            (
                "http://127.0.0.1:3000/mcp",
                "/sub",
                Some("a=1"),
                "http://127.0.0.1:3000/mcp/sub?a=1",
            ),
            ("http://127.0.0.1:3000/", "", None, "http://127.0.0.1:3000/"),
            (
                "http://127.0.0.1:3000",
                "/x",
                None,
                "http://127.0.0.1:3000/x",
            ),
        ];
        for (base, rest, q, expected) in cases {
            let u = HttpUpstream::new(base, &o).unwrap();
            assert_eq!(
                u.target(rest, q).unwrap().to_string(),
                expected,
                "{base} {rest}"
            );
        }
    }
}
