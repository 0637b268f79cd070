//! Client registration metadata (RFC 7591 §2, OIDC Registration §2) and its validation.

use serde::{Deserialize, Serialize};

use crate::error::{ErrorCode, OAuthError};
use crate::jose::Algorithm;
use crate::redirect::{self, ApplicationType, RedirectPolicy};
use crate::scope::ScopeSet;

/// Most redirect URIs one client may register.
pub const MAX_REDIRECT_URIS: usize = 20;
/// Longest `client_name`.
pub const MAX_CLIENT_NAME: usize = 200;

/// Token endpoint client authentication methods Gatehouse supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// Public client (RFC 7591 §2): identified by `client_id` only.
    None,
    /// HTTP Basic (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523 §2.2, OIDC Core §9).
    PrivateKeyJwt,
}

impl AuthMethod {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::ClientSecretBasic => "client_secret_basic",
            Self::ClientSecretPost => "client_secret_post",
            Self::PrivateKeyJwt => "private_key_jwt",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "none" => Some(Self::None),
            "client_secret_basic" => Some(Self::ClientSecretBasic),
            "client_secret_post" => Some(Self::ClientSecretPost),
            "private_key_jwt" => Some(Self::PrivateKeyJwt),
            _ => None,
        }
    }

    /// Whether the client authenticates (holds a secret or a private key).
    pub fn is_confidential(self) -> bool {
        !matches!(self, Self::None)
    }

    /// Whether the client authenticates with a shared secret.
    pub fn uses_secret(self) -> bool {
        matches!(self, Self::ClientSecretBasic | Self::ClientSecretPost)
    }
}

/// Grant types Gatehouse serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantType {
    /// RFC 6749 §4.1 with PKCE.
    AuthorizationCode,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 6749 §4.4.
    ClientCredentials,
}

impl GrantType {
    /// Wire spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::RefreshToken => "refresh_token",
            Self::ClientCredentials => "client_credentials",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            _ => None,
        }
    }
}

/// A registration request body as sent. Unknown members are ignored (RFC 7591 §2:
/// "the authorization server MUST ignore any client metadata sent by the client that it
/// does not understand").
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct RegistrationRequest {
    pub redirect_uris: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub application_type: Option<String>,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub logo_uri: Option<String>,
    pub tos_uri: Option<String>,
    pub policy_uri: Option<String>,
    pub contacts: Option<Vec<String>>,
    pub software_id: Option<String>,
    pub software_version: Option<String>,
    pub scope: Option<String>,
    pub id_token_signed_response_alg: Option<String>,
    pub jwks: Option<serde_json::Value>,
    pub jwks_uri: Option<String>,
}

/// Validated client metadata, as stored and as echoed in the 201 response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientMetadata {
    pub redirect_uris: Vec<String>,
    pub token_endpoint_auth_method: String,
    pub grant_types: Vec<String>,
    pub response_types: Vec<String>,
    pub application_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub contacts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub id_token_signed_response_alg: String,
    /// Public keys for `private_key_jwt` (a JWK Set).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub jwks: Option<serde_json::Value>,
    /// Where the keys for `private_key_jwt` are published.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub jwks_uri: Option<String>,
}

fn bad_metadata(msg: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidClientMetadata, msg.into())
}

fn bad_redirect(msg: impl Into<String>) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidRedirectUri, msg.into())
}

impl RegistrationRequest {
    /// Parses a JSON body; a body that is not a JSON object of the right member types is
    /// `invalid_client_metadata` naming the problem.
    pub fn from_json(body: &[u8]) -> Result<Self, OAuthError> {
        serde_json::from_slice(body).map_err(|e| {
            bad_metadata(format!(
                "the request body is not valid client metadata JSON: {e}"
            ))
        })
    }

    /// RFC 7591 §2 validation under an environment's redirect policy.
    pub fn validate(self, policy: RedirectPolicy) -> Result<ClientMetadata, OAuthError> {
        let auth = match self.token_endpoint_auth_method.as_deref() {
            None => AuthMethod::ClientSecretBasic, // RFC 7591 §2 default
            Some(m) => AuthMethod::parse(m).ok_or_else(|| {
                bad_metadata(format!(
                    "token_endpoint_auth_method {m:?} is not supported; use none, client_secret_basic, client_secret_post or private_key_jwt"
                ))
            })?,
        };
        let grants = parse_grants(self.grant_types.as_deref())?;
        let response_types = check_response_types(self.response_types.as_deref(), &grants)?;
        if grants.contains(&GrantType::ClientCredentials) && !auth.is_confidential() {
            return Err(bad_metadata(
                "the client_credentials grant needs a confidential client: use client_secret_basic, client_secret_post or private_key_jwt",
            ));
        }
        let (jwks, jwks_uri) = check_keys(auth, self.jwks, self.jwks_uri)?;
        let redirect_uris = self.redirect_uris.unwrap_or_default();
        let app = match self.application_type.as_deref() {
            Some(a) => ApplicationType::parse(a).ok_or_else(|| {
                bad_metadata(format!(
                    "application_type {a:?} must be \"web\" or \"native\""
                ))
            })?,
            // REG-23: infer rather than apply OIDC's `web` default, which would reject the
            // loopback redirect URIs of every CLI client that omits the field.
            None if redirect::looks_native(&redirect_uris) => ApplicationType::Native,
            None => ApplicationType::Web,
        };
        check_redirect_uris(&redirect_uris, &grants, policy, app)?;
        let scope = match self.scope.as_deref() {
            Some(s) => Some(
                ScopeSet::parse(s)
                    .map_err(|e| bad_metadata(e.description.into_owned()))?
                    .to_string(),
            ),
            None => None,
        };
        let id_alg = match self.id_token_signed_response_alg.as_deref() {
            None => Algorithm::RS256, // OIDC Registration §2 default
            Some(a) => Algorithm::parse(a).ok_or_else(|| {
                bad_metadata(format!(
                    "id_token_signed_response_alg {a:?} is not supported; use RS256 or ES256"
                ))
            })?,
        };
        let client_name = check_text("client_name", self.client_name, MAX_CLIENT_NAME)?;
        Ok(ClientMetadata {
            redirect_uris,
            token_endpoint_auth_method: auth.as_str().to_owned(),
            grant_types: grants.iter().map(|g| g.as_str().to_owned()).collect(),
            response_types,
            application_type: app.as_str().to_owned(),
            client_name,
            client_uri: check_web_uri("client_uri", self.client_uri)?,
            logo_uri: check_web_uri("logo_uri", self.logo_uri)?,
            tos_uri: check_web_uri("tos_uri", self.tos_uri)?,
            policy_uri: check_web_uri("policy_uri", self.policy_uri)?,
            contacts: check_contacts(self.contacts)?,
            software_id: check_text("software_id", self.software_id, 200)?,
            software_version: check_text("software_version", self.software_version, 100)?,
            scope,
            id_token_signed_response_alg: id_alg.as_str().to_owned(),
            jwks,
            jwks_uri,
        })
    }
}

/// `private_key_jwt` needs keys: exactly one of `jwks` (a JWK Set) or `jwks_uri` (https);
/// other methods must not send them (RFC 7591 §2).
fn check_keys(
    auth: AuthMethod,
    jwks: Option<serde_json::Value>,
    jwks_uri: Option<String>,
) -> Result<(Option<serde_json::Value>, Option<String>), OAuthError> {
    if jwks.is_some() && jwks_uri.is_some() {
        return Err(bad_metadata(
            "send jwks or jwks_uri, not both (RFC 7591 §2)",
        ));
    }
    if auth != AuthMethod::PrivateKeyJwt {
        return Ok((None, None));
    }
    match (jwks, jwks_uri) {
        (Some(set), None) => {
            let keys = set
                .get("keys")
                .and_then(|k| k.as_array())
                .filter(|k| !k.is_empty() && k.len() <= 10);
            if keys.is_none() {
                return Err(bad_metadata("jwks must be a JWK Set with 1 to 10 keys"));
            }
            Ok((Some(set), None))
        }
        (None, Some(uri)) => {
            let https =
                uri.len() <= 2000 && url::Url::parse(&uri).is_ok_and(|u| u.scheme() == "https");
            if !https {
                return Err(bad_metadata("jwks_uri must be an https URL"));
            }
            Ok((None, Some(uri)))
        }
        _ => Err(bad_metadata(
            "private_key_jwt needs the client's public keys: send jwks or jwks_uri",
        )),
    }
}

fn parse_grants(raw: Option<&[String]>) -> Result<Vec<GrantType>, OAuthError> {
    let Some(raw) = raw else {
        return Ok(vec![GrantType::AuthorizationCode]); // RFC 7591 §2 default
    };
    if raw.is_empty() {
        return Err(bad_metadata("grant_types must not be empty"));
    }
    let mut out = Vec::new();
    for g in raw {
        let grant = GrantType::parse(g).ok_or_else(|| {
            bad_metadata(format!(
                "grant type {g:?} is not supported; use authorization_code, refresh_token or client_credentials"
            ))
        })?;
        if !out.contains(&grant) {
            out.push(grant);
        }
    }
    Ok(out)
}

/// RFC 7591 §2.1: `authorization_code` goes with response type `code` and vice versa.
fn check_response_types(
    raw: Option<&[String]>,
    grants: &[GrantType],
) -> Result<Vec<String>, OAuthError> {
    let wants_code = grants.contains(&GrantType::AuthorizationCode);
    let types = match raw {
        None if wants_code => vec!["code".to_owned()],
        None => vec![],
        Some(r) => r.to_vec(),
    };
    if let Some(t) = types.iter().find(|t| t.as_str() != "code") {
        return Err(bad_metadata(format!(
            "response type {t:?} is not supported; only \"code\" is"
        )));
    }
    if wants_code != types.iter().any(|t| t == "code") {
        return Err(bad_metadata(
            "grant_types and response_types disagree: authorization_code requires response type code and vice versa",
        ));
    }
    Ok(types)
}

fn check_redirect_uris(
    uris: &[String],
    grants: &[GrantType],
    policy: RedirectPolicy,
    app: ApplicationType,
) -> Result<(), OAuthError> {
    if grants.contains(&GrantType::AuthorizationCode) && uris.is_empty() {
        return Err(bad_redirect(
            "redirect_uris is required for the authorization_code grant",
        ));
    }
    if uris.len() > MAX_REDIRECT_URIS {
        return Err(bad_redirect(format!(
            "at most {MAX_REDIRECT_URIS} redirect_uris may be registered"
        )));
    }
    for uri in uris {
        redirect::check_registrable(uri, policy, app).map_err(bad_redirect)?;
    }
    Ok(())
}

fn check_text(
    field: &str,
    value: Option<String>,
    max: usize,
) -> Result<Option<String>, OAuthError> {
    match value {
        Some(v) if v.chars().count() > max => Err(bad_metadata(format!(
            "{field} is longer than {max} characters"
        ))),
        Some(v) if v.chars().any(char::is_control) => {
            Err(bad_metadata(format!("{field} contains control characters")))
        }
        other => Ok(other),
    }
}

fn check_web_uri(field: &str, value: Option<String>) -> Result<Option<String>, OAuthError> {
    let Some(v) = value else { return Ok(None) };
    let ok = v.len() <= 2000
        && url::Url::parse(&v).is_ok_and(|u| {
            u.scheme() == "https"
                || (u.scheme() == "http"
                    && matches!(redirect::classify(&v), Ok(redirect::RedirectKind::Loopback)))
        });
    if ok {
        Ok(Some(v))
    } else {
        Err(bad_metadata(format!("{field} must be an https URL")))
    }
}

fn check_contacts(value: Option<Vec<String>>) -> Result<Vec<String>, OAuthError> {
    let v = value.unwrap_or_default();
    if v.len() > 10 || v.iter().any(|c| c.len() > 200) {
        return Err(bad_metadata(
            "contacts: at most 10 entries of at most 200 characters",
        ));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn validate(
        body: serde_json::Value,
        policy: RedirectPolicy,
    ) -> Result<ClientMetadata, OAuthError> {
        RegistrationRequest::from_json(body.to_string().as_bytes())?.validate(policy)
    }

    #[test]
    fn typical_mcp_client_registration() {
        let m = validate(
            json!({"client_name": "mcp-remote", "redirect_uris": ["http://localhost:14523/oauth/callback"],
                   "token_endpoint_auth_method": "none", "grant_types": ["authorization_code", "refresh_token"],
                   "software_id": "x", "unknown_field": {"nested": true}}),
            RedirectPolicy::Production,
        )
        .unwrap();
        assert_eq!(m.application_type, "native"); // inferred (REG-23)
        assert_eq!(m.response_types, vec!["code"]);
        assert_eq!(m.id_token_signed_response_alg, "RS256");
    }

    #[test]
    fn error_table() {
        use ErrorCode::*;
        let dev = RedirectPolicy::Development;
        let cases: Vec<(serde_json::Value, ErrorCode)> = vec![
            (json!({"redirect_uris": []}), InvalidRedirectUri),
            (json!({}), InvalidRedirectUri),
            (
                json!({"redirect_uris": ["http://evil.example/cb"]}),
                InvalidRedirectUri,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb#x"]}),
                InvalidRedirectUri,
            ),
            (
                json!({"redirect_uris": ["javascript:alert(1)"]}),
                InvalidRedirectUri,
            ),
            (
                json!({"redirect_uris": "https://a.example/cb"}),
                InvalidClientMetadata,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "private_key_jwt"}),
                InvalidClientMetadata,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["implicit"]}),
                InvalidClientMetadata,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
                InvalidClientMetadata,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"], "response_types": ["code"]}),
                InvalidClientMetadata,
            ),
            (
                json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "none"}),
                InvalidClientMetadata,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "application_type": "desktop"}),
                InvalidClientMetadata,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "client_name": "x".repeat(201)}),
                InvalidClientMetadata,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "logo_uri": "javascript:x"}),
                InvalidClientMetadata,
            ),
            (
                json!({"redirect_uris": ["https://a.example/cb"], "id_token_signed_response_alg": "none"}),
                InvalidClientMetadata,
            ),
            (json!([1, 2]), InvalidClientMetadata),
        ];
        for (body, code) in cases {
            assert_eq!(
                validate(body.clone(), dev).unwrap_err().code,
                code,
                "{body}"
            );
        }
    }

    #[test]
    fn production_rejects_web_loopback_with_explanation() {
        let e = validate(
            json!({"redirect_uris": ["http://localhost:3000/cb"], "application_type": "web"}),
            RedirectPolicy::Production,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRedirectUri);
        assert!(e.description.contains("native"), "{}", e.description);
        assert!(
            validate(
                json!({"redirect_uris": ["http://localhost:3000/cb"], "application_type": "web"}),
                RedirectPolicy::Development
            )
            .is_ok()
        );
    }

    #[test]
    fn machine_client_needs_no_redirect_uri() {
        let m = validate(
            json!({"grant_types": ["client_credentials"], "token_endpoint_auth_method": "client_secret_basic"}),
            RedirectPolicy::Production,
        )
        .unwrap();
        assert!(m.response_types.is_empty());
    }
}
