//! `gatehouse-bench`: the pieces of the benchmark harness that `bench/run` drives.
//!
//! - `load`: the load driver every HTTP scenario uses (see `load.rs`);
//! - `ceiling`: the sign-one-ES256-JWT server (the issuance ceiling);
//! - `seed`: growth rows through the store API;
//! - `startup`: start-up to ready, and idle memory;
//! - `rss`: a memory snapshot of a running server;
//! - `token`: one authorization-code flow, printing the access token;
//! - `criterion`: criterion's medians into the results file;
//! - `report`: `BENCHMARKS.md` and the plots.

mod ceiling;
mod client;
mod flow;
mod load;
mod plot;
mod procstat;
mod report;
mod results;
mod seed;
mod startup;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "gatehouse-bench",
    about = "Gatehouse benchmark harness (driven by bench/run)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Drive one scenario against one target and append its record.
    Load(Box<load::LoadArgs>),
    /// Serve the sign-one-ES256-JWT ceiling.
    Ceiling {
        #[arg(long, default_value = "127.0.0.1:7400")]
        listen: String,
    },
    /// Add growth rows through the store API.
    Seed(seed::SeedArgs),
    /// Measure start-up to ready.
    Startup(startup::StartupArgs),
    /// One authorization-code flow; prints the access token.
    Token(Box<flow::TokenArgs>),
    /// Record the memory of a running process tree.
    Rss(load::RssArgs),
    /// Append criterion's medians to the results file.
    Criterion(report::CriterionArgs),
    /// Write BENCHMARKS.md and the plots.
    Report(report::ReportArgs),
}

fn main() {
    let result = match Cli::parse().command {
        Command::Load(a) => load::run(&a),
        Command::Ceiling { listen } => ceiling::serve(&listen),
        Command::Seed(a) => seed::run(&a),
        Command::Startup(a) => startup::run(&a),
        Command::Token(a) => flow::token(&a),
        Command::Rss(a) => load::rss(&a),
        Command::Criterion(a) => report::import_criterion(&a),
        Command::Report(a) => report::run(&a),
    };
    if let Err(e) = result {
        eprintln!("gatehouse-bench: {e:#}");
        std::process::exit(1);
    }
}
