//! Where HTTP statuses are decided for the JSON endpoints (token, registration, revocation,
//! introspection, userinfo): one exhaustive match, so every OAuth error has exactly one
//! status. Unexpected failures become loud, logged 500s.

use std::fmt::Display;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_oauth::{ErrorCode, OAuthError};
use serde::Serialize;

/// An error from a JSON endpoint.
#[derive(Debug)]
pub struct JsonError {
    /// The OAuth error.
    pub error: OAuthError,
    /// The client authenticated (or tried to) with HTTP Basic: a 401 carries
    /// `WWW-Authenticate: Basic` (RFC 6749 §5.2).
    pub basic_attempted: bool,
    /// Rate limited: answer 429 with `Retry-After`.
    pub retry_after: Option<u64>,
}

impl From<OAuthError> for JsonError {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            basic_attempted: false,
            retry_after: None,
        }
    }
}

impl JsonError {
    /// A 429 answer.
    pub fn rate_limited(seconds: u64, what: &str) -> Self {
        Self {
            error: OAuthError::new(
                ErrorCode::TemporarilyUnavailable,
                format!("too many {what} requests; retry after {seconds} s"),
            ),
            basic_attempted: false,
            retry_after: Some(seconds),
        }
    }
}

/// RFC 6749 §5.2 and friends: the status of each error code on a JSON endpoint.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidClient | ErrorCode::InvalidToken => StatusCode::UNAUTHORIZED,
        ErrorCode::InsufficientScope | ErrorCode::AccessDenied => StatusCode::FORBIDDEN,
        ErrorCode::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ErrorCode::TemporarilyUnavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::InvalidRequest
        | ErrorCode::InvalidGrant
        | ErrorCode::UnauthorizedClient
        | ErrorCode::UnsupportedGrantType
        | ErrorCode::InvalidScope
        | ErrorCode::UnsupportedResponseType
        | ErrorCode::LoginRequired
        | ErrorCode::ConsentRequired
        | ErrorCode::InteractionRequired
        | ErrorCode::RequestNotSupported
        | ErrorCode::RequestUriNotSupported
        | ErrorCode::InvalidTarget
        | ErrorCode::InvalidRedirectUri
        | ErrorCode::InvalidClientMetadata
        | ErrorCode::UnsupportedTokenType => StatusCode::BAD_REQUEST,
    }
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl IntoResponse for JsonError {
    fn into_response(self) -> Response {
        let status = if self.retry_after.is_some() {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            status_of(self.error.code)
        };
        let body = Body {
            error: self.error.code.as_str(),
            error_description: &self.error.description,
        };
        let mut resp = (status, Json(body)).into_response();
        let h = resp.headers_mut();
        no_store(h);
        if status == StatusCode::UNAUTHORIZED
            && self.error.code == ErrorCode::InvalidClient
            && self.basic_attempted
        {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"gatehouse\""),
            );
        }
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        resp
    }
}

/// `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749 §5.1).
pub fn no_store(h: &mut axum::http::HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// A successful JSON response that must not be cached.
pub fn json_no_store<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let mut resp = (status, Json(body)).into_response();
    no_store(resp.headers_mut());
    resp
}

/// Logs an unexpected failure and turns it into `server_error` (500).
pub fn internal(context: &str, e: impl Display) -> OAuthError {
    tracing::error!(error = %e, "{context}");
    OAuthError::new(
        ErrorCode::ServerError,
        "internal error; the server log has the details",
    )
    .with_detail(format!("{context}: {e}"))
}
