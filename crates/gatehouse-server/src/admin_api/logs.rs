//! The authentication log: filtered lists (failures included by default), one connect
//! attempt as a trace with explanations, and JSON-lines export.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_store::{AuditEvent, AuditQuery};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Admin, ApiError, ApiResult, env_for, ok};
use crate::explain::explain;
use crate::state::AppState;

/// Query parameters of the log endpoints.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// `success` or `failure`.
    #[serde(default)]
    pub outcome: Option<String>,
    #[serde(default)]
    pub event: Option<String>,
    #[serde(default)]
    pub client_id: Option<String>,
    #[serde(default)]
    pub resource: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub since: Option<i64>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub until: Option<i64>,
    #[serde(default)]
    pub after_id: Option<i64>,
    #[serde(default)]
    pub limit: Option<u32>,
    /// `oldest` to read in order (tailing with `after_id`); newest first otherwise.
    #[serde(default)]
    pub order: Option<String>,
}

impl LogQuery {
    /// The store query for an environment.
    pub fn to_store(&self, env_id: &str, max: u32) -> ApiResult<AuditQuery> {
        if let Some(o) = &self.outcome
            && o != "success"
            && o != "failure"
        {
            return Err(ApiError::Invalid(
                "outcome must be success or failure".into(),
            ));
        }
        let oldest_first = match self.order.as_deref() {
            None | Some("newest") => false,
            Some("oldest") => true,
            Some(other) => {
                return Err(ApiError::Invalid(format!(
                    "order {other:?} must be newest or oldest"
                )));
            }
        };
        Ok(AuditQuery {
            env_id: env_id.to_owned(),
            correlation_id: self.correlation_id.clone(),
            client_id: self.client_id.clone(),
            outcome: self.outcome.clone(),
            event: self.event.clone(),
            after_id: self.after_id,
            limit: Some(self.limit.unwrap_or(100).clamp(1, max)),
            since_ms: self.since,
            until_ms: self.until,
            user_id: self.user_id.clone(),
            resource: self.resource.clone(),
            error: self.error.clone(),
            oldest_first,
        })
    }
}

/// An event with its explanation (for failures).
pub fn event_json(e: &AuditEvent) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or(Value::Null);
    if let Some(x) = explain(e) {
        v["explanation"] = json!(x);
    }
    v
}

/// `GET /environments/{env}/logs`.
pub async fn list(
    State(s): State<AppState>,
    admin: Admin,
    Path(env_id): Path<String>,
    Query(q): Query<LogQuery>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    crate::flush_audit(&s).await;
    let events = s.store.list_events(&q.to_store(&env_id, 1000)?).await?;
    Ok(ok(
        StatusCode::OK,
        json!({ "events": events.iter().map(event_json).collect::<Vec<_>>() }),
    ))
}

/// The trace of one connect attempt: its events in order, and what went wrong.
pub fn trace_json(correlation_id: &str, events: &[AuditEvent]) -> Value {
    let failed = events.iter().find(|e| e.outcome == "failure");
    let first = events.first();
    json!({
        "correlation_id": correlation_id,
        "client_id": events.iter().find_map(|e| e.client_id.clone()),
        "resource": events.iter().find_map(|e| e.resource.clone()),
        "user_id": events.iter().find_map(|e| e.user_id.clone()),
        "started_at_ms": first.map(|e| e.at_ms),
        "steps": events.iter().map(|e| e.event.clone()).collect::<Vec<_>>(),
        "outcome": if failed.is_some() { "failure" } else { "success" },
        "failed_step": failed.map(|e| e.event.clone()),
        "explanation": failed.and_then(explain),
        "events": events.iter().map(event_json).collect::<Vec<_>>(),
    })
}

/// `GET /environments/{env}/logs/trace/{correlation_id}`.
pub async fn trace(
    State(s): State<AppState>,
    admin: Admin,
    Path((env_id, correlation_id)): Path<(String, String)>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    crate::flush_audit(&s).await;
    let q = LogQuery {
        correlation_id: Some(correlation_id.clone()),
        limit: Some(1000),
        order: Some("oldest".into()),
        ..Default::default()
    };
    let events = s.store.list_events(&q.to_store(&env_id, 1000)?).await?;
    if events.is_empty() {
        return Err(ApiError::NotFound(format!(
            "no events with correlation id {correlation_id}"
        )));
    }
    Ok(ok(StatusCode::OK, trace_json(&correlation_id, &events)))
}

/// `GET /environments/{env}/logs/export`: JSON lines, oldest first, up to 10,000 events.
pub async fn export(
    State(s): State<AppState>,
    admin: Admin,
    Path(env_id): Path<String>,
    Query(mut q): Query<LogQuery>,
) -> ApiResult<Response> {
    env_for(&s, &admin, &env_id).await?;
    crate::flush_audit(&s).await;
    q.order = Some(q.order.unwrap_or_else(|| "oldest".into()));
    q.limit = Some(q.limit.unwrap_or(10_000));
    let events = s.store.list_events(&q.to_store(&env_id, 10_000)?).await?;
    let mut body = String::new();
    for e in &events {
        body.push_str(&event_json(e).to_string());
        body.push('\n');
    }
    let mut resp = (StatusCode::OK, body).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "attachment; filename=\"gatehouse-{env_id}-log.jsonl\""
    )) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
