//! `grant_type=refresh_token` (RFC 6749 §6) with rotation on every use and reuse detection
//! (OAuth 2.1 §4.3.1, RFC 9700 §4.14.2).

use std::sync::Arc;

use gatehouse_oauth::OAuthError;
use gatehouse_oauth::params::Params;
use gatehouse_oauth::scope::ScopeSet;
use gatehouse_oauth::secret::{Secret, SecretHash};
use gatehouse_store::{RefreshGate, RefreshWithGrant, Rotation, RotationReport, Successor};

use super::{Decision, GrantCx, RefreshPlan, check_resource_matches};
use crate::crypto;
use crate::env::{EnvHandle, Resource};
use crate::respond::internal;
use crate::token::Trace;

/// Sealing context of a refresh token's successor (kept for the grace window only).
fn seal_context(env_id: &str) -> String {
    format!("refresh-successor:{env_id}")
}

/// What a usable refresh token allows this request.
struct Vetted {
    scope: ScopeSet,
    resource: Arc<Resource>,
}

/// The rules a refresh token must pass before it is rotated (its client, expiry, grant and
/// user; the request's scope and resource), as data the rotation's gate owns.
#[derive(Clone)]
struct Rules {
    env: Arc<EnvHandle>,
    client_id: String,
    params: Params,
    now: i64,
}

/// Why a token that exists cannot be used; `Unloaded` when only this node's view of the
/// environment is behind.
enum Refusal {
    Error(OAuthError),
    Unloaded(String),
}

impl Rules {
    fn vet(&self, found: &RefreshWithGrant) -> Result<Vetted, Refusal> {
        let RefreshWithGrant {
            token,
            grant,
            user_active,
        } = found;
        let invalid = |detail: String| Refusal::Error(invalid().with_detail(detail));
        if token.client_id != self.client_id {
            return Err(invalid(format!(
                "refresh token of client {} presented by {}",
                token.client_id, self.client_id
            )));
        }
        if token.expires_at <= self.now {
            return Err(invalid("refresh token expired".into()));
        }
        if let Some(reason) = &grant.revoked_reason {
            return Err(invalid(format!("grant {} revoked: {reason}", grant.id)));
        }
        let Some(resource) = self.env.resource_by_id(&grant.resource_id) else {
            return Err(Refusal::Unloaded(grant.resource_id.clone()));
        };
        check_resource_matches(&self.params, resource).map_err(Refusal::Error)?;
        // RFC 6749 §6: a narrower scope may be asked for this access token; the refresh
        // token keeps the original scope.
        let granted = ScopeSet::from_tokens(token.scope.split(' ').filter(|s| !s.is_empty()));
        let scope = match self.params.get("scope") {
            None => granted,
            Some(raw) => {
                let asked = ScopeSet::parse(raw).map_err(Refusal::Error)?;
                if !asked.is_subset_of(&granted) {
                    return Err(Refusal::Error(OAuthError::invalid_scope(format!(
                        "scope {} was not granted to this refresh token",
                        asked.missing_from(&granted).join(", ")
                    ))));
                }
                asked
            }
        };
        // A disabled or deleted user's refresh tokens stop working.
        if !user_active {
            return Err(invalid("user disabled or deleted".into()));
        }
        Ok(Vetted {
            scope,
            resource: resource.clone(),
        })
    }
}

fn invalid() -> OAuthError {
    OAuthError::invalid_grant("the refresh token is invalid, expired or revoked")
}

/// Rotates a refresh token and decides the new access token. The token is read, vetted and
/// rotated in one store transaction (one round trip), so what it was vetted on cannot
/// change before it rotates.
pub async fn exchange(cx: &GrantCx<'_>, trace: &mut Trace) -> Result<Decision, OAuthError> {
    let presented = cx.params.required("refresh_token")?;
    let hash = Secret::presented(presented).hash();
    let mut rules = Rules {
        env: cx.env.clone(),
        client_id: cx.client.client_id.clone(),
        params: cx.params.clone(),
        now: cx.now,
    };
    let mut reloaded = false;
    loop {
        let (found, outcome) = rotate(cx, &hash, &rules).await?;
        trace.correlation_id = Some(found.grant.correlation_id.clone());
        trace.user_id = Some(found.grant.user_id.clone());
        let vetted = match rules.vet(&found) {
            Ok(vetted) => vetted,
            Err(Refusal::Error(e)) => return Err(e),
            // An MCP server this node has not loaded yet (added through another node or
            // the CLI since the last poll): reload once and try again.
            Err(Refusal::Unloaded(id)) if !reloaded => {
                reloaded = true;
                rules.env = cx.s.envs.latest(cx.env, cx.now).await;
                if rules.env.resource_by_id(&id).is_none() {
                    return Err(invalid().with_detail("MCP server deleted"));
                }
                continue;
            }
            Err(Refusal::Unloaded(_)) => return Err(invalid().with_detail("MCP server deleted")),
        };
        let issued = outcome?;
        return Ok(Decision {
            subject: found.grant.user_id.clone(),
            scope: vetted.scope,
            resource: vetted.resource,
            grant: Some(found.grant),
            refresh: RefreshPlan::Issued(issued),
            id_token: None,
        });
    }
}

/// Presents the token for rotation under `rules`. Returns what the store found, and the
/// token to hand out (or the error for an outcome other than a refusal by `rules`, which the
/// caller reports from the record).
async fn rotate(
    cx: &GrantCx<'_>,
    presented: &SecretHash,
    rules: &Rules,
) -> Result<(RefreshWithGrant, Result<Secret, OAuthError>), OAuthError> {
    let env_id = cx.env.id();
    let successor = crypto::new_ordered_secret("ghr_");
    let next = Successor {
        hash: successor.hash(),
        created_at: cx.now,
        expires_at: cx.now + cx.env.record.settings.refresh_token_ttl,
    };
    let sealed =
        cx.s.master
            .seal(&seal_context(env_id), successor.expose().as_bytes());
    let grace = cx.env.record.settings.refresh_grace.clamp(0, 60);
    let gate_rules = rules.clone();
    let gate: RefreshGate = Box::new(move |found| gate_rules.vet(found).is_ok());
    let RotationReport { presented, outcome } =
        cx.s.store
            .rotate_refresh(env_id, presented, &next, &sealed, grace, cx.now, gate)
            .await
            .map_err(|e| internal("rotating refresh token", e))?;
    let Some(found) = presented else {
        return Err(invalid());
    };
    let issued = match outcome {
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
        // The caller vets the record again, and reports why from that.
        Rotation::Declined => Err(invalid().with_detail("declined by the refresh rules")),
        Rotation::Revoked | Rotation::Missing => Err(invalid()),
    };
    Ok((found, issued))
}
