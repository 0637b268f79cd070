//! Every way the guard refuses a request, and the one place that turns a refusal into a
//! status, a `WWW-Authenticate` challenge (RFC 6750 §3, RFC 9728 §5.1) and a JSON body.

use http::header::{self, HeaderValue};
use http::{Response, StatusCode};

use gatehouse_oauth::scope::ScopeSet;

use crate::verify::{InvalidToken, VerifyError};

/// Why the guard refused a request. [`Rejection::status`] is the only place statuses are
/// decided.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// No bearer token (RFC 6750 §3.1: the challenge carries no error code).
    #[error("no bearer token")]
    MissingToken,
    /// A `Bearer` `Authorization` header that cannot be read.
    #[error("malformed Authorization header: {0}")]
    MalformedAuthorization(&'static str),
    /// The token is invalid, expired, revoked, or not for this resource.
    #[error(transparent)]
    InvalidToken(InvalidToken),
    /// The token lacks scopes; `needed` is every scope the operation needs (MCP 2026-07-28:
    /// one challenge lists them all), `tool` the tool called, if any.
    #[error("insufficient scope: needs {needed}")]
    InsufficientScope {
        /// Every scope the request needs.
        needed: ScopeSet,
        /// The tool whose call needed more, if the request was a `tools/call`.
        tool: Option<String>,
    },
    /// A browser `Origin` that is not allowed (MCP transports: 403).
    #[error("origin {0:?} is not allowed")]
    OriginNotAllowed(String),
    /// A body the guard had to read is larger than the limit.
    #[error("request body larger than {0} bytes")]
    BodyTooLarge(usize),
    /// A body the guard had to read is not JSON-RPC (or could not be read).
    #[error("unreadable request body: {0}")]
    MalformedBody(String),
    /// The verifier could not reach the authorization server (detail for logs only).
    #[error("token verification unavailable: {0}")]
    Unavailable(String),
}

impl From<VerifyError> for Rejection {
    fn from(e: VerifyError) -> Self {
        match e {
            VerifyError::Invalid(i) => Self::InvalidToken(i),
            VerifyError::Unavailable(d) => Self::Unavailable(d),
        }
    }
}

impl Rejection {
    /// The HTTP status (RFC 6750 §3.1, MCP › Error Handling).
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Self::MalformedAuthorization(_) | Self::MalformedBody(_) => StatusCode::BAD_REQUEST,
            Self::InsufficientScope { .. } | Self::OriginNotAllowed(_) => StatusCode::FORBIDDEN,
            Self::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The `error` code: an RFC 6750 code for bearer failures; `None` for a missing token.
    pub fn error_code(&self) -> Option<&'static str> {
        match self {
            Self::MissingToken => None,
            Self::MalformedAuthorization(_) | Self::MalformedBody(_) | Self::BodyTooLarge(_) => {
                Some("invalid_request")
            }
            Self::InvalidToken(_) => Some("invalid_token"),
            Self::InsufficientScope { .. } => Some("insufficient_scope"),
            Self::OriginNotAllowed(_) => Some("forbidden"),
            Self::Unavailable(_) => Some("temporarily_unavailable"),
        }
    }

    /// The client-safe description (never the log detail).
    pub fn description(&self) -> String {
        match self {
            Self::MissingToken => {
                "this MCP server requires an access token in the Authorization header".into()
            }
            Self::MalformedAuthorization(why) => (*why).into(),
            Self::InvalidToken(i) => i.description().into(),
            Self::InsufficientScope {
                needed,
                tool: Some(t),
            } => {
                let t: String = t.chars().take(64).collect();
                format!("calling tool {t} requires the scopes: {needed}")
            }
            Self::InsufficientScope { needed, tool: None } => {
                format!("this request requires the scopes: {needed}")
            }
            Self::OriginNotAllowed(_) => {
                "this browser origin is not allowed to call this MCP server".into()
            }
            Self::BodyTooLarge(n) => format!("the request body is larger than {n} bytes"),
            Self::MalformedBody(_) => "the request body is not a JSON-RPC message".into(),
            Self::Unavailable(_) => {
                "the access token cannot be checked right now; retry shortly".into()
            }
        }
    }

    /// Whether the response carries a `WWW-Authenticate: Bearer` challenge.
    fn challenges(&self) -> bool {
        matches!(
            self,
            Self::MissingToken
                | Self::MalformedAuthorization(_)
                | Self::InvalidToken(_)
                | Self::InsufficientScope { .. }
        )
    }

    /// The full response. `resource_metadata` is the PRM URL; `scope` the scopes a 401
    /// challenge suggests (a 403 names every scope the operation needs instead).
    pub(crate) fn respond(&self, resource_metadata: &str, scope: Option<&str>) -> Response<String> {
        let description = self.description();
        let body = serde_json::json!({
            "error": self.error_code().unwrap_or("unauthorized"),
            "error_description": description,
        });
        let mut resp = Response::new(body.to_string());
        *resp.status_mut() = self.status();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if matches!(self, Self::Unavailable(_)) {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        if self.challenges() {
            let needed;
            let scope = match self {
                Self::InsufficientScope { needed: n, .. } => {
                    needed = n.to_string();
                    Some(needed.as_str())
                }
                Self::MalformedAuthorization(_) => None,
                _ => scope,
            };
            let challenge = BearerChallenge {
                error: self.error_code(),
                scope,
                resource_metadata,
                error_description: self.error_code().map(|_| description.as_str()),
            };
            if let Ok(v) = HeaderValue::from_str(&challenge.render()) {
                h.insert(header::WWW_AUTHENTICATE, v);
            }
        }
        resp
    }
}

/// One `WWW-Authenticate: Bearer` challenge (RFC 6750 §3, RFC 9728 §5.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BearerChallenge<'a> {
    /// `error`: absent when the request had no credentials (RFC 6750 §3.1).
    pub error: Option<&'a str>,
    /// `scope`: the scopes needed.
    pub scope: Option<&'a str>,
    /// `resource_metadata`: the PRM URL (RFC 9728 §5.1).
    pub resource_metadata: &'a str,
    /// `error_description`.
    pub error_description: Option<&'a str>,
}

impl BearerChallenge<'_> {
    /// The header value. Without an error: `Bearer resource_metadata="…", scope="…"`; with
    /// one: `Bearer error="…", scope="…", resource_metadata="…", error_description="…"`.
    /// Values are quoted strings with `"` and `\` escaped; `error_description` is first
    /// reduced to the characters RFC 6750 §3 allows in it.
    pub fn render(&self) -> String {
        let mut params: Vec<(&str, String)> = Vec::with_capacity(4);
        let rm = ("resource_metadata", self.resource_metadata.to_owned());
        let scope = self
            .scope
            .filter(|s| !s.is_empty())
            .map(|s| ("scope", s.to_owned()));
        match self.error {
            None => params.extend([Some(rm), scope].into_iter().flatten()),
            Some(e) => {
                params.push(("error", e.to_owned()));
                params.extend([scope, Some(rm)].into_iter().flatten());
                if let Some(d) = self.error_description {
                    params.push(("error_description", description_chars(d)));
                }
            }
        }
        let rendered: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", quoted(v)))
            .collect();
        format!("Bearer {}", rendered.join(", "))
    }
}

/// RFC 9110 §5.6.4 quoted-string: `"` and `\` become quoted pairs; control characters,
/// which no header may carry, become spaces.
pub(crate) fn quoted(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    out.push('"');
    for c in v.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// RFC 6750 §3: `error_description` uses only `%x20-21 / %x23-5B / %x5D-7E`; anything else
/// (quotes, backslashes, non-ASCII, controls) becomes `?`.
pub(crate) fn description_chars(v: &str) -> String {
    v.chars()
        .map(|c| match c {
            '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
#[path = "challenge_tests.rs"]
mod tests;
