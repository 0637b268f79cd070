//! One file per grant type. Each `exchange` returns a [`Decision`]; the pipeline issues.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use std::sync::Arc;

use gatehouse_oauth::OAuthError;
use gatehouse_oauth::params::Params;
use gatehouse_oauth::resource::RequestedResource;
use gatehouse_oauth::scope::ScopeSet;
use gatehouse_oauth::secret::Secret;
use gatehouse_store::{ClientRecord, GrantRecord, UserRecord};

use crate::env::{EnvHandle, Resource};
use crate::state::AppState;

/// What a grant sees.
pub struct GrantCx<'a> {
    /// State.
    pub s: &'a AppState,
    /// Environment.
    pub env: &'a Arc<EnvHandle>,
    /// The authenticated client.
    pub client: &'a ClientRecord,
    /// The request.
    pub params: &'a Params,
    /// Now, seconds.
    pub now: i64,
}

/// Whether and how a refresh token goes with the response.
pub enum RefreshPlan {
    /// No refresh token.
    None,
    /// Start the refresh family of this grant.
    NewFamily,
    /// The grant already rotated and stored this one.
    Issued(Secret),
}

/// Who gets what.
pub struct Decision {
    /// `sub`: the user, or the client for `client_credentials`.
    pub subject: String,
    /// Scopes of the access token.
    pub scope: ScopeSet,
    /// The MCP server (the token's `aud`).
    pub resource: Arc<Resource>,
    /// The user grant, if any.
    pub grant: Option<GrantRecord>,
    /// Refresh token plan.
    pub refresh: RefreshPlan,
    /// ID token: the user and the nonce, when `openid` was granted on a code exchange.
    pub id_token: Option<(UserRecord, Option<String>)>,
}

/// RFC 8707 §2.2 at the token endpoint: a `resource` (or `audience`) sent here must name the
/// MCP server the grant is for; it can narrow, never widen.
pub fn check_resource_matches(params: &Params, granted: &Resource) -> Result<(), OAuthError> {
    if params.is_repeated("resource") {
        return Err(OAuthError::invalid_target(
            "send one resource per token request",
        ));
    }
    match params.get("resource").or_else(|| params.get("audience")) {
        None => Ok(()),
        Some(raw) => {
            let requested = RequestedResource::parse(raw)?;
            if requested.matches(&granted.uri) {
                Ok(())
            } else {
                Err(OAuthError::invalid_target(format!(
                    "resource {raw:?} is not the MCP server this authorization was granted for ({})",
                    granted.record.uri
                )))
            }
        }
    }
}

/// Whether this grant gets a refresh token (TK-05): always when `offline_access` was
/// granted; otherwise when the MCP server's policy (on by default) serves clients registered
/// for the `refresh_token` grant, so MCP clients that never ask for `offline_access` are not
/// logged out every hour.
pub fn wants_refresh(scope: &ScopeSet, resource: &Resource, client: &ClientRecord) -> bool {
    let registered =
        crate::admin::client_has_grant(client, gatehouse_oauth::client::GrantType::RefreshToken);
    scope.contains(gatehouse_oauth::scope::OFFLINE_ACCESS)
        || (resource.record.refresh_without_offline_access && registered)
}
