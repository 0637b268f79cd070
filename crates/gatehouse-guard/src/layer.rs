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
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_LENGTH, ORIGIN};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower::{Layer, Service};

use crate::body::GuardBody;
use crate::challenge::Rejection;
use crate::cors;
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
    let origin = req.headers().get(ORIGIN).cloned();
    if let Some(o) = origin.as_ref().filter(|o| !guard.inner.origins.allows(o)) {
        let shown = String::from_utf8_lossy(o.as_bytes()).into_owned();
        return Ok(refuse(&guard, &Rejection::OriginNotAllowed(shown)));
    }
    let mut resp = if req.method() == Method::OPTIONS {
        let mut resp = Response::new(GuardBody::full(Bytes::new()));
        *resp.status_mut() = StatusCode::NO_CONTENT;
        cors::preflight(resp.headers_mut(), req.headers());
        resp
    } else {
        match admit(&guard, req).await {
            Ok(req) => inner.call(req).await?.map(GuardBody::inner),
            Err(r) => refuse(&guard, &r),
        }
    };
    if let Some(o) = &origin {
        cors::allow(resp.headers_mut(), o);
    }
    Ok(resp)
}

fn refuse<R>(guard: &Guard, rejection: &Rejection) -> Response<GuardBody<R>> {
    guard
        .respond(rejection)
        .map(|s| GuardBody::full(Bytes::from(s)))
}

/// Steps 4–6: the request to pass on, or why not.
async fn admit<B>(guard: &Guard, req: Request<B>) -> Result<Request<GuardBody<B>>, Rejection>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let token = guard.authenticate(req.headers()).await?;
    let config = &guard.inner.config;
    let (mut parts, body) = req.into_parts();
    let (body, messages) = if config.policy.needs_body() && parts.method == Method::POST {
        let bytes = read_body(&parts.headers, body, config.max_body_bytes).await?;
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
    parts.extensions.insert(token);
    Ok(Request::from_parts(parts, body))
}

/// The whole body, refusing more than `limit` bytes (by `Content-Length` before reading).
async fn read_body<B>(headers: &HeaderMap, body: B, limit: usize) -> Result<Bytes, Rejection>
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
