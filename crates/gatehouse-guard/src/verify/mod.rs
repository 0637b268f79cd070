//! Access-token verification: the [`TokenVerifier`] seam and its two implementations,
//! [`JwtVerifier`] (RFC 9068 JWTs checked locally against the issuer's JWKS) and
//! [`IntrospectionVerifier`] (RFC 7662, so revocation is seen at once).
//!
//! Both apply the same claim rules (OAuth 2.1 §5.2, MCP › Token Handling): the issuer is one
//! of the configured issuers (exact string), the audience contains this resource (exact
//! string: Gatehouse puts the registered URI verbatim), and `exp`/`nbf`/`iat` hold within
//! the configured clock skew.

mod cache;
mod claims;
mod http;
mod introspect;
mod jwks;
mod jwt;
#[cfg(test)]
mod jwt_tests;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use introspect::IntrospectionVerifier;
pub use jwks::{JwksFuture, JwksSource};
pub use jwt::JwtVerifier;

pub(crate) use self::http::{FetchError, Fetcher, default_client};
pub(crate) use claims::ClaimRules;

use crate::token::VerifiedToken;

/// The future a [`TokenVerifier`] returns. The token is shared (`Arc`), so a verifier can
/// hand out the same verified token from its cache without copying it.
pub type VerifyFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Arc<VerifiedToken>, VerifyError>> + Send + 'a>>;

/// Turns a bearer token into a [`VerifiedToken`] or says why not.
///
/// Implement it to plug another verification strategy into [`crate::Guard::with_verifier`];
/// the guard still applies scopes, CORS and challenges.
pub trait TokenVerifier: Send + Sync + 'static {
    /// Verifies `token` (the value after `Bearer `).
    fn verify<'a>(&'a self, token: &'a str) -> VerifyFuture<'a>;
}

/// Why a token was not accepted.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The token is not acceptable: answered `401 invalid_token`.
    #[error("invalid token: {0}")]
    Invalid(#[from] InvalidToken),
    /// The verifier could not reach what it needs (JWKS, introspection endpoint): answered
    /// `503`; the detail is for logs only.
    #[error("token verification unavailable: {0}")]
    Unavailable(String),
}

/// Why a token is invalid. [`InvalidToken::description`] is the client-safe text sent in
/// `error_description`; `Display` adds detail for logs.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    /// Not a compact JWS of JSON, too long, or claims of the wrong JSON type.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// `typ` is not `at+jwt` (RFC 9068 §4): an ID token or another JWT.
    #[error("typ is not at+jwt")]
    WrongType,
    /// `alg` is not in the allow-list.
    #[error("algorithm {0:?} is not allowed")]
    AlgorithmNotAllowed(String),
    /// A header field the guard refuses (`crit`, `jku`, `jwk`, `x5u`, `alg` not the key's).
    #[error("unacceptable header: {0}")]
    Header(&'static str),
    /// No key with the token's `kid` in the issuer's JWKS, even after a refetch.
    #[error("unknown signing key")]
    UnknownKey,
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// A claim RFC 9068 §2.2 requires is missing.
    #[error("missing claim {0}")]
    MissingClaim(&'static str),
    /// `iss` is not one of the configured issuers.
    #[error("issuer {0:?} is not trusted")]
    WrongIssuer(String),
    /// `aud` does not contain this resource.
    #[error("audience {0:?} does not contain this resource")]
    WrongAudience(Vec<String>),
    /// `exp` has passed (beyond the skew).
    #[error("expired at {0}")]
    Expired(i64),
    /// `nbf` is in the future (beyond the skew).
    #[error("not valid before {0}")]
    NotYetValid(i64),
    /// `iat` is in the future (beyond the skew).
    #[error("issued in the future ({0})")]
    IssuedInFuture(i64),
    /// `scope` is not a valid space-delimited scope list.
    #[error("malformed scope claim")]
    BadScope,
    /// Introspection answered `active: false` (revoked, expired or unknown).
    #[error("inactive")]
    Inactive,
    /// Introspection says this is another kind of token (a refresh token).
    #[error("token_type {0:?} is not an access token")]
    NotAnAccessToken(String),
}

impl InvalidToken {
    /// The stable, client-safe `error_description`.
    pub fn description(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "the access token is malformed",
            Self::WrongType => "the token is not an access token (typ must be at+jwt)",
            Self::AlgorithmNotAllowed(_) => "the access token's signing algorithm is not allowed",
            Self::Header(_) => "the access token's header is not acceptable",
            Self::UnknownKey => "the access token was signed by an unknown key",
            Self::BadSignature => "the access token's signature is invalid",
            Self::MissingClaim(_) => "the access token lacks a required claim",
            Self::WrongIssuer(_) => "the access token was issued by an untrusted issuer",
            Self::WrongAudience(_) => "the access token is not intended for this resource",
            Self::Expired(_) => "the access token has expired",
            Self::NotYetValid(_) => "the access token is not valid yet",
            Self::IssuedInFuture(_) => "the access token was issued in the future",
            Self::BadScope => "the access token's scope claim is malformed",
            Self::Inactive => "the access token is not active",
            Self::NotAnAccessToken(_) => "the token is not an access token",
        }
    }
}
