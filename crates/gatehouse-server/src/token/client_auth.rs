//! Client authentication at the token, revocation and introspection endpoints
//! (RFC 6749 §2.3.1, RFC 7591 `token_endpoint_auth_method`).

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use gatehouse_oauth::OAuthError;
use gatehouse_oauth::client::AuthMethod;
use gatehouse_oauth::params::Params;
use gatehouse_store::ClientRecord;

use crate::env::EnvHandle;
use crate::respond::{JsonError, internal};
use crate::state::AppState;

/// An authenticated (or, for public clients, identified) client.
pub struct Authenticated {
    /// The client.
    pub client: ClientRecord,
    /// How it authenticated.
    pub method: AuthMethod,
}

/// The credentials a request carries, before they are checked.
pub struct Presented {
    /// The client id.
    pub client_id: String,
    secret: Option<String>,
    /// Sent with HTTP Basic.
    pub basic: bool,
}

impl Presented {
    /// Reads the credentials: HTTP Basic, or `client_id` (+ `client_secret`) in the body.
    /// Using two methods at once is `invalid_request` (RFC 6749 §2.3).
    pub fn read(headers: &HeaderMap, params: &Params) -> Result<Option<Self>, JsonError> {
        if let Some((id, secret)) = basic_credentials(headers)? {
            if params.get("client_secret").is_some() {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method, not Basic and client_secret",
                )
                .into());
            }
            if params.get("client_id").is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Basic credentials",
                )
                .into());
            }
            return Ok(Some(Self {
                client_id: id,
                secret: Some(secret).filter(|s| !s.is_empty()),
                basic: true,
            }));
        }
        Ok(params.get("client_id").map(|id| Self {
            client_id: id.to_owned(),
            secret: params.get("client_secret").map(str::to_owned),
            basic: false,
        }))
    }
}

fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, JsonError> {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let Some((scheme, rest)) = value.split_once(' ') else {
        return Ok(None);
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Ok(None);
    }
    let bad = || JsonError {
        error: OAuthError::invalid_client("malformed HTTP Basic credentials"),
        basic_attempted: true,
        retry_after: None,
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| bad())?;
    let text = String::from_utf8(decoded).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    let decode = |s: &str| form_decode(s).ok_or_else(bad);
    Ok(Some((decode(id)?, decode(secret)?)))
}

fn form_decode(s: &str) -> Option<String> {
    let pair = format!("x={s}");
    form_urlencoded::parse(pair.as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
}

/// Authenticates the presented credentials. Public clients are accepted only when
/// `allow_public`; a confidential client must present a valid secret; unknown and disabled
/// clients are `invalid_client` (401), which MCP clients take as "register again".
pub async fn authenticate(
    state: &AppState,
    env: &EnvHandle,
    presented: &Presented,
    allow_public: bool,
) -> Result<Authenticated, JsonError> {
    let fail = |e: OAuthError| JsonError {
        error: e,
        basic_attempted: presented.basic,
        retry_after: None,
    };
    let client = state
        .store
        .get_client(env.id(), &presented.client_id)
        .await
        .map_err(|e| JsonError::from(internal("client lookup", e)))?;
    let client = match client {
        Some(c) if !c.disabled => c,
        Some(_) => {
            return Err(fail(OAuthError::invalid_client(
                "this client has been disabled",
            )));
        }
        None => {
            return Err(fail(OAuthError::invalid_client("unknown client; register again").with_detail(format!(
                "client_id {:?} is not registered in environment {} (registered elsewhere, deleted, or data reset)",
                presented.client_id,
                env.id()
            ))));
        }
    };
    let method = AuthMethod::parse(&client.metadata.token_endpoint_auth_method)
        .unwrap_or(AuthMethod::ClientSecretBasic);
    if !method.is_confidential() {
        if presented.secret.is_some() {
            return Err(fail(OAuthError::invalid_client(
                "this is a public client (token_endpoint_auth_method none); do not send a secret",
            )));
        }
        if !allow_public {
            return Err(fail(OAuthError::invalid_client(
                "this endpoint requires a confidential client",
            )));
        }
        return Ok(Authenticated { client, method });
    }
    let Some(secret) = presented.secret.as_deref() else {
        return Err(fail(OAuthError::invalid_client(
            "client authentication failed: this client must send its client secret",
        )));
    };
    let secrets = state
        .store
        .client_secrets(env.id(), &client.client_id)
        .await
        .map_err(|e| JsonError::from(internal("client secret lookup", e)))?;
    let now = state.now();
    let mut ok = false;
    for s in secrets
        .iter()
        .filter(|s| s.expires_at.is_none_or(|e| e > now))
    {
        // Check every secret so timing does not reveal which one matched.
        ok |= s.hash.matches(secret);
    }
    if !ok {
        return Err(fail(OAuthError::invalid_client(
            "client authentication failed: wrong client secret",
        )));
    }
    Ok(Authenticated {
        client,
        method: if presented.basic {
            AuthMethod::ClientSecretBasic
        } else {
            AuthMethod::ClientSecretPost
        },
    })
}
