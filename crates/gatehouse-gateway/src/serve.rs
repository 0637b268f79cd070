//! The listener: TCP, optionally TLS (rustls, ALPN `h2` and `http/1.1`), HTTP/1.1 and
//! HTTP/2 on every connection (hyper-util's auto builder), and a graceful stop that lets
//! open requests finish for a while and then ends the stdio sessions and flushes events.

use std::convert::Infallible;
use std::future::Future;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::gateway::{Connection, Gateway};
use crate::http_upstream::{Driven, LocalUpstream};

/// Longest TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How to stop: how long open requests (event streams included) may go on after the stop
/// signal before their connections are dropped.
#[derive(Clone, Copy, Debug)]
pub struct Drain(pub Duration);

impl Default for Drain {
    fn default() -> Self {
        Self(Duration::from_secs(3))
    }
}

/// Serves `gateway` on `listener` until `stop` completes; then stops accepting, lets open
/// connections finish for up to `drain`, and calls [`Gateway::shutdown`]. With `tls`, every
/// connection is TLS.
pub async fn serve(
    gateway: Gateway,
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    stop: impl Future<Output = ()>,
    drain: Drain,
) {
    let graceful = GracefulShutdown::new();
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(30));
    tokio::pin!(stop);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    let conn = Connection { peer, tls: tls.is_some() };
                    tokio::spawn(connection(gateway.clone(), builder.clone(), graceful.watcher(), tcp, tls.clone(), conn));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            () = &mut stop => break,
        }
    }
    drop(listener);
    let _ = tokio::time::timeout(drain.0, graceful.shutdown()).await;
    gateway.shutdown().await;
}

async fn connection(
    gateway: Gateway,
    builder: auto::Builder<TokioExecutor>,
    watcher: Watcher,
    tcp: TcpStream,
    tls: Option<TlsAcceptor>,
    conn: Connection,
) {
    // HTTP/1 requests go upstream over connections of this connection's own, driven by
    // this task (see `http_upstream`); HTTP/2 requests run on tasks of their own and use the
    // shared pool.
    let local = LocalUpstream::default();
    let busy_poll = gateway.busy_poll();
    let service = service_fn({
        let local = local.clone();
        move |mut req: hyper::Request<Incoming>| {
            if req.version() < http::Version::HTTP_2 {
                req.extensions_mut().insert(local.clone());
            }
            let gateway = gateway.clone();
            async move { Ok::<_, Infallible>(gateway.handle(req, conn).await) }
        }
    });
    match tls {
        None => {
            let c = builder.serve_connection_with_upgrades(TokioIo::new(tcp), service);
            let _ = Driven::new(watcher.watch(c.into_owned()), local, busy_poll).await;
        }
        Some(acceptor) => {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => {
                    return tracing::debug!(peer = %conn.peer, error = %e, "TLS handshake failed");
                }
                Err(_) => return tracing::debug!(peer = %conn.peer, "TLS handshake timed out"),
            };
            let c = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let _ = Driven::new(watcher.watch(c.into_owned()), local, busy_poll).await;
        }
    }
}
