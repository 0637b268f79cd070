//! The claims of the JWTs Gatehouse issues.

use serde::{Deserialize, Serialize};

/// `typ` of access tokens (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYP: &str = "at+jwt";
/// `typ` of ID tokens.
pub const ID_TOKEN_TYP: &str = "JWT";

/// RFC 9068 §2.2 access token claims. `aud` is the MCP server's resource URI (RFC 8707).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// Issuer: the environment's issuer, exactly as in its metadata.
    pub iss: String,
    /// The user id, or the client id for `client_credentials`.
    pub sub: String,
    /// The resource (MCP server URI) the token is for.
    pub aud: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-delimited (RFC 9068 §2.2.3); absent when none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expiry (seconds since the epoch).
    pub exp: i64,
    /// Unique id of this token.
    pub jti: String,
    /// When the user authenticated (RFC 9068 §2.2.1), for user tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The grant (authorization) this token belongs to, for user tokens; revoking the grant
    /// makes the token inactive at introspection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// OIDC Core §2 ID token claims.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    /// Issuer.
    pub iss: String,
    /// The user id (equal to userinfo `sub`).
    pub sub: String,
    /// The client id.
    pub aud: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// When the user authenticated.
    pub auth_time: i64,
    /// The `nonce` of the authorization request, echoed (OIDC Core §3.1.3.6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// Authorized party: the client id.
    pub azp: String,
    /// Half-hash of the access token issued alongside.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_hash: Option<String>,
    /// The user's email, when `email` was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the email was verified, when `email` was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// The user's display name, when `profile` was granted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}
