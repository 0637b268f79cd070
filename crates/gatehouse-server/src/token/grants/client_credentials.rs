//! `grant_type=client_credentials` (RFC 6749 §4.4) for agents and machines.

use gatehouse_oauth::authorize::pick_resource;
use gatehouse_oauth::client::AuthMethod;
use gatehouse_oauth::scope::{self, ScopeSet};
use gatehouse_oauth::{ErrorCode, OAuthError};

use super::{Decision, GrantCx, RefreshPlan};
use crate::token::Trace;

/// Decides a machine token: the client is the subject; scopes within what it was allowed.
pub async fn exchange(cx: &GrantCx<'_>, trace: &mut Trace) -> Result<Decision, OAuthError> {
    let confidential = AuthMethod::parse(&cx.client.metadata.token_endpoint_auth_method)
        .is_some_and(AuthMethod::is_confidential);
    if !confidential {
        return Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            "client_credentials is only for confidential clients",
        ));
    }
    let views = cx.env.resource_views();
    if cx.params.is_repeated("resource") {
        return Err(OAuthError::invalid_target(
            "send one resource per token request",
        ));
    }
    let resource = cx.env.resources[pick_resource(cx.params, &views)?].clone();
    let allowed = cx
        .client
        .metadata
        .scope
        .as_deref()
        .map(|s| ScopeSet::from_tokens(s.split(' ').filter(|x| !x.is_empty())));
    let requested = match cx.params.get("scope") {
        Some(raw) => ScopeSet::parse(raw)?,
        None => match &allowed {
            Some(a) => a.intersection(&resource.scopes),
            None => resource.scopes.clone(),
        },
    };
    let identity: Vec<&str> = requested
        .iter()
        .filter(|s| scope::IDENTITY_SCOPES.contains(s))
        .collect();
    if !identity.is_empty() {
        return Err(OAuthError::invalid_scope(format!(
            "{} cannot be granted to a machine client (no user is involved)",
            identity.join(", ")
        )));
    }
    let unknown = requested.missing_from(&resource.scopes);
    if !unknown.is_empty() {
        return Err(OAuthError::invalid_scope(format!(
            "unknown scope {}; {} defines: {}",
            unknown.join(", "),
            resource.record.name,
            resource.scopes
        )));
    }
    if let Some(a) = &allowed {
        let refused = requested.missing_from(a);
        if !refused.is_empty() {
            return Err(OAuthError::invalid_scope(format!(
                "this client is not allowed scope {}",
                refused.join(", ")
            )));
        }
    }
    trace.data.push((
        "resource_requested",
        cx.params.get("resource").unwrap_or_default().to_owned(),
    ));
    Ok(Decision {
        subject: cx.client.client_id.clone(),
        scope: requested,
        resource,
        grant: None,
        refresh: RefreshPlan::None,
        id_token: None,
    })
}
