//! Gateway routes: a [`GatewayRoute`] (from `gatehouse proxy` flags or a `[[gateway]]`
//! table) turned into a running [`Gateway`]; and the in-process routes of `gatehouse serve`,
//! which take the environment's keys from the server itself (no request to its own public
//! URL, which may not be reachable from its own host) and write their events to the
//! server's own authentication log.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, anyhow};
use gatehouse_gateway::{
    BatchingSink, BoxFuture, Deliver, Drain, EventSink, Gateway, GatewayConfig, GatewayEvent,
    GatewayOptions, Outcome, StdioCommand, Upstream,
};
use gatehouse_guard::GuardConfig;
use gatehouse_guard::verify::{JwksFuture, JwksSource};
use gatehouse_server::config::{GatewayRoute, StdioCommandLine};
use gatehouse_server::state::AppState;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

/// Events waiting to be written; beyond this they are dropped and counted.
const QUEUE: usize = 10_000;

/// The gateway configuration of `route`, trusting `issuer`; `default_scopes` is the PRM
/// `scopes_supported` when the route names none; `jwks` hands over the issuer's keys
/// in-process (else they are fetched from the issuer). Reports every problem at once.
pub(crate) fn gateway_config(
    route: &GatewayRoute,
    issuer: &str,
    default_scopes: Vec<String>,
    jwks: Option<Arc<dyn JwksSource>>,
) -> anyhow::Result<GatewayConfig> {
    let mut problems = Vec::new();
    let upstream = match (&route.upstream, &route.upstream_stdio) {
        (Some(url), _) => Some(Upstream::Http(url.clone())),
        (None, Some(StdioCommandLine::Line(line))) => StdioCommand::parse(line)
            .map(Upstream::Stdio)
            .map_err(|e| problems.push(format!("upstream_stdio: {e}")))
            .ok(),
        (None, Some(StdioCommandLine::Words(words))) => StdioCommand::from_argv(words.clone())
            .map(Upstream::Stdio)
            .map_err(|e| problems.push(format!("upstream_stdio: {e}")))
            .ok(),
        (None, None) => None,
    };
    let mut b = GuardConfig::builder(&route.resource, issuer)
        .scopes_supported(route.scopes_supported.clone().unwrap_or(default_scopes))
        .allowed_origins(route.allowed_origins.clone())
        .allow_loopback_origins(route.allow_loopback_origins);
    for (tool, scopes) in &route.tool_scopes {
        b = b.tool_scopes(tool, scopes.split_whitespace());
    }
    for (scope, implied) in &route.scope_implies {
        b = b.scope_implies(scope, implied.split_whitespace());
    }
    if let Some(jwks) = jwks {
        b = b.jwks_source(jwks);
    }
    let guard = b.build().map_err(|e| problems.extend(e.problems)).ok();
    let (Some(guard), Some(upstream)) = (guard, upstream) else {
        problems.extend(route.problems("gateway"));
        return Err(anyhow!(
            "invalid gateway configuration:\n  {}",
            problems.join("\n  ")
        ));
    };
    let config = GatewayConfig {
        guard,
        upstream,
        options: GatewayOptions {
            connect_timeout: Duration::from_millis(route.connect_timeout_ms),
            first_byte_timeout: Duration::from_millis(route.first_byte_timeout_ms),
            behind_proxy: route.behind_proxy,
            session_idle_timeout: Duration::from_secs(route.session_idle_timeout_secs),
            max_sessions_per_user: route.max_sessions_per_user,
            max_sessions: route.max_sessions,
            busy_poll: Duration::from_micros(route.busy_poll_us),
            ..GatewayOptions::default()
        },
    };
    config.validate().map_err(|e| {
        anyhow!(
            "invalid gateway configuration:\n  {}",
            e.problems.join("\n  ")
        )
    })?;
    Ok(config)
}

/// The scopes the tool map names: the proxy's default `scopes_supported`.
pub(crate) fn tool_scope_union(route: &GatewayRoute) -> Vec<String> {
    let all: BTreeSet<&str> = route
        .tool_scopes
        .values()
        .flat_map(|s| s.split_whitespace())
        .collect();
    all.into_iter().map(str::to_owned).collect()
}

/// A bound listener, TLS if the route has a certificate.
pub(crate) struct Bound {
    pub(crate) listener: TcpListener,
    pub(crate) tls: Option<TlsAcceptor>,
    /// `http(s)://<local address>`.
    pub(crate) url: String,
}

pub(crate) async fn bind(route: &GatewayRoute) -> anyhow::Result<Bound> {
    let tls = match (&route.tls_cert, &route.tls_key) {
        (Some(cert), Some(key)) => Some(gatehouse_gateway::tls::acceptor(cert, key)?),
        _ => None,
    };
    let listener = TcpListener::bind(&route.listen)
        .await
        .with_context(|| format!("listening on {}", route.listen))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr()?);
    Ok(Bound { listener, tls, url })
}

/// Starts the `[[gateway]]` routes of `gatehouse serve`; each stops when `stop` turns true,
/// after flushing its events into the log. Returns the tasks to await.
pub(crate) async fn start_in_process(
    state: &AppState,
    routes: &[GatewayRoute],
    stop: &watch::Receiver<bool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut tasks = Vec::new();
    for (i, route) in routes.iter().enumerate() {
        let snapshot = state.envs.snapshot();
        let env = snapshot
            .envs
            .iter()
            .find(|e| e.id() == route.env)
            .ok_or_else(|| anyhow!("gateway[{i}].env: no environment {:?}", route.env))?;
        let issuer = route.issuer.clone().unwrap_or_else(|| env.issuer.clone());
        if issuer != env.issuer {
            return Err(anyhow!(
                "gateway[{i}].issuer: {issuer:?} is not the issuer of environment {:?} ({})",
                route.env,
                env.issuer
            ));
        }
        let registered = env
            .resources
            .iter()
            .find(|r| r.record.uri == route.resource);
        if registered.is_none() {
            tracing::warn!(resource = %route.resource, env = %route.env, "gateway route for an MCP server that is not registered: register it with `gatehouse resource add`");
        }
        let scopes = registered
            .map(|r| r.scopes.iter().map(str::to_owned).collect())
            .unwrap_or_default();
        let jwks: Arc<dyn JwksSource> = Arc::new(EnvJwks {
            state: state.clone(),
            env: route.env.clone(),
        });
        let config = gateway_config(route, &issuer, scopes, Some(jwks))
            .with_context(|| format!("gateway[{i}]"))?;
        let deliver = Arc::new(LogDeliver {
            state: state.clone(),
            env: route.env.clone(),
        });
        let sink: Arc<dyn EventSink> = Arc::new(BatchingSink::spawn(deliver, QUEUE));
        let gateway = Gateway::new(config, sink)?;
        let bound = bind(route).await.with_context(|| format!("gateway[{i}]"))?;
        println!(
            "  gateway {} listening on {} → {}",
            gateway.resource(),
            bound.url,
            gateway.upstream()
        );
        let mut stop = stop.clone();
        let signal = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        tasks.push(tokio::spawn(gatehouse_gateway::serve(
            gateway,
            bound.listener,
            bound.tls,
            signal,
            Drain::default(),
        )));
    }
    Ok(tasks)
}

/// The published keys of an environment, as its `/jwks.json` serves them, straight from the
/// server's key ring.
struct EnvJwks {
    state: AppState,
    env: String,
}

impl JwksSource for EnvJwks {
    fn jwks(&self) -> JwksFuture<'_> {
        Box::pin(async move {
            let snapshot = self.state.envs.snapshot();
            let env = snapshot
                .envs
                .iter()
                .find(|e| e.id() == self.env)
                .ok_or_else(|| format!("environment {:?} no longer exists", self.env))?;
            let json = env.keys.jwks_json(self.state.now());
            Ok(json.as_bytes().to_vec())
        })
    }
}

/// Writes gateway events to the server's log, correlated with their authorizations.
struct LogDeliver {
    state: AppState,
    env: String,
}

impl Deliver for LogDeliver {
    fn deliver(&self, batch: Vec<GatewayEvent>) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let snapshot = self.state.envs.snapshot();
            let Some(env) = snapshot.envs.iter().find(|e| e.id() == self.env) else {
                return tracing::error!(env = %self.env, "gateway events for an environment that no longer exists");
            };
            for e in batch {
                let e = to_server_event(e);
                if let Err(err) =
                    gatehouse_server::events::record(&self.state, env, "gateway", e).await
                {
                    tracing::error!(error = ?err, "writing a gateway event failed");
                }
            }
        })
    }
}

fn to_server_event(e: GatewayEvent) -> gatehouse_server::events::GatewayEvent {
    gatehouse_server::events::GatewayEvent {
        at_ms: e.at_ms,
        resource: e.resource,
        outcome: match e.outcome {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
        }
        .to_owned(),
        status: e.status,
        error: e.error,
        detail: e.detail,
        method: e.method,
        tool: e.tool,
        client_id: e.client_id,
        sub: e.sub,
        sid: e.sid,
        jti: e.jti,
        ip: e.ip,
    }
}
