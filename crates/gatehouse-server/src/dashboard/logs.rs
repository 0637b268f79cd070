//! The authentication log: every event, failures with the exact error and what to do about
//! it (`crate::explain`, through the admin API's JSON views), filters, one connect attempt
//! as a trace, the JSON-lines export, and the retention setting.

use axum::extract::{Path, Query};
use gatehouse_store::AuditEvent;
use serde::Deserialize;
use serde_json::Value;

use super::html::{
    self, Field, Section, View, badge, code, errors, path_seg, query_value, render, select,
    short_code,
};
use super::session::{Ctx, Fail, PageResult, Post, done};
use crate::admin::{self, AdminError};
use crate::admin_api::logs::{LogQuery, event_json, trace_json};
use crate::env::EnvHandle;
use crate::pages::esc;

/// Most events on one page.
const PAGE: u32 = 200;

/// Time ranges offered: (value, label, milliseconds).
const RANGES: [(&str, &str, i64); 5] = [
    ("1h", "Last hour", 3_600_000),
    ("24h", "Last 24 hours", 86_400_000),
    ("7d", "Last 7 days", 7 * 86_400_000),
    ("30d", "Last 30 days", 30 * 86_400_000),
    ("all", "All kept events", 0),
];

/// Steps of a connect attempt, for the event filter.
const EVENTS: [&str; 13] = [
    "register",
    "cimd",
    "authorize",
    "login",
    "consent",
    "code",
    "token",
    "refresh",
    "revoke",
    "introspect",
    "userinfo",
    "cors",
    "gateway",
];

/// The filters of the log page (all optional; unknown parameters are ignored).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Filters {
    #[serde(default)]
    range: Option<String>,
    #[serde(default)]
    outcome: Option<String>,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    client_id: Option<String>,
    #[serde(default)]
    resource: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

fn some(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != "any")
        .map(str::to_owned)
}

impl Filters {
    fn range(&self) -> &str {
        self.range
            .as_deref()
            .filter(|r| RANGES.iter().any(|(v, _, _)| v == r))
            .unwrap_or("7d")
    }

    /// The admin API's query for these filters (`user` may be an email).
    async fn to_query(&self, ctx: &Ctx, env: &EnvHandle) -> Result<LogQuery, Fail> {
        let span = RANGES
            .iter()
            .find(|(v, _, _)| *v == self.range())
            .map_or(0, |(_, _, ms)| *ms);
        let user_id = match some(&self.user) {
            Some(u) if u.contains('@') => Some(
                ctx.state
                    .store
                    .get_user_by_email(env.id(), &u.to_ascii_lowercase())
                    .await?
                    .map_or_else(|| format!("(no user {u})"), |x| x.id),
            ),
            other => other,
        };
        Ok(LogQuery {
            outcome: some(&self.outcome).filter(|o| o == "success" || o == "failure"),
            event: some(&self.event),
            client_id: some(&self.client_id),
            resource: some(&self.resource),
            user_id,
            error: some(&self.error),
            since: (span > 0).then(|| ctx.state.now_ms() - span),
            limit: Some(PAGE),
            ..Default::default()
        })
    }
}

/// The export URL (admin API, JSON lines) for the same filters.
fn export_url(env: &EnvHandle, q: &LogQuery) -> String {
    let pairs = [
        ("outcome", &q.outcome),
        ("event", &q.event),
        ("client_id", &q.client_id),
        ("resource", &q.resource),
        ("user_id", &q.user_id),
        ("error", &q.error),
    ];
    let mut parts: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", query_value(v))))
        .collect();
    if let Some(since) = q.since {
        parts.push(format!("since={since}"));
    }
    format!(
        "/admin/api/v1/environments/{}/logs/export?{}",
        path_seg(env.id()),
        parts.join("&")
    )
}

fn explanation_html(x: &Value) -> String {
    if x.is_null() {
        return String::new();
    }
    let fixes: String = x["fixes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|f| format!("<li>{}</li>", esc(f)))
                .collect()
        })
        .unwrap_or_default();
    format!(
        "<div class=\"explain\"><p><strong>What happened:</strong> {}</p><p><strong>What to do:</strong></p><ol class=\"fixes\">{fixes}</ol></div>",
        esc(x["summary"].as_str().unwrap_or_default())
    )
}

/// A client id, shortened, linking to its client's page.
fn client_link(ctx: &Ctx, env: &EnvHandle, client_id: &str) -> String {
    let row = super::consents::consent_row(ctx, env, client_id);
    format!(
        "<a href=\"/admin/env/{}/clients/{}\">{}</a>",
        path_seg(env.id()),
        path_seg(&row),
        short_code(client_id)
    )
}

/// One event as a card, with its explanation when it failed.
fn event_html(ctx: &Ctx, env: &EnvHandle, e: &AuditEvent, with_trace_link: bool) -> String {
    let v = event_json(e);
    let failed = e.outcome == "failure";
    let mut facts: Vec<(String, String)> = Vec::new();
    let mut fact = |label: &str, html: Option<String>| {
        if let Some(html) = html {
            facts.push((label.to_owned(), html));
        }
    };
    let text = |v: Option<&str>| v.filter(|s| !s.is_empty()).map(code);
    fact("Error", text(e.error.as_deref()));
    fact("Detail", text(e.error_detail.as_deref()));
    fact(
        "Client",
        e.client_id
            .as_deref()
            .map(|client| client_link(ctx, env, client)),
    );
    fact("MCP server", text(e.resource.as_deref()));
    fact("User", text(e.user_id.as_deref()));
    fact("IP address", text(e.ip.as_deref()));
    for (k, val) in e.data.as_object().into_iter().flatten() {
        fact(
            k,
            text(Some(
                &val.as_str().map_or_else(|| val.to_string(), str::to_owned),
            )),
        );
    }
    let facts: String = facts
        .iter()
        .map(|(l, v)| format!("<dt>{}</dt><dd>{v}</dd>", esc(l)))
        .collect();
    let trace = if with_trace_link {
        format!(
            " <a href=\"/admin/env/{}/logs/trace/{}\">Trace of this attempt</a>",
            path_seg(env.id()),
            path_seg(&e.correlation_id)
        )
    } else {
        String::new()
    };
    format!(
        "<li class=\"{class}\"><div class=\"event-head\"><strong>{event}</strong> {badge} <span class=\"muted\">{time}</span>{trace}</div>\
         <dl class=\"facts\">{facts}</dl>{explain}</li>",
        class = if failed { "failure" } else { "success" },
        event = esc(&e.event),
        badge = if failed {
            badge("failed", "fail")
        } else {
            badge("succeeded", "ok")
        },
        time = html::time(e.at_ms.div_euclid(1000)),
        explain = explanation_html(&v["explanation"]),
    )
}

fn filters_html(env: &EnvHandle, f: &Filters) -> String {
    let mut servers = vec![("any", "Any MCP server")];
    servers.extend(
        env.resources
            .iter()
            .map(|r| (r.record.uri.as_str(), r.record.name.as_str())),
    );
    let mut events = vec![("any", "Any step")];
    events.extend(EVENTS.iter().map(|e| (*e, *e)));
    let ranges: Vec<(&str, &str)> = RANGES.iter().map(|(v, l, _)| (*v, *l)).collect();
    let val = |v: &Option<String>| v.clone().unwrap_or_default();
    format!(
        "<form method=\"get\" action=\"/admin/env/{env}/logs\" class=\"card\"><div class=\"filters\">{range}{outcome}{event}{server}{client}{user}{error}</div>\
         <button type=\"submit\">Filter</button> <a href=\"/admin/env/{env}/logs\">Clear filters</a></form>",
        env = path_seg(env.id()),
        range = select("range", "Time", &ranges, f.range(), ""),
        outcome = select(
            "outcome",
            "Outcome",
            &[
                ("any", "Successes and failures"),
                ("failure", "Failures only"),
                ("success", "Successes only")
            ],
            f.outcome.as_deref().unwrap_or("any"),
            ""
        ),
        event = select(
            "event",
            "Step",
            &events,
            f.event.as_deref().unwrap_or("any"),
            ""
        ),
        server = select(
            "resource",
            "MCP server",
            &servers,
            f.resource.as_deref().unwrap_or("any"),
            ""
        ),
        client = Field::text("client_id", "Client id", &val(&f.client_id))
            .attrs("autocomplete=\"off\"")
            .html(),
        user = Field::text("user", "User (email or id)", &val(&f.user))
            .attrs("autocomplete=\"off\"")
            .html(),
        error = Field::text("error", "Error code", &val(&f.error))
            .hint("e.g. invalid_request, invalid_client")
            .attrs("autocomplete=\"off\"")
            .html(),
    )
}

async fn list_html(
    ctx: &Ctx,
    env: &EnvHandle,
    f: &Filters,
    retention_error: Option<&str>,
) -> PageResult {
    let q = f.to_query(ctx, env).await?;
    crate::flush_audit(&ctx.state).await;
    let store_query = q.to_store(env.id(), 1000)?;
    let events = ctx.state.store.list_events(&store_query).await?;
    let failures = events.iter().filter(|e| e.outcome == "failure").count();
    let items: String = events
        .iter()
        .map(|e| event_html(ctx, env, e, true))
        .collect();
    let list = if events.is_empty() {
        "<p class=\"empty\">No events match these filters.</p>".to_owned()
    } else {
        format!("<ol class=\"events\" aria-label=\"Events, newest first\">{items}</ol>")
    };
    let more = if events.len() as u32 >= PAGE {
        format!(
            "<p class=\"muted\">Showing the newest {PAGE}; narrow the filters or export to see more.</p>"
        )
    } else {
        String::new()
    };
    let summary = format!(
        "{} event{}, {failures} failed.",
        events.len(),
        if events.len() == 1 { "" } else { "s" }
    );
    let days = env.record.settings.log_retention_days.to_string();
    let body = format!(
        "<p>Every step of every connection attempt, newest first. Each failure shows the exact error and what to do about it; \
         follow “Trace of this attempt” to see the whole attempt step by step.</p>{filters}\
         <div class=\"actions\"><p role=\"status\">{summary}</p><a href=\"{export}\">Export these events as JSON lines</a></div>{list}{more}\
         <section class=\"card\" aria-labelledby=\"h-retention\"><h2 id=\"h-retention\">Retention</h2>{top}\
         <form method=\"post\" action=\"/admin/env/{env}/logs/retention\">{csrf}{field}<button type=\"submit\">Save retention</button></form></section>",
        filters = filters_html(env, f),
        export = esc(&export_url(env, &q)),
        env = path_seg(env.id()),
        top = errors(
            &retention_error
                .map(|e| vec![e.to_owned()])
                .unwrap_or_default()
        ),
        csrf = ctx.csrf_field(),
        field = Field::text("log_retention_days", "Keep events for (days)", &days)
            .kind("number")
            .hint("1 to 3650. Older events are deleted automatically.")
            .error(retention_error)
            .attrs("min=\"1\" max=\"3650\" required")
            .html(),
    );
    Ok(render(
        ctx,
        View::new("Authentication logs", Some(env), Section::Logs, body)
            .invalid_if(retention_error.is_some()),
    ))
}

/// `GET /admin/env/{env}/logs`.
pub(crate) async fn list(
    ctx: Ctx,
    Path(env_id): Path<String>,
    Query(f): Query<Filters>,
) -> PageResult {
    let env = ctx.env(&env_id).await?;
    list_html(&ctx, &env, &f, None).await
}

/// `GET /admin/env/{env}/logs/trace/{correlation_id}`: one connect attempt, step by step.
pub(crate) async fn trace(ctx: Ctx, Path((env_id, cid)): Path<(String, String)>) -> PageResult {
    let env = ctx.env(&env_id).await?;
    crate::flush_audit(&ctx.state).await;
    let q = LogQuery {
        correlation_id: Some(cid.clone()),
        limit: Some(1000),
        order: Some("oldest".into()),
        ..Default::default()
    };
    let events = ctx
        .state
        .store
        .list_events(&q.to_store(env.id(), 1000)?)
        .await?;
    if events.is_empty() {
        return Err(Fail::NotFound(format!(
            "no events with correlation id {cid}"
        )));
    }
    let t = trace_json(&cid, &events);
    let failed = t["outcome"] == "failure";
    let text = |k: &str| t[k].as_str().unwrap_or("—").to_owned();
    let steps: Vec<&str> = t["steps"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let outcome = if failed {
        format!(
            "{} at step {}",
            badge("failed", "fail"),
            code(&text("failed_step"))
        )
    } else {
        badge("succeeded", "ok")
    };
    let body = format!(
        "<dl class=\"facts\"><dt>Outcome</dt><dd>{outcome}</dd><dt>Correlation id</dt><dd>{cid}</dd><dt>Client</dt><dd>{client}</dd>\
         <dt>MCP server</dt><dd>{resource}</dd><dt>User</dt><dd>{user}</dd><dt>Started</dt><dd>{started}</dd><dt>Steps</dt><dd>{steps}</dd></dl>\
         {explain}<h2>Steps</h2><ol class=\"events\">{items}</ol><p><a href=\"/admin/env/{env}/logs\">Back to the log</a></p>",
        cid = code(&cid),
        client = t["client_id"]
            .as_str()
            .map_or_else(|| "—".to_owned(), |c| client_link(&ctx, &env, c)),
        resource = code(&text("resource")),
        user = code(&text("user_id")),
        started = t["started_at_ms"]
            .as_i64()
            .map_or_else(|| "—".to_owned(), |ms| html::time(ms.div_euclid(1000))),
        steps = esc(&steps.join(" → ")),
        explain = explanation_html(&t["explanation"]),
        items = events
            .iter()
            .map(|e| event_html(&ctx, &env, e, false))
            .collect::<String>(),
        env = path_seg(env.id()),
    );
    Ok(render(
        &ctx,
        View::new(
            "Trace of one connect attempt",
            Some(&env),
            Section::Logs,
            body,
        ),
    ))
}

/// `POST /admin/env/{env}/logs/retention`.
pub(crate) async fn retention(Path(env_id): Path<String>, Post { ctx, form }: Post) -> PageResult {
    let env = ctx.env(&env_id).await?;
    let Ok(days) = form.get("log_retention_days").trim().parse::<i64>() else {
        return list_html(
            &ctx,
            &env,
            &Filters::default(),
            Some("Enter a whole number of days."),
        )
        .await;
    };
    let mut record = admin::get_environment(&*ctx.state.store, env.id()).await?;
    record.settings.log_retention_days = days;
    match admin::update_environment(&*ctx.state.store, &record).await {
        Ok(()) => {}
        Err(AdminError::Invalid(m)) => {
            return list_html(&ctx, &env, &Filters::default(), Some(&m)).await;
        }
        Err(e) => return Err(e.into()),
    }
    ctx.reload().await?;
    Ok(done(
        &ctx.state,
        &format!("/admin/env/{}/logs", path_seg(env.id())),
        &format!("Authentication log events are now kept for {days} days."),
    ))
}
