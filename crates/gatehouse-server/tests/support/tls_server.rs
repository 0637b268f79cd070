//! A tiny HTTPS/1.1 server on 127.0.0.1 for tests of outgoing fetches, with certificates from
//! a throwaway rcgen CA.
//!
//! Include it with `#[path = "support/tls_server.rs"] mod tls_server;` from a file in
//! `tests/` (dev-dependencies: `rcgen`, `tokio-rustls`). Each server answers every connection
//! with the same [`Reply`], counts accepted TCP connections (before TLS, so a refused fetch
//! can prove it never connected) and records each request's head and TLS server name.
//! Dropping the server stops it and every connection it holds.
// Shared by several test binaries; each uses only part of it.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use rcgen::{ExtendedKeyUsagePurpose, KeyUsagePurpose};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::crypto::aws_lc_rs;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A throwaway certificate authority.
pub(crate) struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    /// A new CA named `name`.
    pub(crate) fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        let issuer = CertifiedIssuer::self_signed(params, key).expect("CA certificate");
        Self { issuer }
    }

    /// The CA certificate in PEM, to trust it.
    pub(crate) fn pem(&self) -> Vec<u8> {
        self.issuer.pem().into_bytes()
    }

    /// A server certificate for `names` (DNS names or IP literals) and its key.
    pub(crate) fn leaf(&self, names: &[&str]) -> (CertificateDer<'static>, PrivateKeyDer<'static>) {
        let sans: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(sans).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, names[0]);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        let key = PrivatePkcs8KeyDer::from(key.serialize_der());
        (cert.der().clone(), key.into())
    }
}

/// How the server answers a request.
#[derive(Clone, Debug)]
pub(crate) enum Reply {
    /// Send this response.
    Respond(Canned),
    /// Read the request, then never answer (until the server is dropped).
    Hang,
    /// Accept the TCP connection, then never start the TLS handshake.
    NoHandshake,
}

/// How a response body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Content-Length`, body in one write.
    Length,
    /// `Transfer-Encoding: chunked`, one chunk of at most this many bytes per write.
    Chunked(usize),
    /// No length: the body ends when the connection closes.
    Close,
}

/// A canned response.
#[derive(Clone, Debug)]
pub(crate) struct Canned {
    /// Status code.
    pub(crate) status: u16,
    /// Headers besides the framing ones.
    pub(crate) headers: Vec<(String, String)>,
    /// Body.
    pub(crate) body: Vec<u8>,
    /// Body framing.
    pub(crate) framing: Framing,
    /// Keep the connection open after the body without finishing it (no last chunk, no
    /// close): a client that waits for the end of the body waits forever.
    pub(crate) stall_after_body: bool,
}

impl Canned {
    /// A response with `status`, no headers and an empty body.
    pub(crate) fn status(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            framing: Framing::Length,
            stall_after_body: false,
        }
    }

    /// `200` with `Content-Type: application/json` and `body`.
    pub(crate) fn json(body: &str) -> Self {
        Self::status(200)
            .header("Content-Type", "application/json")
            .body(body.as_bytes())
    }

    /// Adds a header.
    pub(crate) fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Sets the body.
    pub(crate) fn body(mut self, body: &[u8]) -> Self {
        self.body = body.to_vec();
        self
    }

    /// Sets the framing.
    pub(crate) fn framing(mut self, framing: Framing) -> Self {
        self.framing = framing;
        self
    }

    /// Leaves the body unfinished and the connection open.
    pub(crate) fn stall_after_body(mut self) -> Self {
        self.stall_after_body = true;
        self
    }
}

impl From<Canned> for Reply {
    fn from(canned: Canned) -> Self {
        Reply::Respond(canned)
    }
}

/// What the server saw of one request.
#[derive(Clone, Debug)]
pub(crate) struct SeenRequest {
    /// The TLS server name (SNI) the client sent, if any.
    pub(crate) sni: Option<String>,
    /// The request line and headers, as sent.
    pub(crate) head: String,
}

impl SeenRequest {
    /// A request header's value (first occurrence, name case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A running server; stops when dropped.
pub(crate) struct TlsServer {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
    task: JoinHandle<()>,
}

impl TlsServer {
    /// Starts a server on 127.0.0.1 (a free port) with a certificate from `ca` for `names`.
    pub(crate) async fn start(ca: &TestCa, names: &[&str], reply: impl Into<Reply>) -> Self {
        let (chain, key) = ca.leaf(names);
        let config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![chain], key)
            .expect("server certificate");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(accept_loop(
            listener,
            acceptor,
            reply.into(),
            accepted.clone(),
            seen.clone(),
        ));
        Self {
            addr,
            accepted,
            seen,
            task,
        }
    }

    /// The listening address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `https://{host}:{port}{path}`.
    pub(crate) fn url(&self, host: &str, path: &str) -> url::Url {
        let text = format!("https://{host}:{}{path}", self.addr.port());
        url::Url::parse(&text).expect("test URL")
    }

    /// TCP connections accepted so far.
    pub(crate) fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Requests read so far.
    pub(crate) fn requests(&self) -> Vec<SeenRequest> {
        self.seen.lock().expect("seen lock").clone()
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    reply: Reply,
    accepted: Arc<AtomicUsize>,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
) {
    // Owning the connections here means aborting this task drops (and closes) them all.
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            incoming = listener.accept() => {
                let Ok((tcp, _)) = incoming else { continue };
                accepted.fetch_add(1, Ordering::SeqCst);
                connections.spawn(serve(tcp, acceptor.clone(), reply.clone(), seen.clone()));
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn serve(
    tcp: TcpStream,
    acceptor: TlsAcceptor,
    reply: Reply,
    seen: Arc<Mutex<Vec<SeenRequest>>>,
) {
    if let Reply::NoHandshake = reply {
        let _held = tcp;
        return std::future::pending::<()>().await;
    }
    // A client that rejects our certificate aborts the handshake: nothing to serve.
    let Ok(mut tls) = acceptor.accept(tcp).await else {
        return;
    };
    let sni = tls.get_ref().1.server_name().map(str::to_owned);
    let Some(head) = read_head(&mut tls).await else {
        return;
    };
    seen.lock()
        .expect("seen lock")
        .push(SeenRequest { sni, head });
    match reply {
        Reply::Hang | Reply::NoHandshake => std::future::pending::<()>().await,
        Reply::Respond(canned) => {
            if write_response(&mut tls, &canned).await.is_err() {
                return;
            }
            if canned.stall_after_body {
                std::future::pending::<()>().await;
            }
            let _ = tls.shutdown().await;
        }
    }
}

/// Reads up to the blank line ending the request head (GET requests have no body).
async fn read_head<S: AsyncReadExt + Unpin>(stream: &mut S) -> Option<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1024];
    while !buf.ends_with(b"\r\n\r\n") && buf.len() < 64 * 1024 {
        let n = stream.read(&mut byte).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&byte[..n]);
    }
    Some(String::from_utf8_lossy(&buf).trim_end().to_owned())
}

async fn write_response<S: AsyncWriteExt + Unpin>(
    stream: &mut S,
    canned: &Canned,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {} Test\r\nConnection: close\r\n", canned.status);
    for (name, value) in &canned.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    match canned.framing {
        Framing::Length => head.push_str(&format!("Content-Length: {}\r\n", canned.body.len())),
        Framing::Chunked(_) => head.push_str("Transfer-Encoding: chunked\r\n"),
        Framing::Close => {}
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await?;
    stream.flush().await?;
    match canned.framing {
        Framing::Length | Framing::Close => stream.write_all(&canned.body).await?,
        Framing::Chunked(piece) => {
            for chunk in canned.body.chunks(piece.max(1)) {
                stream
                    .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                    .await?;
                stream.write_all(chunk).await?;
                stream.write_all(b"\r\n").await?;
                stream.flush().await?;
            }
            if !canned.stall_after_body {
                stream.write_all(b"0\r\n\r\n").await?;
            }
        }
    }
    stream.flush().await
}
