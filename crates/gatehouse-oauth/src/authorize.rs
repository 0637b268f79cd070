//! Authorization request validation (RFC 6749 §4.1.1, RFC 7636, RFC 8707, OIDC Core §3.1.2.1).
//!
//! The order matters and follows RFC 6749 §4.1.2.1: while `client_id` or `redirect_uri` is
//! unverified, every error renders locally ("MUST NOT automatically redirect the user-agent
//! to the invalid redirection URI"); once the redirect URI is verified, errors go back to
//! the client with `state` and `iss`.

use crate::error::{ErrorCode, OAuthError};
use crate::params::Params;
use crate::pkce::CodeChallenge;
use crate::redirect::VerifiedRedirect;
use crate::resource::{RequestedResource, ResourceUri};
use crate::scope::{self, ScopeSet};

/// Failure at the authorization endpoint: render a page, or redirect to a verified URI.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or its redirect URI could not be verified: render an error page.
    RenderLocally(OAuthError),
    /// The redirect URI is verified: send the error to the client.
    Redirect {
        /// Where to send it.
        to: VerifiedRedirect,
        /// The request's `state`, echoed.
        state: Option<String>,
        /// The error.
        error: OAuthError,
    },
}

/// OIDC `prompt` values (OIDC Core §3.1.2.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prompt {
    /// `none`: no UI may be shown.
    pub none: bool,
    /// `login`: re-authenticate the user.
    pub login: bool,
    /// `consent`: ask for consent even if remembered.
    pub consent: bool,
    /// `select_account`: offer to switch account (shown as a login page).
    pub select_account: bool,
}

impl Prompt {
    fn parse(raw: Option<&str>) -> Result<Self, OAuthError> {
        let mut p = Self::default();
        for v in raw.unwrap_or_default().split(' ').filter(|v| !v.is_empty()) {
            match v {
                "none" => p.none = true,
                "login" => p.login = true,
                "consent" => p.consent = true,
                "select_account" => p.select_account = true,
                other => {
                    return Err(OAuthError::invalid_request(format!(
                        "unsupported prompt value {other:?}"
                    )));
                }
            }
        }
        if p.none && (p.login || p.consent || p.select_account) {
            return Err(OAuthError::invalid_request(
                "prompt=none cannot be combined with other prompt values",
            ));
        }
        Ok(p)
    }

    /// The space-delimited form, for storage.
    pub fn to_param(self) -> String {
        let mut v = Vec::new();
        for (on, name) in [
            (self.none, "none"),
            (self.login, "login"),
            (self.consent, "consent"),
            (self.select_account, "select_account"),
        ] {
            if on {
                v.push(name);
            }
        }
        v.join(" ")
    }

    /// Parses the stored form.
    pub fn from_param(s: &str) -> Self {
        Self::parse(Some(s)).unwrap_or_default()
    }
}

/// An MCP server of the environment, as the validation needs it.
#[derive(Clone, Debug)]
pub struct ResourceView<'a> {
    /// The registered URI.
    pub uri: &'a ResourceUri,
    /// The scopes it defines.
    pub scopes: &'a ScopeSet,
}

/// The client, as the validation needs it.
#[derive(Clone, Debug)]
pub struct ClientView<'a> {
    /// Whether the client is registered for `authorization_code`.
    pub authorization_code_allowed: bool,
    /// The scopes the client registered (`scope` metadata), when it limited itself.
    pub allowed_scopes: Option<&'a ScopeSet>,
}

/// A fully validated authorization request.
#[derive(Clone, Debug)]
pub struct ValidatedAuthorization {
    /// Index into the `resources` slice given to [`validate`].
    pub resource: usize,
    /// Requested scopes (defaulted to the MCP server's scopes when absent).
    pub scope: ScopeSet,
    /// The PKCE challenge.
    pub code_challenge: CodeChallenge,
    /// `state`, echoed on the response.
    pub state: Option<String>,
    /// OIDC `nonce`.
    pub nonce: Option<String>,
    /// OIDC `prompt`.
    pub prompt: Prompt,
    /// OIDC `max_age`, seconds.
    pub max_age: Option<i64>,
}

/// Validates everything after client and redirect URI (which the caller verified).
pub fn validate(
    params: &Params,
    redirect: &VerifiedRedirect,
    client: &ClientView<'_>,
    resources: &[ResourceView<'_>],
) -> Result<ValidatedAuthorization, AuthorizeError> {
    let state = params.get("state").map(str::to_owned);
    let fail = |error: OAuthError| AuthorizeError::Redirect {
        to: redirect.clone(),
        state: state.clone(),
        error,
    };
    check_request_shape(params).map_err(fail)?;
    if !client.authorization_code_allowed {
        return Err(fail(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "this client is not registered for the authorization_code grant",
        )));
    }
    let code_challenge = CodeChallenge::from_request(
        params.get("code_challenge"),
        params.get("code_challenge_method"),
    )
    .map_err(fail)?;
    let resource = pick_resource(params, resources).map_err(fail)?;
    let scope = pick_scope(
        params.get("scope"),
        resources[resource].scopes,
        client.allowed_scopes,
    )
    .map_err(fail)?;
    let prompt = Prompt::parse(params.get("prompt")).map_err(fail)?;
    let max_age = match params.get("max_age") {
        None => None,
        Some(v) => Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
            fail(OAuthError::invalid_request(
                "max_age must be a non-negative integer",
            ))
        })?),
    };
    Ok(ValidatedAuthorization {
        resource,
        scope,
        code_challenge,
        state: state.clone(),
        nonce: params.get("nonce").map(str::to_owned),
        prompt,
        max_age,
    })
}

fn check_request_shape(params: &Params) -> Result<(), OAuthError> {
    if params.is_repeated("resource") {
        return Err(OAuthError::invalid_target(
            "send one resource per authorization request: each access token is issued for exactly one MCP server",
        ));
    }
    params.check_well_formed()?;
    match params.get("response_type") {
        None => {
            return Err(OAuthError::invalid_request(
                "missing required parameter \"response_type\"",
            ));
        }
        Some("code") => {}
        Some(other) => {
            return Err(OAuthError::new(
                ErrorCode::UnsupportedResponseType,
                format!("response_type {other:?} is not supported; only \"code\" is (OAuth 2.1)"),
            ));
        }
    }
    if let Some(mode) = params.get("response_mode").filter(|m| *m != "query") {
        return Err(OAuthError::invalid_request(format!(
            "response_mode {mode:?} is not supported; only \"query\" is"
        )));
    }
    if params.get("request").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestNotSupported,
            "request objects are not supported",
        ));
    }
    if params.get("request_uri").is_some() {
        return Err(OAuthError::new(
            ErrorCode::RequestUriNotSupported,
            "request_uri is not supported",
        ));
    }
    Ok(())
}

/// RFC 8707 §2 and AS-15: `resource` must name one of the environment's MCP servers; when
/// omitted and the environment has exactly one, that one is meant.
pub fn pick_resource(params: &Params, resources: &[ResourceView<'_>]) -> Result<usize, OAuthError> {
    match params.get("resource").or_else(|| params.get("audience")) {
        Some(raw) => {
            let requested = RequestedResource::parse(raw)?;
            resources.iter().position(|r| requested.matches(r.uri)).ok_or_else(|| {
                OAuthError::invalid_target(format!("resource {raw:?} is not an MCP server registered in this environment"))
                    .with_detail(registered_list(resources))
            })
        }
        None if resources.len() == 1 => Ok(0),
        None if resources.is_empty() => Err(OAuthError::invalid_target(
            "no MCP server is registered in this environment; add one with `gatehouse resource add`",
        )),
        None => Err(OAuthError::invalid_target(
            "the resource parameter is required: this environment has several MCP servers (RFC 8707)",
        )
        .with_detail(registered_list(resources))),
    }
}

fn registered_list(resources: &[ResourceView<'_>]) -> String {
    let uris: Vec<&str> = resources.iter().map(|r| r.uri.as_str()).collect();
    format!(
        "registered MCP servers: {}",
        if uris.is_empty() {
            "none".to_owned()
        } else {
            uris.join(", ")
        }
    )
}

/// Requested scopes must be OIDC scopes or scopes of the MCP server (and of the client's
/// registered `scope`, if it has one). Absent `scope` means the MCP server's scopes.
pub fn pick_scope(
    raw: Option<&str>,
    resource_scopes: &ScopeSet,
    client_allowed: Option<&ScopeSet>,
) -> Result<ScopeSet, OAuthError> {
    let requested = match raw {
        Some(r) => ScopeSet::parse(r)?,
        None => match client_allowed {
            Some(allowed) => resource_scopes.intersection(allowed),
            None => resource_scopes.clone(),
        },
    };
    let identity = ScopeSet::from_tokens(scope::IDENTITY_SCOPES);
    let unknown: Vec<&str> = requested
        .iter()
        .filter(|s| !identity.contains(s) && !resource_scopes.contains(s))
        .collect();
    if !unknown.is_empty() {
        return Err(OAuthError::invalid_scope(format!(
            "unknown scope {}; this MCP server defines: {}",
            unknown.join(", "),
            if resource_scopes.is_empty() {
                "no scopes".to_owned()
            } else {
                resource_scopes.to_string()
            }
        )));
    }
    if let Some(allowed) = client_allowed {
        let refused: Vec<&str> = requested
            .iter()
            .filter(|s| !identity.contains(s) && !allowed.contains(s))
            .collect();
        if !refused.is_empty() {
            return Err(OAuthError::invalid_scope(format!(
                "scope {} is outside the scopes this client registered ({allowed})",
                refused.join(", ")
            )));
        }
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redirect;

    const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    fn run(query: &str, n_resources: usize) -> Result<ValidatedAuthorization, AuthorizeError> {
        let r1 = ResourceUri::parse_registered("https://mcp.example.com/mcp").unwrap();
        let r2 = ResourceUri::parse_registered("https://other.example.com/mcp").unwrap();
        let s = ScopeSet::parse("todo:read todo:write").unwrap();
        let all = [
            ResourceView {
                uri: &r1,
                scopes: &s,
            },
            ResourceView {
                uri: &r2,
                scopes: &s,
            },
        ];
        let redirect =
            redirect::verify("http://127.0.0.1:9/cb", &["http://127.0.0.1/cb".to_owned()]).unwrap();
        let client = ClientView {
            authorization_code_allowed: true,
            allowed_scopes: None,
        };
        validate(
            &Params::parse(query.as_bytes()),
            &redirect,
            &client,
            &all[..n_resources],
        )
    }

    fn code_of(r: Result<ValidatedAuthorization, AuthorizeError>) -> ErrorCode {
        match r {
            Err(AuthorizeError::Redirect { error, state, .. }) => {
                assert_eq!(state.as_deref(), Some("xyz"));
                error.code
            }
            other => panic!("expected a redirect error, got {other:?}"),
        }
    }

    #[test]
    fn error_table() {
        use ErrorCode::*;
        let base = format!(
            "state=xyz&code_challenge={CHALLENGE}&code_challenge_method=S256&resource=https://mcp.example.com/mcp"
        );
        let cases: Vec<(String, ErrorCode)> = vec![
            (base.clone(), InvalidRequest), // no response_type
            (
                format!("{base}&response_type=token"),
                UnsupportedResponseType,
            ),
            (
                format!("{base}&response_type=code%20id_token"),
                UnsupportedResponseType,
            ),
            (
                "response_type=code&state=xyz&resource=https://mcp.example.com/mcp".to_owned(),
                InvalidRequest,
            ), // no PKCE
            (
                format!(
                    "response_type=code&state=xyz&code_challenge={CHALLENGE}&code_challenge_method=plain"
                ),
                InvalidRequest,
            ),
            (
                format!("{base}&response_type=code&scope=admin"),
                InvalidScope,
            ),
            (
                format!(
                    "response_type=code&state=xyz&code_challenge={CHALLENGE}&code_challenge_method=S256&resource=https://evil.example/mcp"
                ),
                InvalidTarget,
            ),
            (
                format!(
                    "response_type=code&state=xyz&code_challenge={CHALLENGE}&code_challenge_method=S256&resource=/mcp"
                ),
                InvalidTarget,
            ),
            (
                format!("{base}&response_type=code&resource=https://mcp.example.com/mcp"),
                InvalidTarget,
            ), // repeated resource
            (
                format!("{base}&response_type=code&code_challenge=x"),
                InvalidRequest,
            ), // repeated param
            (
                format!("{base}&response_type=code&prompt=none%20login"),
                InvalidRequest,
            ),
            (
                format!("{base}&response_type=code&max_age=-1"),
                InvalidRequest,
            ),
            (
                format!("{base}&response_type=code&response_mode=fragment"),
                InvalidRequest,
            ),
            (
                format!("{base}&response_type=code&request=eyJ"),
                RequestNotSupported,
            ),
        ];
        for (q, code) in cases {
            assert_eq!(code_of(run(&q, 2)), code, "{q}");
        }
    }

    #[test]
    fn resource_defaults_only_when_unambiguous() {
        let q = format!(
            "response_type=code&state=xyz&code_challenge={CHALLENGE}&code_challenge_method=S256"
        );
        let ok = run(&q, 1).unwrap();
        assert_eq!(ok.resource, 0);
        assert_eq!(ok.scope.to_string(), "todo:read todo:write");
        assert_eq!(code_of(run(&q, 2)), ErrorCode::InvalidTarget);
        assert_eq!(code_of(run(&q, 0)), ErrorCode::InvalidTarget);
    }

    #[test]
    fn resource_is_canonicalised() {
        let q = format!(
            "response_type=code&state=xyz&code_challenge={CHALLENGE}&code_challenge_method=S256&resource=HTTPS://Other.Example.com/mcp/&scope=openid%20offline_access%20todo:read&nonce=n&prompt=consent&max_age=0"
        );
        let ok = run(&q, 2).unwrap();
        assert_eq!(ok.resource, 1);
        assert!(ok.prompt.consent);
        assert_eq!(ok.max_age, Some(0));
        assert_eq!(ok.nonce.as_deref(), Some("n"));
    }

    #[test]
    fn client_scope_restriction() {
        let s = ScopeSet::parse("todo:read todo:write").unwrap();
        let allowed = ScopeSet::parse("todo:read").unwrap();
        assert_eq!(
            pick_scope(None, &s, Some(&allowed)).unwrap().to_string(),
            "todo:read"
        );
        assert!(pick_scope(Some("todo:write"), &s, Some(&allowed)).is_err());
        assert!(pick_scope(Some("openid todo:read"), &s, Some(&allowed)).is_ok());
    }
}
