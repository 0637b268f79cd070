//! A minimal HTTP/1.1 client: one kept-alive connection, reconnected when the server closes
//! it. Loopback targets only.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use http::header::{CONTENT_TYPE, COOKIE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Where requests go: a loopback socket address and the `Host` header value.
#[derive(Clone, Debug)]
pub(crate) struct Origin {
    pub(crate) addr: SocketAddr,
    pub(crate) host: HeaderValue,
    /// `http://host:port`.
    pub(crate) base: String,
}

impl Origin {
    /// The origin of an `http://127.0.0.1:…` (or `localhost`, `[::1]`) URL.
    pub(crate) fn of(url: &str) -> Result<Arc<Self>> {
        let u = url::Url::parse(url).with_context(|| format!("bad URL {url}"))?;
        if u.scheme() != "http" {
            bail!("{url}: only plain http on loopback is benchmarked");
        }
        let host = u.host_str().context("URL without host")?;
        let port = u.port_or_known_default().context("URL without port")?;
        let ip: std::net::IpAddr = match host {
            "localhost" => std::net::Ipv4Addr::LOCALHOST.into(),
            h => h
                .trim_matches(['[', ']'])
                .parse()
                .with_context(|| format!("{url}: use a loopback IP address"))?,
        };
        if !ip.is_loopback() {
            bail!("{url}: loopback targets only");
        }
        let authority = format!("{host}:{port}");
        Ok(Arc::new(Self {
            addr: SocketAddr::new(ip, port),
            host: HeaderValue::from_str(&authority)?,
            base: format!("http://{authority}"),
        }))
    }
}

/// A response, read whole.
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    /// The body as text (lossy).
    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header as text.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// One connection.
pub(crate) struct Client {
    origin: Arc<Origin>,
    sender: Option<http1::SendRequest<Full<Bytes>>>,
    /// Connections opened (1 + reconnects).
    pub(crate) connects: u64,
}

impl Client {
    pub(crate) fn new(origin: Arc<Origin>) -> Self {
        Self {
            origin,
            sender: None,
            connects: 0,
        }
    }

    async fn connect(&mut self) -> Result<&mut http1::SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(self.origin.addr)
            .await
            .with_context(|| format!("connecting to {}", self.origin.addr))?;
        stream.set_nodelay(true)?;
        let (sender, conn) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.connects += 1;
        Ok(self.sender.insert(sender))
    }

    /// Opens the connection now (so a scenario starts with its connections established).
    pub(crate) async fn open(&mut self) -> Result<()> {
        if self.sender.is_none() {
            self.connect().await?;
        }
        Ok(())
    }

    /// Sends one request and reads the whole response.
    pub(crate) async fn send(&mut self, req: Request<Full<Bytes>>) -> Result<Reply> {
        let usable = match self.sender.as_mut() {
            Some(s) => s.ready().await.is_ok(),
            None => false,
        };
        let sender = if usable {
            self.sender.as_mut().context("no connection")?
        } else {
            self.sender = None;
            self.connect().await?
        };
        let resp = match sender.send_request(req).await {
            Ok(r) => r,
            Err(e) => {
                self.sender = None;
                return Err(e.into());
            }
        };
        let (parts, body) = resp.into_parts();
        let body = body.collect().await?.to_bytes();
        Ok(Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }

    /// A request to a path (or absolute URL of the same origin) of this origin.
    pub(crate) fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(HeaderName, HeaderValue)],
        body: Bytes,
    ) -> Result<Request<Full<Bytes>>> {
        let path = path.strip_prefix(&self.origin.base).unwrap_or(path);
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.origin.host.clone());
        for (k, v) in headers {
            b = b.header(k, v);
        }
        Ok(b.body(Full::new(body))?)
    }

    /// GET with optional cookies.
    pub(crate) async fn get(&mut self, path: &str, cookie: Option<&str>) -> Result<Reply> {
        let mut h = Vec::new();
        if let Some(c) = cookie.filter(|c| !c.is_empty()) {
            h.push((COOKIE, HeaderValue::from_str(c)?));
        }
        let req = self.request(Method::GET, path, &h, Bytes::new())?;
        self.send(req).await
    }

    /// POST a form, with optional extra headers (cookies, authorization).
    pub(crate) async fn post_form(
        &mut self,
        path: &str,
        form: &[(&str, &str)],
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<Reply> {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish();
        let mut h = vec![(
            CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded"),
        )];
        h.extend(extra.iter().cloned());
        let req = self.request(Method::POST, path, &h, Bytes::from(body))?;
        self.send(req).await
    }

    /// POST JSON.
    pub(crate) async fn post_json(
        &mut self,
        path: &str,
        json: &serde_json::Value,
        extra: &[(HeaderName, HeaderValue)],
    ) -> Result<Reply> {
        let mut h = vec![(CONTENT_TYPE, HeaderValue::from_static("application/json"))];
        h.extend(extra.iter().cloned());
        let req = self.request(Method::POST, path, &h, Bytes::from(json.to_string()))?;
        self.send(req).await
    }
}

/// `Authorization: Basic …` for a client id and secret (RFC 6749 §2.3.1 form-encodes both).
pub(crate) fn basic(id: &str, secret: &str) -> Result<HeaderValue> {
    use base64::Engine as _;
    let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let raw = format!("{}:{}", enc(id), enc(secret));
    Ok(HeaderValue::from_str(&format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    ))?)
}
