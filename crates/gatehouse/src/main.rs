//! `gatehouse`: the one binary. `serve` runs the authorization server on embedded SQLite,
//! or on a PostgreSQL database shared by several nodes (`--database-url`), and any gateway
//! routes of its configuration; `proxy` runs a gateway in front of one MCP
//! server; `demo-server` is a Todo MCP server to try it with; the admin subcommands change
//! the same database, also while the server runs.

mod admin_cmd;
mod cli;
mod demo_server;
mod gateway_routes;
mod proxy_cmd;
mod serve;
mod store_open;

use clap::Parser as _;

/// mimalloc instead of glibc's malloc: the tokio workers and the database threads allocate
/// and free on each other's behalf, and glibc's arenas made them wait on each other's locks
/// (see bench/analysis.md). Built without transparent huge pages (`no_thp`): with them, the
/// first allocations of each thread made resident whole 2 MiB pages (27 MB idle instead of 18).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The gateway's default worker threads: half the cores, at least one. Each proxied call
/// passes between three tasks (the client's connection, the handler, the upstream
/// connection), and fewer workers turn fewer of those hand-offs into cross-thread wake-ups:
/// on three two-core VMs one worker added less latency than two, or as little, with as much
/// throughput or more (bench/analysis.md); and a gateway leaves the other cores to the MCP
/// server beside it. `--threads` overrides it.
fn proxy_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    match cli.threads {
        Some(n) => {
            builder.worker_threads(n.get());
        }
        None if matches!(cli.command, cli::Command::Proxy(_)) => {
            builder.worker_threads(proxy_workers());
        }
        None => {}
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            cli::Command::Serve(args) => serve::run(args).await,
            cli::Command::Proxy(args) => proxy_cmd::run(*args).await,
            cli::Command::DemoServer(args) => demo_server::run(args).await,
            cli::Command::Admin(cmd) => admin_cmd::run(cmd).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
