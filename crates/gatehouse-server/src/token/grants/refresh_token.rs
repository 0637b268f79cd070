//! `grant_type=refresh_token` (RFC 6749 §6) with rotation on every use and reuse detection
//! (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).

use gatehouse_oauth::OAuthError;
use gatehouse_oauth::scope::ScopeSet;
use gatehouse_oauth::secret::Secret;
use gatehouse_store::{RefreshTokenRecord, RefreshWithGrant, Rotation};

use super::{Decision, GrantCx, RefreshPlan, check_resource_matches};
use crate::crypto;
use crate::respond::internal;
use crate::token::Trace;

/// Sealing context of a refresh token's successor (kept for the grace window only).
fn seal_context(env_id: &str) -> String {
    format!("refresh-successor:{env_id}")
}

/// Rotates a refresh token and decides the new access token.
pub async fn exchange(cx: &GrantCx<'_>, trace: &mut Trace) -> Result<Decision, OAuthError> {
    let presented = cx.params.required("refresh_token")?;
    let env_id = cx.env.id();
    let store = &cx.s.store;
    let hash = Secret::presented(presented).hash();
    let invalid = || OAuthError::invalid_grant("the refresh token is invalid, expired or revoked");
    // The token and its grant in one query.
    let RefreshWithGrant {
        token: record,
        grant,
        user_active,
    } = store
        .get_refresh_with_grant(env_id, &hash)
        .await
        .map_err(|e| internal("refresh token lookup", e))?
        .ok_or_else(invalid)?;
    trace.correlation_id = Some(grant.correlation_id.clone());
    trace.user_id = Some(grant.user_id.clone());
    if record.client_id != cx.client.client_id {
        return Err(invalid().with_detail(format!(
            "refresh token of client {} presented by {}",
            record.client_id, cx.client.client_id
        )));
    }
    if record.expires_at <= cx.now {
        return Err(invalid().with_detail("refresh token expired"));
    }
    if let Some(reason) = &grant.revoked_reason {
        return Err(invalid().with_detail(format!("grant {} revoked: {reason}", grant.id)));
    }
    let resource =
        cx.s.envs
            .resource(cx.env, &grant.resource_id, cx.now)
            .await
            .ok_or_else(|| invalid().with_detail("MCP server deleted"))?;
    check_resource_matches(cx.params, &resource)?;
    // RFC 6749 §6: a narrower scope may be asked for this access token; the refresh token
    // keeps the original scope.
    let granted = ScopeSet::from_tokens(record.scope.split(' ').filter(|s| !s.is_empty()));
    let scope = match cx.params.get("scope") {
        None => granted.clone(),
        Some(raw) => {
            let asked = ScopeSet::parse(raw)?;
            if !asked.is_subset_of(&granted) {
                return Err(OAuthError::invalid_scope(format!(
                    "scope {} was not granted to this refresh token",
                    asked.missing_from(&granted).join(", ")
                )));
            }
            asked
        }
    };
    // A disabled or deleted user's refresh tokens stop working.
    if !user_active {
        return Err(invalid().with_detail("user disabled or deleted"));
    }
    let issued = rotate(cx, &record, &hash).await?;
    Ok(Decision {
        subject: grant.user_id.clone(),
        scope,
        resource,
        grant: Some(grant),
        refresh: RefreshPlan::Issued(issued),
        id_token: None,
    })
}

async fn rotate(
    cx: &GrantCx<'_>,
    record: &RefreshTokenRecord,
    presented: &gatehouse_oauth::secret::SecretHash,
) -> Result<Secret, OAuthError> {
    let env_id = cx.env.id();
    let successor = crypto::new_secret("ghr_");
    let successor_record = RefreshTokenRecord {
        hash: successor.hash(),
        env_id: env_id.to_owned(),
        grant_id: record.grant_id.clone(),
        client_id: record.client_id.clone(),
        scope: record.scope.clone(),
        created_at: cx.now,
        expires_at: cx.now + cx.env.record.settings.refresh_token_ttl,
        rotated_at: None,
        successor_hash: None,
        revoked_at: None,
    };
    let sealed =
        cx.s.master
            .seal(&seal_context(env_id), successor.expose().as_bytes());
    let grace = cx.env.record.settings.refresh_grace.clamp(0, 60);
    let outcome =
        cx.s.store
            .rotate_refresh(env_id, presented, &successor_record, &sealed, grace, cx.now)
            .await
            .map_err(|e| internal("rotating refresh token", e))?;
    match outcome {
        Rotation::Rotated => Ok(successor),
        Rotation::Grace { sealed_successor } => {
            let plain = cx
                .s
                .master
                .open(&seal_context(env_id), &sealed_successor)
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| internal("refresh grace", "sealed successor could not be opened"))?;
            Ok(Secret::presented(&plain))
        }
        Rotation::Reused { grant_id } => Err(OAuthError::invalid_grant(
            "the refresh token was already used; for safety this authorization has been revoked, sign in again",
        )
        .with_detail(format!("refresh token reuse detected; grant {grant_id} and all its tokens revoked"))),
        Rotation::Revoked | Rotation::Missing => Err(OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")),
    }
}
