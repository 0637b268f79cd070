//! `gatehouse proxy`: one gateway in front of one MCP server, reporting (optionally) to the
//! authorization server's `POST /events`.
//!
//! Settings come from `--config FILE` (the keys of a `[[gateway]]` route, at the top level),
//! then the flags, which win (lists are added to).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use clap::Args;
use gatehouse_gateway::{BatchingSink, Drain, EventSink, Gateway, NoEvents, RemoteReporter};
use gatehouse_server::config::{GatewayRoute, StdioCommandLine};

use crate::gateway_routes;

/// Events waiting to be sent; beyond this they are dropped and counted.
const QUEUE: usize = 10_000;

/// `gatehouse proxy`.
#[derive(Debug, Args)]
pub(crate) struct ProxyArgs {
    /// The authorization server's issuer, exactly as in its tokens' `iss`
    /// (e.g. http://127.0.0.1:8080, or https://auth.example.com/prod).
    #[arg(long)]
    issuer: Option<String>,
    /// The MCP server's resource identifier: the URL clients connect to, registered with
    /// `gatehouse resource add` (the tokens' `aud`).
    #[arg(long)]
    resource: Option<String>,
    /// A Streamable HTTP MCP server to proxy to (http://, a private link).
    #[arg(long, conflicts_with = "upstream_stdio")]
    upstream: Option<String>,
    /// A stdio MCP server, one process per MCP session: "program args…", split into words
    /// like a shell would, run without a shell.
    #[arg(long, value_name = "COMMAND")]
    upstream_stdio: Option<String>,
    /// Socket address to listen on [default: 127.0.0.1:8443].
    #[arg(long)]
    listen: Option<String>,
    /// PEM certificate chain: serve HTTPS (HTTP/1.1 and HTTP/2) on any port, 443 included.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Trust X-Forwarded-For/Forwarded (client address) and X-Forwarded-Proto (scheme):
    /// only behind a proxy that sets them.
    #[arg(long)]
    behind_proxy: bool,
    /// Scopes a tools/call of TOOL needs: TOOL=SCOPE (repeatable; several scopes
    /// space-separated). tools/list shows a token only the tools it may call.
    #[arg(long = "tool-scope", value_name = "TOOL=SCOPE", value_parser = pair)]
    tool_scopes: Vec<(String, String)>,
    /// A scope implies others: A=B (repeatable), e.g. todo:write=todo:read.
    #[arg(long = "scope-implies", value_name = "A=B", value_parser = pair)]
    scope_implies: Vec<(String, String)>,
    /// The metadata's scopes_supported, space-separated [default: the scopes of --tool-scope].
    #[arg(long, value_name = "\"A B\"")]
    scopes_supported: Option<String>,
    /// A browser origin allowed to call the MCP server (repeatable).
    #[arg(long = "allowed-origin", value_name = "ORIGIN")]
    allowed_origins: Vec<String>,
    /// Allow every http(s)://localhost, 127.0.0.1 and [::1] origin (MCP Inspector).
    #[arg(long)]
    allow_loopback_origins: bool,
    /// Report every request to <issuer>/events as this confidential client (registered with
    /// the gatehouse:events scope); its secret comes from GATEHOUSE_PROXY_CLIENT_SECRET or
    /// --report-client-secret-file.
    #[arg(long)]
    report_client_id: Option<String>,
    /// A file holding the reporting client's secret.
    #[arg(long)]
    report_client_secret_file: Option<PathBuf>,
    /// Longest wait for a connection to the HTTP upstream, seconds [default: 5].
    #[arg(long, value_name = "SECS")]
    connect_timeout: Option<f64>,
    /// Longest wait for the upstream's answer to start, seconds [default: 60]; an open
    /// event stream never times out.
    #[arg(long, value_name = "SECS")]
    first_byte_timeout: Option<f64>,
    /// Stdio sessions without requests for this long end, seconds [default: 1800].
    #[arg(long, value_name = "SECS")]
    session_idle_timeout: Option<u64>,
    /// Most stdio sessions (processes) per user [default: 8].
    #[arg(long)]
    max_sessions_per_user: Option<usize>,
    /// How long a connection keeps polling for its next event before its thread may
    /// sleep, microseconds; 0 never polls [default: 200].
    #[arg(long, value_name = "MICROS")]
    busy_poll: Option<u64>,
    /// TOML file with the keys of a [[gateway]] route (see docs/gateway.md).
    #[arg(long, env = "GATEHOUSE_PROXY_CONFIG")]
    config: Option<PathBuf>,
}

fn pair(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(a, b)| (a.trim().to_owned(), b.trim().to_owned()))
        .filter(|(a, b)| !a.is_empty() && !b.is_empty())
        .ok_or_else(|| format!("expected NAME=VALUE, got {s:?}"))
}

fn millis(secs: f64) -> u64 {
    (secs.max(0.0) * 1000.0).round() as u64
}

/// The route: the file, then the flags.
fn route(args: ProxyArgs) -> anyhow::Result<GatewayRoute> {
    let mut r = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            GatewayRoute::from_toml(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?
        }
        None => GatewayRoute::default(),
    };
    let set = |slot: &mut Option<String>, v: Option<String>| {
        if v.is_some() {
            *slot = v;
        }
    };
    set(&mut r.issuer, args.issuer);
    if let Some(v) = args.resource {
        r.resource = v;
    }
    if let Some(v) = args.listen {
        r.listen = v;
    }
    if let Some(u) = args.upstream {
        r.upstream = Some(u);
        r.upstream_stdio = None;
    }
    if let Some(c) = args.upstream_stdio {
        r.upstream_stdio = Some(StdioCommandLine::Line(c));
        r.upstream = None;
    }
    if args.tls_cert.is_some() {
        r.tls_cert = args.tls_cert;
        r.tls_key = args.tls_key;
    }
    r.behind_proxy |= args.behind_proxy;
    r.allow_loopback_origins |= args.allow_loopback_origins;
    r.tool_scopes.extend(args.tool_scopes);
    r.scope_implies.extend(args.scope_implies);
    r.allowed_origins.extend(args.allowed_origins);
    if let Some(s) = args.scopes_supported {
        r.scopes_supported = Some(s.split_whitespace().map(str::to_owned).collect());
    }
    set(&mut r.report_client_id, args.report_client_id);
    if args.report_client_secret_file.is_some() {
        r.report_client_secret_file = args.report_client_secret_file;
    }
    if let Some(s) = args.connect_timeout {
        r.connect_timeout_ms = millis(s);
    }
    if let Some(s) = args.first_byte_timeout {
        r.first_byte_timeout_ms = millis(s);
    }
    if let Some(s) = args.session_idle_timeout {
        r.session_idle_timeout_secs = s;
    }
    if let Some(us) = args.busy_poll {
        r.busy_poll_us = us;
    }
    if let Some(n) = args.max_sessions_per_user {
        r.max_sessions_per_user = n;
    }
    Ok(r)
}

/// The event sink: remote reports when a reporting client is configured.
fn sink(route: &GatewayRoute, issuer: &str) -> anyhow::Result<Arc<dyn EventSink>> {
    let Some(id) = &route.report_client_id else {
        return Ok(Arc::new(NoEvents));
    };
    let secret = match (
        &route.report_client_secret_file,
        std::env::var("GATEHOUSE_PROXY_CLIENT_SECRET"),
    ) {
        (Some(path), _) => std::fs::read_to_string(path)
            .with_context(|| format!("reading {}", path.display()))?
            .trim()
            .to_owned(),
        (None, Ok(s)) => s,
        (None, Err(_)) => {
            return Err(anyhow!(
                "--report-client-id needs the client's secret: set GATEHOUSE_PROXY_CLIENT_SECRET or --report-client-secret-file"
            ));
        }
    };
    let reporter = Arc::new(RemoteReporter::new(issuer, id, &secret));
    Ok(Arc::new(BatchingSink::spawn(reporter, QUEUE)))
}

/// Runs the gateway until Ctrl-C or SIGTERM; then open requests get a few seconds, stdio
/// sessions end and pending events are sent.
pub(crate) async fn run(args: ProxyArgs) -> anyhow::Result<()> {
    let route = route(args)?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(
                std::env::var("GATEHOUSE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut problems = route.problems("proxy");
    if route.issuer.is_none() {
        problems.push("proxy: --issuer is required".into());
    }
    if !problems.is_empty() {
        return Err(anyhow!(
            "invalid configuration:\n  {}",
            problems.join("\n  ")
        ));
    }
    let issuer = route.issuer.clone().unwrap_or_default();
    let config = gateway_routes::gateway_config(
        &route,
        &issuer,
        gateway_routes::tool_scope_union(&route),
        None,
    )?;
    let gateway = Gateway::new(config, sink(&route, &issuer)?)?;
    let bound = gateway_routes::bind(&route).await?;
    println!(
        "Gatehouse proxy listening on {} for {} (upstream {}, metadata {})",
        bound.url,
        gateway.resource(),
        gateway.upstream(),
        gateway.guard().resource_metadata_url()
    );
    println!("  worker threads {}", crate::serve::worker_threads());
    gatehouse_gateway::serve(
        gateway,
        bound.listener,
        bound.tls,
        crate::serve::shutdown(),
        Drain::default(),
    )
    .await;
    Ok(())
}
