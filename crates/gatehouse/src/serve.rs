//! `gatehouse serve`: the authorization server, and the gateway routes of its
//! configuration (`[[gateway]]`) in the same process.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context as _, anyhow};
use gatehouse_server::clock::SystemClock;
use gatehouse_server::config::Config;
use tokio::net::TcpListener;

use crate::cli::ServeArgs;

/// Merges defaults, the config file, environment variables and flags (clap already
/// merged the last two).
fn load_config(args: ServeArgs) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            Config::from_toml(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?
        }
        None => Config::default(),
    };
    if let Some(v) = args.listen {
        config.listen = v;
    }
    if let Some(v) = args.public_url {
        config.public_url = Some(v);
    }
    if let Some(v) = args.data_dir {
        config.data_dir = v;
    }
    if let Some(v) = args.database_url {
        config.database_url = Some(v);
    }
    if let Ok(v) = std::env::var("GATEHOUSE_DATABASE_POOL_SIZE") {
        config.database_pool_size = v
            .parse()
            .with_context(|| format!("GATEHOUSE_DATABASE_POOL_SIZE: {v:?} is not a number"))?;
    }
    if let Ok(v) = std::env::var("GATEHOUSE_LOG") {
        config.log = v;
    }
    Ok(config)
}

/// Runs the server until SIGINT or SIGTERM.
pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = load_config(args)?;
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&config.log).unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    config
        .validate()
        .map_err(|p| anyhow!("invalid configuration:\n  {}", p.join("\n  ")))?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let local = listener.local_addr()?;
    if config.public_url.is_none() {
        config.public_url = Some(format!("http://{local}"));
    }
    let public_url = config
        .validate()
        .map_err(|p| anyhow!("invalid configuration:\n  {}", p.join("\n  ")))?;
    let opened = crate::store_open::open_store(
        &config.data_dir,
        config.database_url.as_deref(),
        config.database_pool_size,
    )
    .await?;
    let (store, master, location) = (opened.store, opened.master, opened.location);
    let state = gatehouse_server::start(gatehouse_server::Options {
        store,
        master,
        public_url: public_url.clone(),
        limits: config.rate_limits.clone(),
        clock: Arc::new(SystemClock),
    })
    .await?;
    println!(
        "Gatehouse {} listening on {local} ({location})",
        env!("CARGO_PKG_VERSION")
    );
    for env in &state.envs.snapshot().envs {
        println!("  environment {:<12} issuer {}", env.id(), env.issuer);
    }
    println!(
        "  dashboard                {}/admin",
        public_url.as_str().trim_end_matches('/')
    );
    println!("  worker threads           {}", worker_threads());
    if let Some(link) = gatehouse_server::dashboard::setup_link(&state, public_url.as_str()).await?
    {
        println!("  no administrator yet: create the first one at {link}");
    }
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let gateways = crate::gateway_routes::start_in_process(&state, &config.gateway, &stop).await?;
    let app =
        gatehouse_server::router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();
    let mut server_stop = stop.clone();
    tokio::spawn(async move {
        shutdown().await;
        stop_tx.send_replace(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = server_stop.wait_for(|s| *s).await;
        })
        .await?;
    // The gateways flush their events into the log before the log itself is flushed.
    for g in gateways {
        let _ = g.await;
    }
    gatehouse_server::flush_audit(&state).await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        else {
            return ctrl_c.await.unwrap_or(());
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}

/// The async runtime's worker threads (`--threads`), as the runtime reports them.
pub(crate) fn worker_threads() -> usize {
    tokio::runtime::Handle::current().metrics().num_workers()
}
