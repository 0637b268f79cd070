//! A Streamable HTTP upstream: a reverse proxy over a pooled hyper client. Bodies stream
//! both ways (the response frame by frame, so SSE events pass as they come); the connect
//! and first-byte waits are bounded, an open stream never is.

use std::time::Duration;

use bytes::Bytes;
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::body::BoxError;
use crate::config::GatewayOptions;
use crate::error::GatewayError;
use crate::headers::strip_hop_by_hop;

/// The body sent upstream: the bytes the gateway read, or the client's stream.
pub(crate) type UpstreamBody = UnsyncBoxBody<Bytes, BoxError>;

/// How long an unused pooled connection is kept.
const POOL_IDLE: Duration = Duration::from_secs(90);

/// The upstream's address and a client pooling connections to it.
#[derive(Clone, Debug)]
pub(crate) struct HttpUpstream {
    client: Client<HttpConnector, UpstreamBody>,
    scheme: Scheme,
    authority: Authority,
    /// The upstream URL's path without a trailing `/` (`/mcp`, or empty for `/`).
    base_path: String,
    label: String,
    first_byte: Duration,
}

impl HttpUpstream {
    /// `url` was checked by [`crate::GatewayConfig::validate`].
    pub(crate) fn new(url: &str, options: &GatewayOptions) -> Result<Self, String> {
        let uri: Uri = url.parse().map_err(|e| format!("upstream {url:?}: {e}"))?;
        let parts = uri.into_parts();
        let authority = parts.authority.ok_or("upstream has no host")?;
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
            base_path: path.trim_end_matches('/').to_owned(),
            label: url.to_owned(),
            first_byte: options.first_byte_timeout,
        })
    }

    /// Sends `req` (its URI is `<rest of the path after the resource path>[?query]`, headers
    /// already prepared) and returns the upstream's response head with its streaming body.
    pub(crate) async fn send(
        &self,
        mut req: Request<UpstreamBody>,
        rest: &str,
    ) -> Result<Response<Incoming>, GatewayError> {
        *req.uri_mut() = self.target(rest, req.uri().query())?;
        let sent = tokio::time::timeout(self.first_byte, self.client.request(req)).await;
        let mut resp = match sent {
            Ok(Ok(resp)) => resp,
            Ok(Err(e)) => return Err(self.classify(&e)),
            Err(_) => {
                return Err(GatewayError::UpstreamTimeout {
                    upstream: self.label.clone(),
                    detail: format!("no response within {} s", self.first_byte.as_secs_f64()),
                });
            }
        };
        strip_hop_by_hop(resp.headers_mut());
        Ok(resp)
    }

    fn target(&self, rest: &str, query: Option<&str>) -> Result<Uri, GatewayError> {
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
        let pq = PathAndQuery::try_from(pq)
            .map_err(|e| GatewayError::Internal(format!("upstream path: {e}")))?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(pq)
            .build()
            .map_err(|e| GatewayError::Internal(format!("upstream URI: {e}")))
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
