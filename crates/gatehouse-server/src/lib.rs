//! The Gatehouse authorization server: OAuth 2.1 + OpenID Connect for MCP servers.
//!
//! [`start`] bootstraps storage (the `dev` environment, signing keys), loads environments
//! and starts the background tasks; [`router`] is the whole HTTP surface. A request is
//! dispatched to its environment by host and issuer path ([`http::dispatch`]) and then
//! routed by the endpoint path below the issuer.

pub mod access;
pub mod admin;
pub mod admin_api;
pub mod audit;
pub mod cache;
pub mod clients;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod dashboard;
pub mod discovery;
pub mod env;
pub mod events;
pub mod explain;
pub mod fetch;
pub mod http;
pub mod interaction;
pub mod introspect;
pub mod keys;
pub mod metrics;
pub mod pages;
pub mod ratelimit;
pub mod register;
pub mod respond;
pub mod revoke;
pub mod state;
pub mod token;
pub mod userinfo;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::routing::{get, post};
use gatehouse_store::Store;

use crate::audit::AuditSink;
use crate::clock::Clock;
use crate::config::RateLimits;
use crate::crypto::MasterKey;
use crate::env::EnvRegistry;
use crate::ratelimit::Limiter;
use crate::state::{AppState, Inner};

/// What [`start`] needs.
pub struct Options {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Master key.
    pub master: MasterKey,
    /// Public base URL.
    pub public_url: url::Url,
    /// Rate limits.
    pub limits: RateLimits,
    /// Time source.
    pub clock: Arc<dyn Clock>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Bootstrapping failed.
    #[error("bootstrap: {0}")]
    Bootstrap(#[from] admin::AdminError),
    /// Loading environments failed.
    #[error("loading environments: {0}")]
    Load(#[from] env::LoadError),
    /// Storage failed.
    #[error("storage: {0}")]
    Store(#[from] gatehouse_store::StoreError),
}

/// Largest request body accepted on any endpoint (RFC 9700 hygiene; 413 above it).
pub const MAX_BODY: usize = 64 * 1024;

/// Bootstraps storage, loads the environments and starts background tasks (environment
/// reloads when the CLI changes something, the audit writer, expiry collection).
pub async fn start(opts: Options) -> Result<AppState, StartError> {
    let now = opts.clock.now();
    admin::bootstrap(&*opts.store, &opts.master, now).await?;
    opts.store
        .set_meta("public_url", opts.public_url.as_str().trim_end_matches('/'))
        .await?;
    let envs = EnvRegistry::load(
        opts.store.clone(),
        opts.master.clone(),
        opts.public_url,
        now,
    )
    .await?;
    let metrics = std::sync::Arc::new(metrics::Metrics::default());
    let state = AppState::new(Inner {
        audit: AuditSink::spawn(opts.store.clone(), metrics.clone()),
        metrics,
        store: opts.store,
        envs,
        master: opts.master,
        clock: opts.clock,
        limiter: Limiter::default(),
        limits: opts.limits,
        clients: Default::default(),
    });
    tokio::spawn(watch_environments(state.clone()));
    tokio::spawn(collect_expired(state.clone()));
    Ok(state)
}

async fn watch_environments(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = state.envs.refresh(state.now(), false).await {
            tracing::error!(error = %e, "reloading environments failed");
        }
    }
}

async fn collect_expired(state: AppState) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        match state.store.gc(state.now()).await {
            Ok(report) => tracing::debug!(?report, "expired records collected"),
            Err(e) => tracing::error!(error = %e, "collecting expired records failed"),
        }
        purge_old_events(&state).await;
    }
}

/// Applies each environment's log retention.
pub async fn purge_old_events(state: &AppState) {
    for env in &state.envs.snapshot().envs {
        let before = state.now_ms() - env.record.settings.log_retention_days * 86_400_000;
        if let Err(e) = state.store.purge_events(env.id(), before).await {
            tracing::error!(error = %e, env = env.id(), "purging old authentication log events failed");
        }
    }
}

/// The HTTP surface.
pub fn router(state: AppState) -> Router {
    let per_env = Router::new()
        .route(http::WK_AS, get(discovery::metadata))
        .route(http::WK_OIDC, get(discovery::metadata))
        .route("/jwks.json", get(discovery::jwks))
        .route(
            "/authorize",
            get(interaction::authorize::get).post(interaction::authorize::post),
        )
        .route(
            "/login",
            get(interaction::login::page).post(interaction::login::submit),
        )
        .route(
            "/consent",
            get(interaction::consent::page).post(interaction::consent::submit),
        )
        .route("/token", post(token::handle))
        .route(
            "/register",
            post(register::handle).layer(DefaultBodyLimit::max(register::MAX_BODY)),
        )
        .route("/revoke", post(revoke::handle))
        .route(
            "/events",
            post(events::handle).layer(DefaultBodyLimit::max(events::MAX_BODY)),
        )
        .route("/introspect", post(introspect::handle))
        .route("/userinfo", get(userinfo::handle).post(userinfo::handle))
        .fallback(http::no_endpoint)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            http::cors,
        ))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state.clone());
    Router::new()
        .route("/healthz", get(health))
        .route("/metrics", get(metrics_endpoint))
        .nest_service(
            "/admin/api/v1",
            admin_api::router(state.clone()).layer(axum::middleware::from_fn_with_state(
                state.clone(),
                drop_caches_after_change,
            )),
        )
        .merge(
            dashboard::router().layer(axum::middleware::from_fn_with_state(
                state.clone(),
                drop_caches_after_change,
            )),
        )
        .fallback(move |State(s): State<AppState>, req: Request| {
            let routes = per_env.clone();
            async move { http::dispatch(s, routes, req).await }
        })
        .with_state(state)
}

/// Administration through this server (admin API, dashboard) takes effect at once: after a
/// request that may change something, the client and token caches are dropped rather than
/// at the next poll of the store's generation (which is how the CLI's and other nodes'
/// changes arrive).
async fn drop_caches_after_change(
    State(s): State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::Method;
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let resp = next.run(req).await;
    if changes {
        s.envs.drop_caches();
    }
    resp
}

async fn health(State(s): State<AppState>) -> axum::response::Response {
    use axum::response::IntoResponse;
    match s.store.ping().await {
        Ok(()) => (axum::http::StatusCode::OK, "ok").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: storage unavailable");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "storage unavailable",
            )
                .into_response()
        }
    }
}

async fn metrics_endpoint(
    State(s): State<AppState>,
    admin: Result<admin_api::Admin, admin_api::ApiError>,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    if let Err(e) = admin {
        return e.into_response();
    }
    let mut resp = s.metrics.render().into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    resp
}

/// Waits for every queued authentication log event to be written.
pub async fn flush_audit(state: &AppState) {
    state.audit.flush().await;
}
