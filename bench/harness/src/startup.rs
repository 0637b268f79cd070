//! Start-up to ready: spawn the server, poll a URL every millisecond until it answers 200,
//! stop the server; repeat. The last run also records the idle resident set size after a
//! pause.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::json;

use crate::client::Origin;
use crate::{procstat, results};

/// `gatehouse-bench startup`.
#[derive(Debug, Args)]
pub(crate) struct StartupArgs {
    #[arg(long)]
    scenario: String,
    #[arg(long)]
    target: String,
    /// The URL that answers 200 once the server is ready.
    #[arg(long)]
    url: String,
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// A directory to empty before each run (start on an empty data directory).
    #[arg(long)]
    clean: Option<PathBuf>,
    /// Seconds to wait after the last start before reading the idle RSS.
    #[arg(long, default_value_t = 2.0)]
    idle_secs: f64,
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    note: Option<String>,
    /// The server command line.
    #[arg(last = true, required = true)]
    cmd: Vec<String>,
}

fn ready(origin: &Origin, path: &str) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&origin.addr, Duration::from_millis(50)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let host = origin.host.to_str().unwrap_or_default();
    if write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).is_ok() && buf.starts_with(b"HTTP/1.1 200")
}

fn stop(mut child: Child) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}

pub(crate) fn run(a: &StartupArgs) -> Result<()> {
    let origin = Origin::of(&a.url)?;
    let u = url::Url::parse(&a.url)?;
    let path = match u.query() {
        Some(q) => format!("{}?{q}", u.path()),
        None => u.path().to_owned(),
    };
    let mut times = Vec::new();
    let (mut idle_rss, mut idle_peak) = (f64::NAN, f64::NAN);
    for i in 0..a.runs {
        if ready(&origin, &path) {
            bail!("{} already answers before the server starts", a.url);
        }
        if let Some(dir) = &a.clean {
            let _ = std::fs::remove_dir_all(dir);
            std::fs::create_dir_all(dir)?;
        }
        let t0 = Instant::now();
        let child = Command::new(&a.cmd[0])
            .args(&a.cmd[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", a.cmd[0]))?;
        let deadline = t0 + Duration::from_secs(20);
        while !ready(&origin, &path) {
            if Instant::now() > deadline {
                stop(child);
                bail!("{} did not become ready in 20 s", a.cmd[0]);
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
        if i + 1 == a.runs {
            std::thread::sleep(Duration::from_secs_f64(a.idle_secs));
            let pids = procstat::tree(child.id());
            idle_rss = procstat::rss_kb(&pids) as f64 / 1024.0;
            idle_peak = procstat::peak_rss_kb(&pids) as f64 / 1024.0;
        }
        stop(child);
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut sorted = times.clone();
    sorted.sort_by(f64::total_cmp);
    let median = sorted[sorted.len() / 2];
    let rec = json!({
        "type": "startup",
        "scenario": a.scenario,
        "target": a.target,
        "runs_ms": times,
        "median_ms": median,
        "min_ms": sorted[0],
        "max_ms": sorted[sorted.len() - 1],
        "idle_rss_mb": idle_rss,
        "idle_peak_rss_mb": idle_peak,
        "note": a.note,
        "loadavg_end": procstat::loadavg(),
    });
    eprintln!(
        "  {:<14} {:<28} ready in {median:.1} ms (median of {}, min {:.1}, max {:.1}); idle RSS {idle_rss:.1} MB",
        a.scenario,
        a.target,
        times.len(),
        sorted[0],
        sorted[sorted.len() - 1]
    );
    results::append(&a.out, &rec)
}
