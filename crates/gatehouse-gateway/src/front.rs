//! The guard's public face, used as it is: the metadata documents, CORS preflights and the
//! `Origin` check are answered by the guard's own tower layer (in front of a service that
//! only says 404), so the gateway re-implements none of them.
//!
//! The guard exposes these steps only inside its layer, so the `Origin` check of an ordinary
//! request is asked as a preflight with the same `Origin`, and the CORS headers of that answer
//! are copied onto the real response. (A `Guard::check_origin` hook would make this a plain
//! call; see the crate docs.)

use bytes::Bytes;
use gatehouse_guard::{Guard, GuardService, NotFound, Rejection};
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Empty};
use tower::{Layer, Service};

use crate::body::GatewayBody;
use crate::error::GatewayError;

/// The preflight request headers the guard reads.
const PREFLIGHT_HEADERS: [HeaderName; 3] = [
    header::ORIGIN,
    header::ACCESS_CONTROL_REQUEST_METHOD,
    header::ACCESS_CONTROL_REQUEST_HEADERS,
];

/// The CORS headers of an ordinary response to an allowed origin.
const CORS_RESPONSE_HEADERS: [HeaderName; 3] = [
    header::ACCESS_CONTROL_ALLOW_ORIGIN,
    header::ACCESS_CONTROL_EXPOSE_HEADERS,
    header::VARY,
];

/// CORS headers to add to a response for a browser origin the guard allows.
#[derive(Clone, Debug, Default)]
pub(crate) struct Cors(Vec<(HeaderName, HeaderValue)>);

impl Cors {
    /// Adds the headers to `headers` (replacing the upstream's own CORS answer, if any).
    pub(crate) fn apply(&self, headers: &mut HeaderMap) {
        for (name, _) in &self.0 {
            headers.remove(name);
        }
        for (name, value) in &self.0 {
            headers.append(name.clone(), value.clone());
        }
    }
}

/// The guard's layer over a 404 service, and the path of the MCP endpoint.
#[derive(Clone, Debug)]
pub(crate) struct Front {
    service: GuardService<NotFound>,
    endpoint_path: String,
}

impl Front {
    pub(crate) fn new(guard: &Guard, endpoint_path: &str) -> Self {
        Self {
            service: guard.layer().layer(NotFound),
            endpoint_path: endpoint_path.to_owned(),
        }
    }

    /// Answers the requests that need no token: the metadata documents (anything under
    /// `/.well-known/`, which the guard serves or refuses) and CORS preflights.
    pub(crate) async fn public(
        &self,
        method: &Method,
        uri: &http::Uri,
        headers: &HeaderMap,
    ) -> Option<Response<GatewayBody>> {
        if method != Method::OPTIONS && !uri.path().starts_with("/.well-known/") {
            return None;
        }
        let (status, h, body) = self.ask(method.clone(), uri.clone(), headers).await;
        if status == StatusCode::UNAUTHORIZED {
            // A well-known path the guard does not serve went on to its token check.
            return Some(GatewayError::NoRoute(uri.path().to_owned()).respond());
        }
        let mut resp = Response::new(GatewayBody::full(body));
        *resp.status_mut() = status;
        *resp.headers_mut() = h;
        Some(resp)
    }

    /// The `Origin` check of a request: `Ok(None)` without `Origin` (not a browser),
    /// `Ok(Some(cors))` for an allowed origin, the guard's refusal otherwise.
    pub(crate) async fn origin(&self, headers: &HeaderMap) -> Result<Option<Cors>, Rejection> {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return Ok(None);
        };
        let mut probe = HeaderMap::new();
        probe.insert(header::ORIGIN, origin.clone());
        let uri = http::Uri::try_from(self.endpoint_path.as_str()).unwrap_or_default();
        let (status, h, _) = self.ask(Method::OPTIONS, uri, &probe).await;
        if status == StatusCode::FORBIDDEN {
            let shown = String::from_utf8_lossy(origin.as_bytes()).into_owned();
            return Err(Rejection::OriginNotAllowed(shown));
        }
        let cors = CORS_RESPONSE_HEADERS
            .iter()
            .flat_map(|name| {
                h.get_all(name)
                    .iter()
                    .map(move |v| (name.clone(), v.clone()))
            })
            .collect();
        Ok(Some(Cors(cors)))
    }

    async fn ask(
        &self,
        method: Method,
        uri: http::Uri,
        headers: &HeaderMap,
    ) -> (StatusCode, HeaderMap, Bytes) {
        let mut req = Request::new(Empty::<Bytes>::new());
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        for name in PREFLIGHT_HEADERS {
            for v in headers.get_all(&name) {
                req.headers_mut().append(name.clone(), v.clone());
            }
        }
        let mut service = self.service.clone();
        let Ok(resp) = service.call(req).await;
        let (parts, body) = resp.into_parts();
        let bytes = match body.collect().await {
            Ok(c) => c.to_bytes(),
            Err(never) => match never {},
        };
        (parts.status, parts.headers, bytes)
    }
}
