//! Client authentication at the token, revocation and introspection endpoints
//! (RFC 6749 §2.3.1; RFC 7521/7523 `private_key_jwt`; RFC 7591 `token_endpoint_auth_method`).

use std::sync::Arc;

use axum::http::{HeaderMap, header};
use base64::Engine as _;
use gatehouse_oauth::OAuthError;
use gatehouse_oauth::client::AuthMethod;
use gatehouse_oauth::jose;
use gatehouse_oauth::params::Params;
use gatehouse_oauth::secret::b64url_decode;

use crate::clients::{self, Client};
use crate::env::EnvHandle;
use crate::respond::{JsonError, internal};
use crate::state::AppState;

/// RFC 7523 §2.2 `client_assertion_type`.
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest lifetime accepted for a client assertion.
const MAX_ASSERTION_LIFETIME: i64 = 600;
/// Clock skew allowed on assertion times.
const SKEW: i64 = 60;

/// An authenticated (or, for public clients, identified) client.
pub struct Authenticated {
    /// The client.
    pub client: Arc<Client>,
    /// How it authenticated.
    pub method: AuthMethod,
}

/// The credentials a request carries, before they are checked.
pub struct Presented {
    /// The client id.
    pub client_id: String,
    secret: Option<String>,
    assertion: Option<String>,
    /// Sent with HTTP Basic.
    pub basic: bool,
}

impl Presented {
    /// Reads the credentials: HTTP Basic, `client_id` (+ `client_secret`) in the body, or a
    /// client assertion. Using two methods at once is `invalid_request` (RFC 6749 §2.3).
    pub fn read(headers: &HeaderMap, params: &Params) -> Result<Option<Self>, JsonError> {
        let basic = basic_credentials(headers)?;
        let assertion = read_assertion(params)?;
        let methods = usize::from(basic.is_some())
            + usize::from(assertion.is_some())
            + usize::from(params.get("client_secret").is_some());
        if methods > 1 {
            return Err(OAuthError::invalid_request("use one client authentication method").into());
        }
        if let Some((id, secret)) = basic {
            if params.get("client_id").is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request(
                    "client_id in the body differs from the Basic credentials",
                )
                .into());
            }
            return Ok(Some(Self {
                client_id: id,
                secret: Some(secret).filter(|s| !s.is_empty()),
                assertion: None,
                basic: true,
            }));
        }
        if let Some((id, jwt)) = assertion {
            if params.get("client_id").is_some_and(|b| b != id) {
                return Err(OAuthError::invalid_request(
                    "client_id differs from the client assertion's subject",
                )
                .into());
            }
            return Ok(Some(Self {
                client_id: id,
                secret: None,
                assertion: Some(jwt),
                basic: false,
            }));
        }
        Ok(params.get("client_id").map(|id| Self {
            client_id: id.to_owned(),
            secret: params.get("client_secret").map(str::to_owned),
            assertion: None,
            basic: false,
        }))
    }
}

/// The assertion and the client it names (its `sub`, read before verification only to find
/// the client's keys).
fn read_assertion(params: &Params) -> Result<Option<(String, String)>, JsonError> {
    let (kind, jwt) = (
        params.get("client_assertion_type"),
        params.get("client_assertion"),
    );
    let jwt = match (kind, jwt) {
        (None, None) => return Ok(None),
        (Some(JWT_BEARER), Some(jwt)) => jwt,
        (Some(JWT_BEARER), None) => {
            return Err(OAuthError::invalid_request("client_assertion is missing").into());
        }
        (Some(other), _) => {
            return Err(OAuthError::invalid_request(format!(
                "client_assertion_type {other:?} is not supported; use {JWT_BEARER}"
            ))
            .into());
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request("client_assertion_type is missing").into());
        }
    };
    let sub = jwt
        .split('.')
        .nth(1)
        .and_then(b64url_decode)
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|c| c.get("sub").and_then(|s| s.as_str()).map(str::to_owned))
        .ok_or_else(|| {
            JsonError::from(OAuthError::invalid_client(
                "the client assertion is not a JWT with a sub claim",
            ))
        })?;
    Ok(Some((sub, jwt.to_owned())))
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

/// Authenticates the presented credentials against the client's registered method. Public
/// clients are accepted only when `allow_public`. Unknown, foreign and disabled clients are
/// `invalid_client` (401), which MCP clients take as "register again".
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
    let client = match clients::resolve(state, env, &presented.client_id)
        .await
        .map_err(JsonError::from)?
    {
        Ok(c) => c,
        Err(unknown) => return Err(fail(unknown.error(env, &presented.client_id))),
    };
    let method = client.auth_method();
    match method {
        AuthMethod::None => {
            if presented.secret.is_some() || presented.assertion.is_some() {
                return Err(fail(OAuthError::invalid_client(
                    "this is a public client (token_endpoint_auth_method none); do not send credentials",
                )));
            }
            if !allow_public {
                return Err(fail(OAuthError::invalid_client(
                    "this endpoint requires a confidential client",
                )));
            }
        }
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost => {
            let Some(secret) = presented.secret.as_deref() else {
                return Err(fail(OAuthError::invalid_client(
                    "client authentication failed: this client must send its client secret",
                )));
            };
            // Dynamic clients' secrets are derived from their id, pre-registered clients'
            // are stored; both are held as SHA-256 hashes with the cached client.
            if !client.secrets.matches(secret, state.now()) {
                return Err(fail(OAuthError::invalid_client(
                    "client authentication failed: wrong client secret",
                )));
            }
        }
        AuthMethod::PrivateKeyJwt => {
            let Some(jwt) = presented.assertion.as_deref() else {
                return Err(fail(OAuthError::invalid_client(
                    "this client authenticates with private_key_jwt: send a client_assertion",
                )));
            };
            check_assertion(state, env, &client, jwt)
                .await
                .map_err(fail)?;
        }
    }
    let method = match (method, presented.basic) {
        (AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost, true) => {
            AuthMethod::ClientSecretBasic
        }
        (AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost, false) => {
            AuthMethod::ClientSecretPost
        }
        (m, _) => m,
    };
    Ok(Authenticated { client, method })
}

/// RFC 7523 §3: signed by one of the client's keys; `iss` and `sub` are the client; `aud`
/// names this server (its issuer or an endpoint URL); `exp` in the future and not too far;
/// a `jti` never seen before while the assertion is valid.
async fn check_assertion(
    state: &AppState,
    env: &EnvHandle,
    client: &Client,
    jwt: &str,
) -> Result<(), OAuthError> {
    let bad = |why: String| OAuthError::invalid_client(format!("client assertion refused: {why}"));
    let keys = clients::keys::verifying_keys(state, env, client)
        .await
        .map_err(bad)?;
    let (_, claims) = jose::verify_assertion(jwt, &keys).map_err(|e| bad(e.to_string()))?;
    let str_claim = |name: &str| claims.get(name).and_then(|v| v.as_str());
    if str_claim("iss") != Some(client.id()) || str_claim("sub") != Some(client.id()) {
        return Err(bad("iss and sub must both be the client_id".into()));
    }
    let audiences: Vec<&str> = match claims.get("aud") {
        Some(serde_json::Value::String(a)) => vec![a.as_str()],
        Some(serde_json::Value::Array(list)) => list.iter().filter_map(|v| v.as_str()).collect(),
        _ => vec![],
    };
    let accepted = [
        env.issuer.clone(),
        env.url("/token"),
        env.url("/revoke"),
        env.url("/introspect"),
    ];
    if !audiences.iter().any(|a| accepted.iter().any(|x| x == a)) {
        return Err(bad(format!(
            "aud must be this server's issuer ({}) or token endpoint",
            env.issuer
        )));
    }
    let now = state.now();
    let exp = claims
        .get("exp")
        .and_then(|v| v.as_i64())
        .ok_or_else(|| bad("exp is missing".into()))?;
    if exp + SKEW <= now {
        return Err(bad("it has expired".into()));
    }
    if exp - now > MAX_ASSERTION_LIFETIME {
        return Err(bad(format!(
            "its lifetime exceeds {MAX_ASSERTION_LIFETIME} s"
        )));
    }
    if claims
        .get("iat")
        .and_then(|v| v.as_i64())
        .is_some_and(|iat| iat > now + SKEW)
    {
        return Err(bad("iat is in the future".into()));
    }
    let jti = str_claim("jti")
        .filter(|j| !j.is_empty() && j.len() <= 256)
        .ok_or_else(|| bad("jti is missing".into()))?;
    let first = state
        .store
        .claim_assertion_jti(
            env.id(),
            &format!("{}\u{0}{jti}", client.id()),
            exp + SKEW,
            now,
        )
        .await
        .map_err(|e| internal("assertion jti", e))?;
    if !first {
        return Err(bad("this assertion was already used (jti replay)".into()));
    }
    Ok(())
}
