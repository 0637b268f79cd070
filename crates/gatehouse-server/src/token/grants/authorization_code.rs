//! `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5-4.6, RFC 8707 §2.2).

use gatehouse_oauth::OAuthError;
use gatehouse_oauth::pkce::{CodeChallenge, is_valid_verifier};
use gatehouse_oauth::scope::{OPENID, ScopeSet};
use gatehouse_oauth::secret::Secret;
use gatehouse_store::{Consumed, Redemption};

use super::{Decision, GrantCx, RefreshPlan, check_resource_matches, wants_refresh};
use crate::respond::internal;
use crate::token::Trace;

/// Redeems a code.
pub async fn exchange(cx: &GrantCx<'_>, trace: &mut Trace) -> Result<Decision, OAuthError> {
    let code = cx.params.required("code")?;
    let env_id = cx.env.id();
    // One trip to the store: the code consumed, with its grant and user as of that moment.
    let Redemption {
        consumed,
        grant,
        user,
    } =
        cx.s.store
            .redeem_code(env_id, &Secret::presented(code).hash(), cx.now)
            .await
            .map_err(|e| internal("redeeming code", e))?;
    let record = match consumed {
        Consumed::First(r) => r,
        Consumed::Missing => {
            return Err(OAuthError::invalid_grant(
                "the authorization code is invalid",
            ));
        }
        Consumed::Replayed(r) => {
            // RFC 6749 §4.1.2: "If an authorization code is used more than once, the
            // authorization server MUST deny the request and SHOULD revoke (when possible) all
            // tokens previously issued based on that authorization code."
            cx.s.store
                .revoke_grant(env_id, &r.grant_id, "code_replay", cx.now)
                .await
                .map_err(|e| internal("revoking grant", e))?;
            trace.correlation_id = grant.map(|g| g.correlation_id);
            return Err(OAuthError::invalid_grant(
                "the authorization code was already used; the tokens issued from it are revoked",
            )
            .with_detail(format!("code replay; grant {} revoked", r.grant_id)));
        }
    };
    trace.correlation_id = grant.as_ref().map(|g| g.correlation_id.clone());
    trace.user_id = Some(record.user_id.clone());
    if record.client_id != cx.client.client_id {
        return Err(OAuthError::invalid_grant(
            "the authorization code was issued to another client",
        )
        .with_detail(format!(
            "code of client {} presented by {}",
            record.client_id, cx.client.client_id
        )));
    }
    if record.expires_at <= cx.now {
        return Err(OAuthError::invalid_grant(
            "the authorization code has expired; start the authorization again",
        ));
    }
    // OAuth 2.1 §4.1.3: redirect_uri may be omitted, but if sent it must be the same.
    if cx
        .params
        .get("redirect_uri")
        .is_some_and(|r| r != record.redirect_uri)
    {
        return Err(OAuthError::invalid_grant(
            "redirect_uri differs from the one in the authorization request",
        ));
    }
    // RFC 7636 §4.6 (and RFC 9700 §2.1.1: PKCE is always required here, so no downgrade).
    let Some(verifier) = cx.params.get("code_verifier") else {
        return Err(OAuthError::invalid_grant(
            "code_verifier is required (PKCE)",
        ));
    };
    if !is_valid_verifier(verifier) {
        return Err(OAuthError::invalid_grant(
            "code_verifier must be 43-128 unreserved characters (RFC 7636 §4.1)",
        ));
    }
    if !CodeChallenge::from_stored(record.code_challenge.clone()).verify(verifier) {
        return Err(OAuthError::invalid_grant(
            "code_verifier does not match the code_challenge",
        ));
    }
    let resource =
        cx.s.envs
            .resource(cx.env, &record.resource_id, cx.now)
            .await
            .ok_or_else(|| {
                OAuthError::invalid_grant("the MCP server of this authorization no longer exists")
            })?;
    check_resource_matches(cx.params, &resource)?;
    let grant = grant
        .filter(|g| g.revoked_at.is_none())
        .ok_or_else(|| OAuthError::invalid_grant("this authorization has been revoked"))?;
    let user = user.filter(|u| !u.disabled).ok_or_else(|| {
        OAuthError::invalid_grant("the user of this authorization is disabled or deleted")
    })?;
    let scope = ScopeSet::from_tokens(record.scope.split(' ').filter(|s| !s.is_empty()));
    let refresh = if wants_refresh(&scope, &resource, cx.client) {
        RefreshPlan::NewFamily
    } else {
        RefreshPlan::None
    };
    let id_token = scope.contains(OPENID).then(|| (user, record.nonce.clone()));
    Ok(Decision {
        subject: record.user_id,
        scope,
        resource,
        grant: Some(grant),
        refresh,
        id_token,
    })
}
