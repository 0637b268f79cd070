//! Every way the gateway itself fails a request that the guard admitted, and the one place
//! that turns such a failure into a status and a JSON body. Refusals by the guard (401, 403,
//! 413…) are answered by [`gatehouse_guard::Guard::respond`] instead.
//!
//! Like the guard's refusals, each error has three audiences: the `error` code, a client-safe
//! `error_description`, and a detail for logs and the authentication log only.

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use crate::body::GatewayBody;

/// Why the gateway could not serve an admitted request. [`GatewayError::status`] is the
/// only place the gateway decides a status of its own.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    /// The path is neither the MCP endpoint nor a metadata document.
    #[error("no MCP endpoint at {0}")]
    NoRoute(String),
    /// The upstream refused or dropped the connection, or answered something unusable.
    #[error("upstream {upstream} unavailable: {detail}")]
    UpstreamUnavailable {
        /// Which upstream (URL or command).
        upstream: String,
        /// Why, in words.
        detail: String,
    },
    /// The upstream did not connect or answer in time.
    #[error("upstream {upstream} timed out: {detail}")]
    UpstreamTimeout {
        /// Which upstream (URL or command).
        upstream: String,
        /// Which wait ran out.
        detail: String,
    },
    /// The request names an MCP session that does not exist (any more) or is not the caller's.
    #[error("MCP session not found: {0}")]
    SessionNotFound(&'static str),
    /// A request other than `initialize` without `Mcp-Session-Id` (stdio upstreams).
    #[error("missing Mcp-Session-Id")]
    SessionRequired,
    /// Too many MCP sessions are open on this gateway (stdio upstreams).
    #[error("session limit of {0} reached")]
    TooManySessions(usize),
    /// `MCP-Protocol-Version` differs from the version the session negotiated.
    #[error("MCP-Protocol-Version {got:?} differs from the negotiated {negotiated:?}")]
    ProtocolVersionMismatch {
        /// The header's value.
        got: String,
        /// The version `initialize` settled on.
        negotiated: String,
    },
    /// A request the Streamable HTTP transport does not define (stdio upstreams).
    #[error("{0}")]
    BadRequest(&'static str),
    /// A method the endpoint does not support (stdio upstreams).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// `GET` without `Accept: text/event-stream` (stdio upstreams).
    #[error("GET needs Accept: text/event-stream")]
    NotAcceptable,
    /// A failure of the gateway itself (logged loudly).
    #[error("internal error: {0}")]
    Internal(String),
}

impl GatewayError {
    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::NoRoute(_) | Self::SessionNotFound(_) => StatusCode::NOT_FOUND,
            Self::UpstreamUnavailable { .. } => StatusCode::BAD_GATEWAY,
            Self::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            Self::SessionRequired | Self::ProtocolVersionMismatch { .. } | Self::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            Self::TooManySessions(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable `error` code.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::NoRoute(_) => "not_found",
            Self::UpstreamUnavailable { .. } => "upstream_unavailable",
            Self::UpstreamTimeout { .. } => "upstream_timeout",
            Self::SessionNotFound(_) => "session_not_found",
            Self::SessionRequired => "session_required",
            Self::TooManySessions(_) => "too_many_sessions",
            Self::ProtocolVersionMismatch { .. } => "unsupported_protocol_version",
            Self::BadRequest(_) => "invalid_request",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::NotAcceptable => "not_acceptable",
            Self::Internal(_) => "server_error",
        }
    }

    /// The client-safe `error_description`.
    pub fn description(&self) -> String {
        match self {
            Self::NoRoute(_) => "no MCP endpoint at this path".into(),
            Self::UpstreamUnavailable { .. } => {
                "the MCP server behind this gateway is unavailable".into()
            }
            Self::UpstreamTimeout { .. } => {
                "the MCP server behind this gateway did not answer in time".into()
            }
            Self::SessionNotFound(_) => "this MCP session has ended or does not exist; start a new one with an initialize request without Mcp-Session-Id".into(),
            Self::SessionRequired => "this request needs an Mcp-Session-Id header: send initialize first".into(),
            Self::TooManySessions(_) => "too many MCP sessions are open on this server; retry later".into(),
            Self::ProtocolVersionMismatch { negotiated, .. } => format!(
                "MCP-Protocol-Version must be the version negotiated at initialize ({negotiated})"
            ),
            Self::BadRequest(why) => (*why).into(),
            Self::MethodNotAllowed => "use POST, GET or DELETE on the MCP endpoint".into(),
            Self::NotAcceptable => "GET opens an event stream: send Accept: text/event-stream".into(),
            Self::Internal(_) => "the gateway failed; see its logs".into(),
        }
    }

    /// The upstream the error is about, named in the body so an operator reading a client's
    /// error sees which one.
    pub fn upstream(&self) -> Option<&str> {
        match self {
            Self::UpstreamUnavailable { upstream, .. } | Self::UpstreamTimeout { upstream, .. } => {
                Some(upstream)
            }
            _ => None,
        }
    }

    /// The response: status and JSON body (`error`, `error_description`, `upstream`, and
    /// for upstream failures the reason).
    pub fn respond(&self) -> Response<GatewayBody> {
        let mut body = serde_json::json!({
            "error": self.error_code(),
            "error_description": self.description(),
        });
        if let (Some(upstream), Some(reason)) = (self.upstream(), self.reason()) {
            body["upstream"] = upstream.into();
            body["reason"] = reason.into();
        }
        let mut resp = Response::new(GatewayBody::full(Bytes::from(body.to_string())));
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if matches!(self, Self::MethodNotAllowed) {
            h.insert(header::ALLOW, HeaderValue::from_static("GET, POST, DELETE"));
        }
        if matches!(self, Self::TooManySessions(_)) {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        }
        resp
    }

    /// Why an upstream failed, for the body (the upstream is the operator's own, so the
    /// reason helps more than it reveals).
    fn reason(&self) -> Option<&str> {
        match self {
            Self::UpstreamUnavailable { detail, .. } | Self::UpstreamTimeout { detail, .. } => {
                Some(detail)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn upstream_failures_name_the_upstream_and_the_reason() {
        let e = GatewayError::UpstreamTimeout {
            upstream: "http://127.0.0.1:3000/mcp".into(),
            detail: "no response within 5 s".into(),
        };
        let resp = e.respond();
        assert_eq!(resp.status(), StatusCode::GATEWAY_TIMEOUT);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"], "upstream_timeout");
        assert_eq!(v["upstream"], "http://127.0.0.1:3000/mcp");
        assert_eq!(v["reason"], "no response within 5 s");
    }

    #[test]
    fn statuses() {
        let cases = [
            (GatewayError::NoRoute("/x".into()), 404),
            (
                GatewayError::UpstreamUnavailable {
                    upstream: "u".into(),
                    detail: "d".into(),
                },
                502,
            ),
            (GatewayError::SessionNotFound("gone"), 404),
            (GatewayError::SessionRequired, 400),
            (GatewayError::TooManySessions(1), 503),
            (GatewayError::MethodNotAllowed, 405),
            (GatewayError::NotAcceptable, 406),
            (GatewayError::Internal("x".into()), 500),
        ];
        for (e, status) in cases {
            assert_eq!(e.status().as_u16(), status, "{e}");
        }
    }
}
