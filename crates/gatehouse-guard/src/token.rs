//! What the guard knows about a request once its access token is verified.

use gatehouse_oauth::scope::ScopeSet;

/// A verified access token. The guard puts one into the request extensions before calling
/// the inner service; read it with `req.extensions().get::<VerifiedToken>()`, with the axum
/// extractor [`crate::Authenticated`], or, in an rmcp tool, from the
/// [`http::request::Parts`] rmcp places in the request context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedToken {
    /// `sub`: the user id, or the client id for a `client_credentials` token.
    pub subject: String,
    /// `client_id`: the client the token was issued to.
    pub client_id: String,
    /// `scope`: the granted scopes, as issued (the hierarchy is applied when judging).
    pub scopes: ScopeSet,
    /// `aud`: every audience of the token; it contains this resource.
    pub audience: Vec<String>,
    /// `iss`: the issuer, one of the configured issuers.
    pub issuer: String,
    /// `exp`: expiry, seconds since the Unix epoch.
    pub expires_at: i64,
    /// `iat`: issue time, when known.
    pub issued_at: Option<i64>,
    /// `auth_time`: when the user signed in, for user tokens from JWTs.
    pub auth_time: Option<i64>,
    /// `jti`: the token's unique id, when known.
    pub token_id: Option<String>,
    /// `sid`: the grant (authorization) the token belongs to, for user tokens from JWTs.
    /// Bind per-user MCP session data to `subject` (and this, if useful), never to the
    /// session id alone (MCP Security Best Practices › Session Hijacking).
    pub session_id: Option<String>,
}
