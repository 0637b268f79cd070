//! `POST /events`: authentication-log reports from gateways (`gatehouse proxy`) running
//! outside this process, so one connect attempt can be followed from registration to the
//! first MCP request. In-process gateway routes write to the log directly.
//!
//! The reporter authenticates as a confidential client of the environment whose registered
//! scopes include `gatehouse:events`; anything else is `invalid_client` (401) or
//! `insufficient_scope` (403), so a random client cannot write into the log.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use gatehouse_oauth::params::Params;
use gatehouse_oauth::{ErrorCode, OAuthError};
use serde::Deserialize;

use crate::audit::Ev;
use crate::crypto;
use crate::env::EnvHandle;
use crate::http::Env;
use crate::respond::{JsonError, internal};
use crate::state::AppState;
use crate::token::client_auth::{Presented, authenticate};

/// The scope a client needs to report events.
pub const EVENTS_SCOPE: &str = "gatehouse:events";
/// Most events accepted in one report.
pub const MAX_EVENTS: usize = 500;
/// Largest report body.
pub const MAX_BODY: usize = 512 * 1024;

/// One request seen by a gateway.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayEvent {
    /// When, milliseconds since the epoch.
    pub at_ms: i64,
    /// The MCP server (resource URI) the gateway protects.
    pub resource: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// The HTTP status answered.
    pub status: u16,
    /// The OAuth / RFC 6750 error, on failure.
    #[serde(default)]
    pub error: Option<String>,
    /// What exactly went wrong, on failure.
    #[serde(default)]
    pub detail: Option<String>,
    /// The JSON-RPC method, when known.
    #[serde(default)]
    pub method: Option<String>,
    /// The tool, for `tools/call`.
    #[serde(default)]
    pub tool: Option<String>,
    /// The token's client.
    #[serde(default)]
    pub client_id: Option<String>,
    /// The token's subject.
    #[serde(default)]
    pub sub: Option<String>,
    /// The token's grant (`sid`), which links the event to its authorization.
    #[serde(default)]
    pub sid: Option<String>,
    /// The token's id.
    #[serde(default)]
    pub jti: Option<String>,
    /// The caller's address as the gateway saw it.
    #[serde(default)]
    pub ip: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Report {
    events: Vec<GatewayEvent>,
}

/// `POST /events`.
pub async fn handle(
    State(s): State<AppState>,
    Env(env): Env,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match run(&s, &env, &headers, &body).await {
        Ok(n) => (
            StatusCode::ACCEPTED,
            axum::Json(serde_json::json!({ "accepted": n })),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn run(
    s: &AppState,
    env: &EnvHandle,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<usize, JsonError> {
    let presented = Presented::read(headers, &Params::default())?.ok_or_else(|| {
        JsonError::from(OAuthError::invalid_client(
            "reporting events requires client authentication",
        ))
    })?;
    let reporter = authenticate(s, env, &presented, false).await?.client;
    let allowed = reporter
        .record
        .metadata
        .scope
        .as_deref()
        .is_some_and(|sc| sc.split(' ').any(|x| x == EVENTS_SCOPE));
    if !allowed {
        return Err(OAuthError::new(
            ErrorCode::InsufficientScope,
            format!("this client may not report events: register it with the {EVENTS_SCOPE} scope"),
        )
        .into());
    }
    let report: Report = serde_json::from_slice(body).map_err(|e| {
        JsonError::from(OAuthError::invalid_request(format!(
            "the report is not valid JSON: {e}"
        )))
    })?;
    if report.events.len() > MAX_EVENTS {
        return Err(
            OAuthError::invalid_request(format!("at most {MAX_EVENTS} events per report")).into(),
        );
    }
    let n = report.events.len();
    for e in report.events {
        record(s, env, reporter.id(), e).await?;
    }
    Ok(n)
}

/// Writes one gateway event, correlated with the authorization its token came from.
pub async fn record(
    s: &AppState,
    env: &EnvHandle,
    reporter: &str,
    e: GatewayEvent,
) -> Result<(), JsonError> {
    let grant = match &e.sid {
        Some(sid) => s
            .store
            .get_grant(env.id(), sid)
            .await
            .map_err(|err| JsonError::from(internal("grant lookup", err)))?,
        None => None,
    };
    let correlation = grant
        .map(|g| g.correlation_id)
        .unwrap_or_else(|| crypto::new_correlation_id("gw_"));
    let user = e.sub.as_deref().filter(|sub| sub.starts_with("usr_"));
    let mut ev = Ev::new(env.id(), &correlation, "gateway", e.at_ms)
        .client(e.client_id.as_deref())
        .resource(Some(&e.resource))
        .user(user)
        .ip(e.ip.clone())
        .data("status", e.status)
        .data("reporter", reporter.to_owned());
    for (k, v) in [
        ("method", &e.method),
        ("tool", &e.tool),
        ("jti", &e.jti),
        ("sid", &e.sid),
    ] {
        if let Some(v) = v {
            ev.push(k, v.clone());
        }
    }
    if e.outcome != "success" {
        ev = ev.failed_with(
            e.error.as_deref().unwrap_or("failure"),
            e.detail.unwrap_or_default(),
        );
    }
    s.audit.emit(ev.build()).await;
    Ok(())
}
