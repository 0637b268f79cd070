//! The tower layer: every request to the guarded service passes these steps, in order.
//!
//! 1. Metadata: the PRM (and the optional AS metadata mirror) is answered here, publicly.
//! 2. `Origin`: a browser origin that is not allowed gets 403 (MCP transports › Security).
//! 3. CORS preflight: `OPTIONS` is answered without authentication (RS-27).
//! 4. Token: read from `Authorization: Bearer` only, then verified.
//! 5. Scopes: the request-wide scopes, and for JSON-RPC `tools/call` (batches included) each
//!    tool's scopes — the body is read (bounded) and re-attached unchanged.
//! 6. The [`VerifiedToken`] goes into the request extensions and the inner service is
//!    called. The `Authorization` header stays unless configured otherwise: the inner
//!    service is the MCP server itself, which must not pass the token on to anything else
//!    (RS-22); the guard itself sends it nowhere.
//!
//! Responses to allowed origins get CORS headers, refusals included, so a browser client can
//! read `WWW-Authenticate`.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONNECTION, CONTENT_LENGTH};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Version};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower::{Layer, Service};

use crate::body::GuardBody;
use crate::challenge::Rejection;
use crate::guard::Guard;
use crate::mcp;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Wraps a service with a [`Guard`]. Build it with [`Guard::layer`].
#[derive(Clone, Debug)]
pub struct GuardLayer {
    guard: Guard,
}

impl GuardLayer {
    pub(crate) fn new(guard: Guard) -> Self {
        Self { guard }
    }
}

impl<S> Layer<S> for GuardLayer {
    type Service = GuardService<S>;
    fn layer(&self, inner: S) -> GuardService<S> {
        GuardService {
            guard: self.guard.clone(),
            inner,
        }
    }
}

/// A service behind a [`Guard`]. It takes `Request<B>` and calls the inner service with
/// `Request<GuardBody<B>>` (the original body, or the bytes the guard read).
#[derive(Clone, Debug)]
pub struct GuardService<S> {
    guard: Guard,
    inner: S,
}

impl<S, B, R> Service<Request<B>> for GuardService<S>
where
    S: Service<Request<GuardBody<B>>, Response = Response<R>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    R: Send + 'static,
{
    type Response = Response<GuardBody<R>>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The clone is not ready; the ready one goes with this request.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(handle(self.guard.clone(), inner, req))
    }
}

async fn handle<S, B, R>(
    guard: Guard,
    mut inner: S,
    req: Request<B>,
) -> Result<Response<GuardBody<R>>, S::Error>
where
    S: Service<Request<GuardBody<B>>, Response = Response<R>>,
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    if let Some(resp) = guard.public_document(req.method(), req.uri()).await {
        return Ok(resp.map(GuardBody::full));
    }
    let version = req.version();
    let origin = match guard.check_origin(req.headers()) {
        Ok(origin) => origin.cloned(),
        Err(r) => {
            let mut resp = refuse(&guard, &r);
            if !drain_body(req.into_body()).await {
                close_connection(version, resp.headers_mut());
            }
            return Ok(resp);
        }
    };
    if req.method() == Method::OPTIONS {
        return Ok(guard.preflight(req.headers()).map(GuardBody::full));
    }
    let mut resp = match admit(&guard, req).await {
        Ok(req) => inner.call(req).await?.map(GuardBody::inner),
        Err(Refused { rejection, unread }) => {
            let mut resp = refuse(&guard, &rejection);
            if unread {
                close_connection(version, resp.headers_mut());
            }
            resp
        }
    };
    if let Some(o) = &origin {
        guard.cors_headers(o, resp.headers_mut());
    }
    Ok(resp)
}

fn refuse<R>(guard: &Guard, rejection: &Rejection) -> Response<GuardBody<R>> {
    guard
        .respond(rejection)
        .map(|s| GuardBody::full(Bytes::from(s)))
}

/// Why a request is not passed on, and whether its body was left (partly) unread.
struct Refused {
    rejection: Rejection,
    unread: bool,
}

impl From<Rejection> for Refused {
    fn from(rejection: Rejection) -> Self {
        Self {
            rejection,
            unread: false,
        }
    }
}

/// Steps 4–6: the request to pass on, or why not.
async fn admit<B>(guard: &Guard, req: Request<B>) -> Result<Request<GuardBody<B>>, Refused>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let (mut parts, body) = req.into_parts();
    let token = match guard.authenticate(&parts.headers).await {
        Ok(token) => token,
        Err(rejection) => {
            let unread = !drain_body(body).await;
            return Err(Refused { rejection, unread });
        }
    };
    let config = &guard.inner.config;
    let (body, messages) = if config.policy.needs_body() && parts.method == Method::POST {
        let bytes = crate::read_body(&parts.headers, body, config.max_body_bytes)
            .await
            .map_err(|rejection| Refused {
                // Too large or broken off: the rest was not read.
                rejection,
                unread: true,
            })?;
        let messages =
            mcp::parse_body(&bytes).map_err(|e| Rejection::MalformedBody(e.to_string()))?;
        (GuardBody::full(bytes), messages)
    } else {
        (GuardBody::inner(body), Vec::new())
    };
    guard.authorize(&token, &messages)?;
    if config.strip_authorization {
        parts.headers.remove(AUTHORIZATION);
    }
    parts.extensions.insert(Arc::unwrap_or_clone(token));
    Ok(Request::from_parts(parts, body))
}

/// Reads a whole request body, refusing more than `limit` bytes: by `Content-Length` before
/// reading anything, then while reading. [`Rejection::BodyTooLarge`] (413) beyond the limit,
/// [`Rejection::MalformedBody`] (400) when the body cannot be read. The guard reads JSON-RPC
/// bodies with it (limit: [`crate::GuardConfig::max_body_bytes`]); so can a proxy that
/// needs the same bytes.
pub async fn read_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, Rejection>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(Rejection::BodyTooLarge(limit));
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
            Err(Rejection::BodyTooLarge(limit))
        }
        Err(e) => Err(Rejection::MalformedBody(format!(
            "reading the body failed: {e}"
        ))),
    }
}

/// Most of an unused request body [`drain_body`] reads (a refused request's body is small: a
/// JSON-RPC message sent without a token).
pub const DRAIN_LIMIT: usize = 64 * 1024;
/// Longest [`drain_body`] waits for it.
pub const DRAIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1);

/// Reads and drops a request body that will not be used, so the HTTP/1.1 connection can carry
/// the client's next request. Left unread, the server must close the connection after
/// answering, and a client that reuses it at once (most do: `POST` without a token, 401, then
/// `GET` the metadata) sees its next request fail. `false` if the body was larger than
/// [`DRAIN_LIMIT`], slower than [`DRAIN_TIMEOUT`] or broken: then answer with
/// [`close_connection`].
pub async fn drain_body<B>(body: B) -> bool
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    if body.is_end_stream() {
        return true;
    }
    matches!(
        tokio::time::timeout(DRAIN_TIMEOUT, Limited::new(body, DRAIN_LIMIT).collect()).await,
        Ok(Ok(_))
    )
}

/// Says `Connection: close` on an HTTP/1 response whose request body was not read, so the
/// client does not send its next request on a connection about to close (HTTP/2 resets the
/// stream instead and has no such header).
pub fn close_connection(version: Version, headers: &mut HeaderMap) {
    if version <= Version::HTTP_11 {
        headers.insert(CONNECTION, HeaderValue::from_static("close"));
    }
}

/// A service that answers 404: put it behind the layer to serve only the metadata at a
/// route of its own, e.g. `route_service("/.well-known/oauth-protected-resource/mcp",
/// guard.layer().layer(NotFound))`.
#[derive(Clone, Copy, Debug, Default)]
pub struct NotFound;

impl<B> Service<Request<B>> for NotFound {
    type Response = Response<http_body_util::Empty<Bytes>>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<B>) -> Self::Future {
        let mut resp = Response::new(http_body_util::Empty::new());
        *resp.status_mut() = StatusCode::NOT_FOUND;
        std::future::ready(Ok(resp))
    }
}

#[cfg(test)]
#[path = "layer_tests.rs"]
mod tests;
