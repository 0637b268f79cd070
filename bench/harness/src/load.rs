//! The load driver: `conns` simulated clients, each with one kept-alive HTTP/1.1 connection,
//! in a closed loop on a single-threaded runtime (like `wrk -t1 -cN`), a warm-up, then
//! several rounds. Per round: successful operations per second, p50/p99 latency, CPU seconds
//! of the processes under test per 1,000 operations; per scenario: peak RSS.
//!
//! Kinds of work:
//! - `request`: one fixed request (discovery, JWKS, client_credentials, introspection);
//! - `refresh`: each client owns a refresh-token chain and redeems its latest token;
//! - `authcode`: authorize (existing session, remembered consent) then the code exchange,
//!   with a fresh PKCE pair per flow; one operation is the whole flow;
//! - `mcp`: MCP `tools/list` on a session of its own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use aws_lc_rs::rand::SystemRandom;
use bytes::Bytes;
use clap::{Args, ValueEnum};
use http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use http::{HeaderName, HeaderValue, Method};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::client::{Client, Origin, basic};
use crate::flow::{self, FlowConfig, Jar};
use crate::procstat;
use crate::results;

/// The kind of work one operation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum Kind {
    Request,
    Refresh,
    Authcode,
    Mcp,
}

/// `gatehouse-bench load`.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// Scenario name in the report (cc, refresh, authcode, discovery, jwks, introspection, gateway, …).
    #[arg(long)]
    scenario: String,
    /// Target name in the report (gatehouse-sqlite, oidc-provider, ceiling, …).
    #[arg(long)]
    target: String,
    #[arg(long, value_enum, default_value = "request")]
    kind: Kind,
    /// The request URL (`request`), the token URL (`refresh`), the authorization endpoint
    /// (`authcode`, and `refresh` to start its chains) or the MCP endpoint (`mcp`).
    #[arg(long)]
    url: String,
    #[arg(long, default_value = "GET")]
    method: String,
    /// A request header `Name: value` (repeatable).
    #[arg(long = "header")]
    headers: Vec<String>,
    /// The request body (`request`).
    #[arg(long)]
    body: Option<String>,
    /// The status a successful `request` gets.
    #[arg(long, default_value_t = 200)]
    expect: u16,
    /// Token endpoint (`authcode`, `refresh`).
    #[arg(long)]
    token_url: Option<String>,
    /// Authorization endpoint (`refresh`: where its chains start).
    #[arg(long)]
    authorize_url: Option<String>,
    /// Register a public client here first (RFC 7591) and use it.
    #[arg(long)]
    register_url: Option<String>,
    /// `application_type` of that registration.
    #[arg(long, default_value = "native")]
    app_type: String,
    #[arg(long)]
    client_id: Option<String>,
    #[arg(long)]
    client_secret: Option<String>,
    #[arg(long, default_value = "http://127.0.0.1:9999/cb")]
    redirect_uri: String,
    #[arg(long, default_value = "mcp:tools")]
    scope: String,
    #[arg(long)]
    resource: Option<String>,
    #[arg(long, default_value = "alice@example.com")]
    user: String,
    #[arg(long, default_value = "bench-password-1")]
    password: String,
    /// Bearer token for `mcp`.
    #[arg(long)]
    bearer: Option<String>,
    /// Concurrent connections (simulated clients).
    #[arg(long, default_value_t = 16)]
    conns: usize,
    /// Warm-up seconds (not recorded).
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// Recorded rounds.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Seconds per round.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Root pid of a process under test (repeatable; descendants included).
    #[arg(long)]
    pid: Vec<u32>,
    /// Root pid of a database server the target uses, e.g. PostgreSQL's postmaster
    /// (repeatable; descendants alive when a round starts): its CPU is recorded apart, as
    /// `db_cpu_s_per_1k`.
    #[arg(long)]
    db_pid: Vec<u32>,
    /// Results file (JSON lines, appended).
    #[arg(long)]
    out: PathBuf,
    /// A note for the report.
    #[arg(long)]
    note: Option<String>,
}

/// One simulated client.
struct Worker {
    client: Client,
    job: Job,
    rng: SystemRandom,
}

enum Job {
    Fixed(Arc<Fixed>),
    Refresh {
        cfg: Arc<FlowConfig>,
        auth: Option<HeaderValue>,
        cookie: Arc<String>,
        token: String,
    },
    AuthCode {
        cfg: Arc<FlowConfig>,
        cookie: Arc<String>,
    },
    Mcp {
        path: String,
        headers: Vec<(HeaderName, HeaderValue)>,
    },
}

struct Fixed {
    method: Method,
    path: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    expect: u16,
}

impl Worker {
    async fn step(&mut self) -> Result<()> {
        match &mut self.job {
            Job::Fixed(f) => {
                let req =
                    self.client
                        .request(f.method.clone(), &f.path, &f.headers, f.body.clone())?;
                let reply = self.client.send(req).await?;
                if reply.status.as_u16() != f.expect {
                    bail!("{} {}", reply.status, flow::snippet(&reply.text()));
                }
                Ok(())
            }
            Job::AuthCode { cfg, cookie } => {
                let (code, verifier) =
                    flow::silent_code(&mut self.client, cfg, cookie, &self.rng).await?;
                flow::exchange(&mut self.client, cfg, &code, &verifier).await?;
                Ok(())
            }
            Job::Refresh {
                cfg,
                auth,
                cookie,
                token,
            } => {
                let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", token)];
                let mut extra = Vec::new();
                match auth {
                    Some(a) => extra.push((AUTHORIZATION, a.clone())),
                    None => form.push(("client_id", cfg.client_id.as_str())),
                }
                let reply = self.client.post_form(&cfg.token_url, &form, &extra).await?;
                match flow::token_json(&reply).and_then(|v| next_refresh(&v)) {
                    Ok(next) => {
                        *token = next;
                        Ok(())
                    }
                    Err(e) => {
                        // Start a new chain so the load goes on; the failure still counts.
                        *token = new_chain(&mut self.client, cfg, cookie, &self.rng).await?;
                        Err(e)
                    }
                }
            }
            Job::Mcp { path, headers } => {
                let body = Bytes::from_static(br#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#);
                let req = self.client.request(Method::POST, path, headers, body)?;
                let reply = self.client.send(req).await?;
                if !reply.status.is_success() {
                    bail!("{} {}", reply.status, flow::snippet(&reply.text()));
                }
                if !reply.body.windows(7).any(|w| w == b"\"tools\"") {
                    bail!(
                        "tools/list answered without tools: {}",
                        flow::snippet(&reply.text())
                    );
                }
                Ok(())
            }
        }
    }
}

fn next_refresh(v: &Value) -> Result<String> {
    v.get("refresh_token")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("refresh response without a new refresh_token (no rotation)")
}

async fn new_chain(
    client: &mut Client,
    cfg: &FlowConfig,
    cookie: &str,
    rng: &SystemRandom,
) -> Result<String> {
    let (code, verifier) = flow::silent_code(client, cfg, cookie, rng).await?;
    let v = flow::exchange(client, cfg, &code, &verifier).await?;
    next_refresh(&v)
}

fn parse_header(h: &str) -> Result<(HeaderName, HeaderValue)> {
    let (k, v) = h.split_once(':').context("header must be `Name: value`")?;
    Ok((
        HeaderName::from_bytes(k.trim().as_bytes())?,
        HeaderValue::from_str(v.trim())?,
    ))
}

/// The statistics of one round.
#[derive(Debug, Default)]
struct Round {
    ok: u64,
    errors: u64,
    secs: f64,
    latencies_us: Vec<u32>,
    cpu_s: f64,
    db_cpu_s: f64,
    first_error: Option<String>,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

/// Runs every worker until `dur` has passed; returns them with what they did.
async fn phase(
    workers: Vec<Worker>,
    dur: Duration,
    pids: &[u32],
    db_roots: &[u32],
) -> (Vec<Worker>, Round) {
    // A database server starts processes as connections come (PostgreSQL's backends).
    let db_pids: Vec<u32> = db_roots.iter().flat_map(|p| procstat::tree(*p)).collect();
    let db0 = procstat::cpu_seconds(&db_pids);
    let cpu0 = procstat::cpu_seconds(pids);
    let start = Instant::now();
    let deadline = start + dur;
    let mut set = JoinSet::new();
    for mut w in workers {
        set.spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let (mut errors, mut first) = (0u64, None);
            while Instant::now() < deadline {
                let t0 = Instant::now();
                match w.step().await {
                    Ok(()) => lat.push(t0.elapsed().as_micros().min(u128::from(u32::MAX)) as u32),
                    Err(e) => {
                        errors += 1;
                        if first.is_none() {
                            first = Some(format!("{e:#}"));
                        }
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
            (w, lat, errors, first)
        });
    }
    let mut round = Round::default();
    let mut back = Vec::new();
    while let Some(done) = set.join_next().await {
        let Ok((w, lat, errors, first)) = done else {
            continue;
        };
        back.push(w);
        round.ok += lat.len() as u64;
        round.latencies_us.extend(lat);
        round.errors += errors;
        if round.first_error.is_none() {
            round.first_error = first;
        }
    }
    round.secs = start.elapsed().as_secs_f64();
    round.cpu_s = procstat::cpu_seconds(pids) - cpu0;
    round.db_cpu_s = procstat::cpu_seconds(&db_pids) - db0;
    round.latencies_us.sort_unstable();
    (back, round)
}

fn flow_config(a: &LoadArgs, client_id: String, authorize_url: &str) -> Result<FlowConfig> {
    Ok(FlowConfig {
        authorize_url: authorize_url.to_owned(),
        token_url: a.token_url.clone().context("--token-url is required")?,
        client_id,
        client_secret: a.client_secret.clone(),
        redirect_uri: a.redirect_uri.clone(),
        scope: a.scope.clone(),
        resource: a.resource.clone(),
        user: a.user.clone(),
        password: a.password.clone(),
    })
}

/// Logs in once (the session every flow then reuses) and gives consent; returns the flow
/// configuration and the browser's cookies.
async fn sign_in(
    a: &LoadArgs,
    origin: &Arc<Origin>,
    authorize_url: &str,
) -> Result<(Arc<FlowConfig>, Arc<String>)> {
    let mut c = Client::new(origin.clone());
    let client_id = match (&a.register_url, &a.client_id) {
        (Some(reg), _) => {
            let mut rc = Client::new(Origin::of(reg)?);
            flow::register(&mut rc, reg, &a.redirect_uri, &a.scope, &a.app_type).await?
        }
        (None, Some(id)) => id.clone(),
        (None, None) => bail!("--client-id or --register-url is required"),
    };
    let cfg = Arc::new(flow_config(a, client_id, authorize_url)?);
    let mut jar = Jar::default();
    let rng = SystemRandom::new();
    let (code, verifier) = flow::interactive_code(&mut c, &cfg, &mut jar, &rng)
        .await
        .context("first sign-in and consent")?;
    let mut tc = Client::new(Origin::of(&cfg.token_url)?);
    flow::exchange(&mut tc, &cfg, &code, &verifier).await?;
    Ok((cfg, Arc::new(jar.header())))
}

/// MCP `initialize` and `notifications/initialized`; returns the headers of later calls.
async fn mcp_session(
    client: &mut Client,
    path: &str,
    base: &[(HeaderName, HeaderValue)],
) -> Result<Vec<(HeaderName, HeaderValue)>> {
    let init = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": { "name": "gatehouse-bench", "version": "0" }
        }
    });
    let reply = client.post_json(path, &init, base).await?;
    if !reply.status.is_success() {
        bail!(
            "initialize: {} {}",
            reply.status,
            flow::snippet(&reply.text())
        );
    }
    let mut headers = base.to_vec();
    if let Some(sid) = reply.header("mcp-session-id") {
        headers.push((
            HeaderName::from_static("mcp-session-id"),
            HeaderValue::from_str(sid)?,
        ));
    }
    headers.push((
        HeaderName::from_static("mcp-protocol-version"),
        HeaderValue::from_static("2025-06-18"),
    ));
    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    let reply = client.post_json(path, &note, &headers).await?;
    if !reply.status.is_success() {
        bail!(
            "initialized: {} {}",
            reply.status,
            flow::snippet(&reply.text())
        );
    }
    headers.push((CONTENT_TYPE, HeaderValue::from_static("application/json")));
    Ok(headers)
}

async fn workers(a: &LoadArgs) -> Result<Vec<Worker>> {
    let origin = Origin::of(&a.url)?;
    let mut out = Vec::with_capacity(a.conns);
    match a.kind {
        Kind::Request => {
            let mut headers = a
                .headers
                .iter()
                .map(|h| parse_header(h))
                .collect::<Result<Vec<_>>>()?;
            if a.body.is_some() && !headers.iter().any(|(k, _)| k == CONTENT_TYPE) {
                headers.push((
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                ));
            }
            let fixed = Arc::new(Fixed {
                method: Method::from_bytes(a.method.as_bytes())?,
                path: a.url.clone(),
                headers,
                body: Bytes::from(a.body.clone().unwrap_or_default()),
                expect: a.expect,
            });
            for _ in 0..a.conns {
                out.push(Job::Fixed(fixed.clone()));
            }
        }
        Kind::Authcode => {
            let (cfg, cookie) = sign_in(a, &origin, &a.url).await?;
            for _ in 0..a.conns {
                out.push(Job::AuthCode {
                    cfg: cfg.clone(),
                    cookie: cookie.clone(),
                });
            }
        }
        Kind::Refresh => {
            let authorize = a
                .authorize_url
                .clone()
                .context("--authorize-url is required")?;
            let (cfg, cookie) = sign_in(a, &Origin::of(&authorize)?, &authorize).await?;
            let auth = match &cfg.client_secret {
                Some(s) => Some(basic(&cfg.client_id, s)?),
                None => None,
            };
            let mut c = Client::new(Origin::of(&authorize)?);
            let rng = SystemRandom::new();
            for _ in 0..a.conns {
                let token = new_chain(&mut c, &cfg, &cookie, &rng).await?;
                out.push(Job::Refresh {
                    cfg: cfg.clone(),
                    auth: auth.clone(),
                    cookie: cookie.clone(),
                    token,
                });
            }
        }
        Kind::Mcp => {
            let mut base = vec![(
                ACCEPT,
                HeaderValue::from_static("application/json, text/event-stream"),
            )];
            if let Some(t) = &a.bearer {
                base.push((
                    AUTHORIZATION,
                    HeaderValue::from_str(&format!("Bearer {t}"))?,
                ));
            }
            for _ in 0..a.conns {
                let mut c = Client::new(origin.clone());
                let headers = mcp_session(&mut c, &a.url, &base).await?;
                out.push(Job::Mcp {
                    path: a.url.clone(),
                    headers,
                });
            }
        }
    }
    let mut ws = Vec::with_capacity(out.len());
    for job in out {
        let mut client = Client::new(origin.clone());
        client.open().await?;
        ws.push(Worker {
            client,
            job,
            rng: SystemRandom::new(),
        });
    }
    Ok(ws)
}

/// Runs one scenario against one target and appends its record to `--out`.
pub(crate) fn run(a: &LoadArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(run_async(a))
}

async fn run_async(a: &LoadArgs) -> Result<()> {
    let load0 = procstat::loadavg();
    let mut ws = workers(a)
        .await
        .with_context(|| format!("{} / {}: setting up", a.scenario, a.target))?;
    let pids: Vec<u32> = a.pid.iter().flat_map(|p| procstat::tree(*p)).collect();
    if a.warmup > 0.0 {
        let (back, warm) = phase(ws, Duration::from_secs_f64(a.warmup), &pids, &a.db_pid).await;
        ws = back;
        if warm.ok == 0 {
            bail!(
                "{} / {}: nothing succeeded during warm-up: {}",
                a.scenario,
                a.target,
                warm.first_error.unwrap_or_default()
            );
        }
    }
    procstat::reset_peak(&pids);
    let mut rounds = Vec::new();
    for _ in 0..a.rounds {
        let (back, r) = phase(ws, Duration::from_secs_f64(a.secs), &pids, &a.db_pid).await;
        ws = back;
        rounds.push(r);
    }
    let peak_kb = procstat::peak_rss_kb(&pids);
    let connects: u64 = ws.iter().map(|w| w.client.connects).sum();
    let per_round: Vec<Value> = rounds
        .iter()
        .map(|r| {
            json!({
                "ok": r.ok,
                "errors": r.errors,
                "secs": r.secs,
                "rps": r.ok as f64 / r.secs,
                "p50_ms": percentile(&r.latencies_us, 0.50),
                "p99_ms": percentile(&r.latencies_us, 0.99),
                "cpu_s": r.cpu_s,
                "cpu_s_per_1k": if r.ok > 0 && !pids.is_empty() { r.cpu_s * 1000.0 / r.ok as f64 } else { f64::NAN },
                "db_cpu_s_per_1k": if r.ok > 0 && !a.db_pid.is_empty() { r.db_cpu_s * 1000.0 / r.ok as f64 } else { f64::NAN },
            })
        })
        .collect();
    let field = |k: &str| results::median(per_round.iter().filter_map(|r| r[k].as_f64()).collect());
    let errors: u64 = rounds.iter().map(|r| r.errors).sum();
    let record = json!({
        "type": "load",
        "scenario": a.scenario,
        "target": a.target,
        "kind": format!("{:?}", a.kind).to_lowercase(),
        "conns": a.conns,
        "warmup_s": a.warmup,
        "round_s": a.secs,
        "rounds": per_round,
        "rps": field("rps"),
        "p50_ms": field("p50_ms"),
        "p99_ms": field("p99_ms"),
        "cpu_s_per_1k": field("cpu_s_per_1k"),
        "db_cpu_s_per_1k": field("db_cpu_s_per_1k"),
        "peak_rss_mb": if pids.is_empty() { f64::NAN } else { peak_kb as f64 / 1024.0 },
        "errors": errors,
        "first_error": rounds.iter().find_map(|r| r.first_error.clone()),
        "reconnects": connects.saturating_sub(ws.len() as u64),
        "loadavg_start": load0,
        "loadavg_end": procstat::loadavg(),
        "note": a.note,
        "pids": pids,
    });
    eprintln!(
        "  {:<14} {:<28} {:>9.0} ops/s  p50 {:>7.3} ms  p99 {:>7.3} ms  cpu {:>6.3} s/1k  rss {:>6.1} MB  errors {}{}{}",
        a.scenario,
        a.target,
        record["rps"].as_f64().unwrap_or(f64::NAN),
        record["p50_ms"].as_f64().unwrap_or(f64::NAN),
        record["p99_ms"].as_f64().unwrap_or(f64::NAN),
        record["cpu_s_per_1k"].as_f64().unwrap_or(f64::NAN),
        record["peak_rss_mb"].as_f64().unwrap_or(f64::NAN),
        errors,
        record["db_cpu_s_per_1k"]
            .as_f64()
            .map(|c| format!("  database cpu {c:.3} s/1k"))
            .unwrap_or_default(),
        record["first_error"]
            .as_str()
            .map(|e| format!(" (first: {})", flow::snippet(e)))
            .unwrap_or_default(),
    );
    results::append(&a.out, &record)
}

/// `gatehouse-bench rss`: records the current and peak RSS of a process tree.
#[derive(Debug, Args)]
pub(crate) struct RssArgs {
    #[arg(long)]
    scenario: String,
    #[arg(long)]
    target: String,
    #[arg(long)]
    pid: u32,
    #[arg(long)]
    out: PathBuf,
    #[arg(long)]
    note: Option<String>,
}

pub(crate) fn rss(a: &RssArgs) -> Result<()> {
    let pids = procstat::tree(a.pid);
    let rec = json!({
        "type": "rss",
        "scenario": a.scenario,
        "target": a.target,
        "rss_mb": procstat::rss_kb(&pids) as f64 / 1024.0,
        "peak_rss_mb": procstat::peak_rss_kb(&pids) as f64 / 1024.0,
        "note": a.note,
        "loadavg_end": procstat::loadavg(),
    });
    eprintln!(
        "  {:<14} {:<28} rss {:.1} MB (peak {:.1} MB)",
        a.scenario,
        a.target,
        rec["rss_mb"].as_f64().unwrap_or_default(),
        rec["peak_rss_mb"].as_f64().unwrap_or_default()
    );
    results::append(&a.out, &rec)
}
