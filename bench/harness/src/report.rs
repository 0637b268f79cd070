//! `BENCHMARKS.md` and one PNG per scenario, from the results file, the machine description
//! `bench/run` wrote, and criterion's estimates.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;

use crate::{plot, results};

/// `gatehouse-bench report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    #[arg(long)]
    results: PathBuf,
    /// The machine and run description (JSON) bench/run wrote.
    #[arg(long)]
    machine: PathBuf,
    /// Criterion's output directory (`$CARGO_TARGET_DIR/criterion`).
    #[arg(long)]
    criterion: Option<PathBuf>,
    /// Where the PNGs go.
    #[arg(long)]
    plots: PathBuf,
    /// The markdown file to write.
    #[arg(long)]
    out: PathBuf,
    /// Markdown appended at the end (the analysis of missed targets, written by hand).
    #[arg(long)]
    appendix: Option<PathBuf>,
}

/// Scenario ids in report order, with their titles.
const SCENARIOS: &[(&str, &str)] = &[
    ("cc", "client_credentials token, JWT ES256"),
    ("refresh", "Refresh with rotation and reuse detection"),
    (
        "authcode",
        "Authorization code flow with an existing session (authorize + remembered consent + code exchange), DCR client",
    ),
    ("discovery", "Discovery document"),
    ("jwks", "JWKS document"),
    ("introspection", "Introspection of an access token"),
    ("gateway", "Gateway: authenticated MCP tools/list"),
    (
        "gateway-1conn",
        "Gateway at one connection (latency without queueing)",
    ),
    (
        "memory",
        "1,000 concurrent connections (client_credentials)",
    ),
    (
        "growth",
        "Growth: 1k → 1M stored clients, tokens and log rows (SQLite)",
    ),
];

struct Data {
    records: Vec<Value>,
}

impl Data {
    fn loads(&self, scenario: &str) -> Vec<&Value> {
        self.records
            .iter()
            .filter(|r| r["type"] == "load" && r["scenario"] == scenario)
            .collect()
    }

    fn load(&self, scenario: &str, target: &str) -> Option<&Value> {
        self.records
            .iter()
            .rev()
            .find(|r| r["type"] == "load" && r["scenario"] == scenario && r["target"] == target)
    }

    fn rps(&self, scenario: &str, target: &str) -> Option<f64> {
        self.load(scenario, target)
            .and_then(|r| r["rps"].as_f64())
            .filter(|v| v.is_finite() && *v > 0.0)
    }

    fn of_type(&self, t: &str) -> Vec<&Value> {
        self.records.iter().filter(|r| r["type"] == t).collect()
    }

    /// `key` of each round of a target, in the order the rounds ran.
    fn per_round(&self, scenario: &str, target: &str, key: &str) -> Option<Vec<f64>> {
        let r = self.load(scenario, target)?;
        let v: Option<Vec<f64>> = r["rounds"]
            .as_array()?
            .iter()
            .map(|x| num(&x[key]))
            .collect();
        v.filter(|v| !v.is_empty())
    }

    /// `ours` against `theirs` in `key` through `f` (a ratio, a difference). Round by round
    /// when both targets ran the same number of rounds: the rounds of a scenario take turns
    /// (each round runs every target once, in the same minutes), so a round's pair saw the
    /// same machine, and a slowdown of a few seconds spoils one pair instead of tilting one
    /// side's median; the median of the per-round values decides. Otherwise `f` of the two
    /// medians, with no rounds. `None` when a figure is missing or the result not finite.
    fn compare(
        &self,
        scenario: &str,
        ours: &str,
        theirs: &str,
        key: &str,
        f: fn(f64, f64) -> f64,
    ) -> Option<Paired> {
        let rounds = |t| self.per_round(scenario, t, key);
        let p = match (rounds(ours), rounds(theirs)) {
            (Some(a), Some(b)) if a.len() == b.len() => {
                let rounds: Vec<f64> = a.iter().zip(&b).map(|(&a, &b)| f(a, b)).collect();
                Paired {
                    median: results::median(rounds.clone()),
                    rounds,
                }
            }
            _ => {
                let med = |t| self.load(scenario, t).and_then(|r| num(&r[key]));
                Paired {
                    median: f(med(ours)?, med(theirs)?),
                    rounds: Vec::new(),
                }
            }
        };
        p.median.is_finite().then_some(p)
    }

    /// `ours / theirs` in throughput ([`Data::compare`]).
    fn rps_ratio(&self, scenario: &str, ours: &str, theirs: &str) -> Option<Paired> {
        self.compare(scenario, ours, theirs, "rps", |a, b| a / b)
    }
}

/// A comparison of two targets: the median of the per-round values (none when the targets
/// could not be paired by round, and `median` compares their medians).
struct Paired {
    median: f64,
    rounds: Vec<f64>,
}

impl Paired {
    /// The per-round values, e.g. `83.6% / 65.1% / 70.9%` (`scale` 100, `unit` "%").
    fn rounds_text(&self, scale: f64, digits: usize, unit: &str) -> String {
        let v: Vec<String> = self
            .rounds
            .iter()
            .map(|x| format!("{:.digits$}{unit}", x * scale))
            .collect();
        v.join(" / ")
    }

    /// Whether there is more than one round to show.
    fn has_rounds(&self) -> bool {
        self.rounds.len() > 1
    }
}

fn num(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

fn fmt_n(v: Option<f64>, digits: usize) -> String {
    match v {
        Some(x) if digits == 0 => group(x.round() as i64),
        Some(x) => format!("{x:.digits$}"),
        None => "–".into(),
    }
}

fn group(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// One line of the targets table.
struct Verdict {
    scenario: String,
    target: String,
    measured: String,
    met: Option<bool>,
    /// For a missed target: why this machine (or the peer) puts it out of reach, from
    /// figures of the same run; `None` when those figures do not show it.
    reach: Option<String>,
}

impl Verdict {
    fn verdict(&self) -> &'static str {
        match (self.met, &self.reach) {
            (Some(true), _) => "**met**",
            (Some(false), Some(_)) => "**missed: out of reach here** (below)",
            (Some(false), None) => "**missed**",
            (None, _) => "not measured",
        }
    }

    /// Sets `reach` on a missed target.
    fn unless(&mut self, reach: Option<String>) {
        if self.met == Some(false) {
            self.reach = reach;
        }
    }
}

/// A throughput ratio target: `ours / theirs ≥ goal` in one scenario.
struct Ratio<'a> {
    scenario: &'a str,
    title: &'a str,
    ours: &'a str,
    theirs: &'a str,
    goal: f64,
    goal_text: &'a str,
}

fn ratio_check(d: &Data, out: &mut Vec<Verdict>, r: &Ratio<'_>) {
    let Ratio {
        scenario,
        title,
        ours,
        theirs,
        goal,
        goal_text,
    } = *r;
    let (a, b) = (d.rps(scenario, ours), d.rps(scenario, theirs));
    // A share of a ceiling reads as a percentage, a multiple of a peer as a factor.
    let (scale, digits, unit) = if goal < 1.0 {
        (100.0, 1, "%")
    } else {
        (1.0, 1, "×")
    };
    let ratio = d.rps_ratio(scenario, ours, theirs);
    let measured = match (a, b, &ratio) {
        (Some(a), Some(b), Some(p)) if p.has_rounds() => format!(
            "{:.digits$}{unit} (rounds {}; medians {} vs {} ops/s = {:.digits$}{unit})",
            p.median * scale,
            p.rounds_text(scale, digits, unit),
            group(a as i64),
            group(b as i64),
            a / b * scale
        ),
        (Some(a), Some(b), _) => format!(
            "{} vs {} ops/s = {:.digits$}{unit}",
            group(a as i64),
            group(b as i64),
            a / b * scale
        ),
        _ => format!("{ours}: {}, {theirs}: {}", fmt_n(a, 0), fmt_n(b, 0)),
    };
    out.push(Verdict {
        scenario: title.into(),
        target: goal_text.into(),
        measured,
        met: ratio.map(|r| r.median >= goal),
        reach: None,
    });
}

const CEILING: &str = "ceiling (sign one JWT)";
const DOCUMENT_CEILING: &str = "ceiling (static document)";
const RELAY: &str = "tcp relay (socat) → demo-server";
const GATEWAY: &str = "gatehouse-gateway → demo-server";
const DIRECT: &str = "demo-server direct";

/// µs of p50 latency that `target` adds to the upstream served directly: the median of the
/// rounds' differences ([`Data::compare`]).
fn added_p50(d: &Data, scenario: &str, target: &str) -> Option<f64> {
    let added = d.compare(scenario, target, DIRECT, "p50_ms", |t, direct| t - direct)?;
    Some(added.median * 1000.0)
}

/// client_credentials at 10× the peer: out of reach when the sign-one-JWT ceiling itself
/// (no database, no client authentication) is below 10× the peer.
fn reach_cc(d: &Data) -> Option<String> {
    let ceiling = d.rps("cc", CEILING)?;
    let p = d.rps_ratio("cc", CEILING, "oidc-provider")?;
    let ratio = p.median;
    let rounds = if p.has_rounds() {
        format!("rounds {}; ", p.rounds_text(1.0, 1, "×"))
    } else {
        String::new()
    };
    (ratio < 10.0).then(|| {
        format!(
            "the bare sign-one-JWT ceiling itself did {ratio:.1}× oidc-provider ({rounds}median {} ops/s): \
             10× is more than signing one ES256 JWT per request allows here, whatever else the \
             server does. The nearest honest figure is the share of that ceiling (the next line).",
            group(ceiling as i64),
        )
    })
}

/// A request rate target (discovery, JWKS, introspection): out of reach when a bare handler
/// answering a fixed document from memory, measured in the same rounds of the same scenario,
/// is itself below it.
fn reach_requests(d: &Data, scenario: &str, goal: f64) -> Option<String> {
    let (ceiling, ours) = (
        d.rps(scenario, DOCUMENT_CEILING)?,
        d.rps(scenario, "gatehouse-sqlite")?,
    );
    (ceiling < goal).then(|| {
        format!(
            "a bare axum handler answering a fixed document from memory (a JWK set of 179 bytes; \
             no middleware, no logging), in the same rounds, did {} req/s: {} req/s is more \
             than HTTP on this machine allows with this load driver, whatever the server does. \
             The nearest honest figure is the share of that ceiling: {:.0}%.",
            group(ceiling as i64),
            group(goal as i64),
            100.0 * ours / ceiling
        )
    })
}

/// A PostgreSQL target: out of reach when PostgreSQL's own CPU per operation, measured in
/// the same rounds, leaves the machine's cores fewer operations per second than the target
/// needs, even with Gatehouse and the load driver costing nothing.
fn reach_db(d: &Data, scenario: &str, goal: f64, cores: Option<f64>) -> Option<String> {
    let pg = d.load(scenario, "gatehouse-postgres")?;
    let (db, own, rps) = (
        num(&pg["db_cpu_s_per_1k"])? / 1000.0,
        num(&pg["cpu_s_per_1k"])? / 1000.0,
        num(&pg["rps"])?,
    );
    let (cores, need) = (cores?, goal * d.rps(scenario, "oidc-provider")?);
    let (cap, both) = (cores / db, cores / (db + own));
    (db > 0.0 && cap < need).then(|| {
        format!(
            "PostgreSQL's own processes used {:.0} µs of CPU per operation in these rounds (for \
             Gatehouse's statements): {cores} cores at that cost allow at most {} ops/s with \
             Gatehouse and the load driver costing nothing, below the {} ops/s the target \
             needs. With Gatehouse's own {:.0} µs the cores allow {} ops/s; it did {} ({:.0}% of that).",
            db * 1e6,
            group(cap as i64),
            group(need as i64),
            own * 1e6,
            group(both as i64),
            group(rps as i64),
            100.0 * rps / both
        )
    })
}

/// The gateway's share of direct throughput: out of reach when a byte relay in front of
/// the same upstream, in the same rounds, keeps less than the target.
fn reach_gateway_share(d: &Data) -> Option<String> {
    let relay = d.rps("gateway", RELAY)?;
    let share = d.rps_ratio("gateway", RELAY, DIRECT)?.median;
    (share < 0.9).then(|| {
        format!(
            "a byte relay (socat: no HTTP parsing, no token) in front of the same upstream, in \
             the same rounds, kept {:.0}% of direct ({} ops/s, the median): the extra hop alone (two more \
             socket round trips per call on the same cores) costs more than the 10% allowed. \
             The nearest honest figure is the gateway's share beside the relay's.",
            100.0 * share,
            group(relay as i64)
        )
    })
}

/// The gateway's added latency: out of reach when the byte relay alone adds more.
fn reach_gateway_latency(d: &Data) -> Option<String> {
    let added = added_p50(d, "gateway-1conn", RELAY)?;
    (added > 100.0).then(|| {
        format!(
            "the byte relay alone added {added:.0} µs p50 at one connection in the same rounds: \
             the extra hop costs more than 100 µs here before any proxy does any work."
        )
    })
}

fn targets(d: &Data, crit: &BTreeMap<String, f64>, cores: Option<f64>) -> Vec<Verdict> {
    let mut v = Vec::new();
    ratio_check(
        d,
        &mut v,
        &Ratio {
            scenario: "cc",
            title: "client_credentials (SQLite)",
            ours: "gatehouse-sqlite",
            theirs: "oidc-provider",
            goal: 10.0,
            goal_text: "≥ 10× oidc-provider",
        },
    );
    if let Some(last) = v.last_mut() {
        last.unless(reach_cc(d));
    }
    ratio_check(
        d,
        &mut v,
        &Ratio {
            scenario: "cc",
            title: "client_credentials (SQLite)",
            ours: "gatehouse-sqlite",
            theirs: CEILING,
            goal: 0.7,
            goal_text: "≥ 70% of the sign-one-JWT ceiling",
        },
    );
    for (t, name) in [
        ("gatehouse-sqlite", "SQLite"),
        ("gatehouse-postgres", "PostgreSQL"),
    ] {
        ratio_check(
            d,
            &mut v,
            &Ratio {
                scenario: "refresh",
                title: &format!("refresh rotation ({name})"),
                ours: t,
                theirs: "oidc-provider",
                goal: 10.0,
                goal_text: "≥ 10× oidc-provider",
            },
        );
        if let (Some(last), "gatehouse-postgres") = (v.last_mut(), t) {
            last.unless(reach_db(d, "refresh", 10.0, cores));
        }
    }
    for (t, name) in [
        ("gatehouse-sqlite", "SQLite"),
        ("gatehouse-postgres", "PostgreSQL"),
    ] {
        ratio_check(
            d,
            &mut v,
            &Ratio {
                scenario: "authcode",
                title: &format!("authorization code flow ({name})"),
                ours: t,
                theirs: "oidc-provider",
                goal: 5.0,
                goal_text: "≥ 5× oidc-provider",
            },
        );
        if let (Some(last), "gatehouse-postgres") = (v.last_mut(), t) {
            last.unless(reach_db(d, "authcode", 5.0, cores));
        }
    }
    for (s, goal, goal_text) in [
        ("discovery", 50_000.0, "≥ 50,000 req/s"),
        ("jwks", 50_000.0, "≥ 50,000 req/s"),
        (
            "introspection",
            21_000.0,
            "≥ 21,000 req/s (Hydra, published)",
        ),
    ] {
        let r = d.rps(s, "gatehouse-sqlite");
        let mut verdict = Verdict {
            scenario: s.into(),
            target: goal_text.into(),
            measured: format!("{} req/s", fmt_n(r, 0)),
            met: r.map(|x| x >= goal),
            reach: None,
        };
        verdict.unless(reach_requests(d, s, goal));
        v.push(verdict);
    }
    let (new, raw, fresh, cached) = (
        crit.get("guard/verify_new_token").copied(),
        crit.get("guard/raw_es256_verify").copied(),
        crit.get("guard/raw_es256_verify_fresh").copied(),
        crit.get("guard/verify_cached_token").copied(),
    );
    // The paired measurement decides (the guard and the raw check of fresh tokens,
    // interleaved token by token, so a VM's drift between two benchmarks measured a minute
    // apart does not); without it, the floor measured like the guard is (a token it has not
    // seen, signed in the untimed setup, signature decoded). The separate benchmarks, and
    // the hot-loop floor (one signature re-verified), are shown beside.
    let paired = d.of_type("guard_paired").last().and_then(|r| {
        Some((
            num(&r["new_ns"])?,
            num(&r["raw_ns"])?,
            num(&r["ratio"])?,
            r["samples"].as_u64()?,
        ))
    });
    let floor = fresh.or(raw);
    let apart = match (new, fresh, raw) {
        (Some(n), Some(f), Some(r)) => format!(
            "{:.1} µs vs {:.1} µs (raw verify of a fresh token) = {:.2}×; vs {:.1} µs (the same signature re-verified in a loop) = {:.2}×",
            n / 1e3,
            f / 1e3,
            n / f,
            r / 1e3,
            n / r
        ),
        (Some(n), None, Some(r)) => {
            format!("{:.1} µs vs {:.1} µs = {:.2}×", n / 1e3, r / 1e3, n / r)
        }
        _ => "–".into(),
    };
    v.push(Verdict {
        scenario: "guard: verify a new token".into(),
        target: "≤ 1.2× one raw ES256 verify".into(),
        measured: match paired {
            Some((n, r, ratio, samples)) => format!(
                "{:.1} µs vs {:.1} µs (raw verify of a fresh token, interleaved token by token) = {ratio:.2}× (median of {samples} samples); measured apart: {apart}",
                n / 1e3,
                r / 1e3,
            ),
            None => apart,
        },
        met: match paired {
            Some((_, _, ratio, _)) => Some(ratio <= 1.2),
            None => new.zip(floor).map(|(n, r)| n / r <= 1.2),
        },
        reach: None,
    });
    v.push(Verdict {
        scenario: "guard: verify a cached token".into(),
        target: "≤ 1 µs".into(),
        measured: cached.map_or("–".into(), |c| format!("{:.2} µs", c / 1e3)),
        met: cached.map(|c| c <= 1000.0),
        reach: None,
    });
    ratio_check(
        d,
        &mut v,
        &Ratio {
            scenario: "gateway",
            title: "gateway tools/list",
            ours: GATEWAY,
            theirs: DIRECT,
            goal: 0.9,
            goal_text: "≥ 90% of direct throughput",
        },
    );
    if let Some(last) = v.last_mut() {
        last.unless(reach_gateway_share(d));
    }
    let (added, at) = match added_p50(d, "gateway-1conn", GATEWAY) {
        Some(a) => (Some(a), "one connection"),
        None => (added_p50(d, "gateway", GATEWAY), "under load"),
    };
    v.push(Verdict {
        scenario: format!("gateway tools/list ({at})"),
        target: "≤ 100 µs added p50".into(),
        measured: added.map_or("–".into(), |a| format!("{a:.0} µs")),
        met: added.map(|a| a <= 100.0),
        reach: None,
    });
    if let Some(last) = v.last_mut() {
        last.unless(reach_gateway_latency(d));
    }
    let idle = d
        .of_type("startup")
        .into_iter()
        .rev()
        .find(|r| r["target"] == "gatehouse-sqlite (existing data)")
        .and_then(|r| num(&r["idle_rss_mb"]));
    v.push(Verdict {
        scenario: "memory idle".into(),
        target: "≤ 30 MB RSS".into(),
        measured: format!("{} MB", fmt_n(idle, 1)),
        met: idle.map(|m| m <= 30.0),
        reach: None,
    });
    let conns = d
        .load("memory", "gatehouse-sqlite")
        .and_then(|r| num(&r["peak_rss_mb"]));
    v.push(Verdict {
        scenario: "memory at 1,000 connections".into(),
        target: "≤ 150 MB RSS".into(),
        measured: format!("{} MB (peak)", fmt_n(conns, 1)),
        met: conns.map(|m| m <= 150.0),
        reach: None,
    });
    let start = d
        .of_type("startup")
        .into_iter()
        .rev()
        .find(|r| r["target"] == "gatehouse-sqlite (existing data)")
        .and_then(|r| num(&r["median_ms"]));
    v.push(Verdict {
        scenario: "start-up to ready (SQLite)".into(),
        target: "≤ 200 ms".into(),
        measured: format!("{} ms (median)", fmt_n(start, 1)),
        met: start.map(|m| m <= 200.0),
        reach: None,
    });
    for (id, name) in [
        ("client_credentials", "token"),
        ("refresh", "refresh"),
        ("authcode", "authorize + exchange"),
    ] {
        let small = d.load("growth", &format!("{id} @ 1k"));
        let big = d.loads("growth").into_iter().rev().find(|r| {
            r["target"]
                .as_str()
                .is_some_and(|t| t.starts_with(&format!("{id} @ ")) && !t.ends_with("@ 1k"))
        });
        let get = |r: Option<&Value>, k: &str| r.and_then(|r| num(&r[k]));
        let (small_name, big_name) = (
            format!("{id} @ 1k"),
            big.and_then(|r| r["target"].as_str()).unwrap_or_default(),
        );
        // Cost: server CPU per operation (the load generator shares the cores, so throughput
        // understates a change in cost); throughput shown beside it. The two sizes take
        // turns round by round, so they are compared round by round ([`Data::compare`]).
        let cost = d.compare("growth", big_name, &small_name, "cpu_s_per_1k", |b, s| {
            b / s
        });
        let slow = d.compare("growth", big_name, &small_name, "rps", |b, s| s / b);
        let rounds = |p: &Paired| {
            if p.has_rounds() {
                format!(" (rounds {})", p.rounds_text(1.0, 2, "×"))
            } else {
                String::new()
            }
        };
        let label = big
            .and_then(|r| r["target"].as_str())
            .and_then(|t| t.split(" @ ").nth(1))
            .unwrap_or("?");
        v.push(Verdict {
            scenario: format!("growth: {name}"),
            target: "cost within 1.2× from 1k to 1M rows".into(),
            measured: match (&cost, &slow) {
                (Some(c), Some(sl)) => format!(
                    "1k → {label}: CPU per op {:.2}×{}, throughput {:.2}×{}; medians {} → {} ops/s",
                    c.median,
                    rounds(c),
                    sl.median,
                    rounds(sl),
                    fmt_n(get(small, "rps"), 0),
                    fmt_n(get(big, "rps"), 0)
                ),
                _ => "–".into(),
            },
            met: cost
                .zip(slow)
                .map(|(c, sl)| c.median <= 1.2 && sl.median <= 1.2),
            reach: None,
        });
    }
    v
}

/// Criterion medians (ns) by full id, from `<dir>/**/new/{benchmark,estimates}.json`.
pub(crate) fn criterion(dir: &Path) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "new") {
                    let read = |f: &str| -> Option<Value> {
                        serde_json::from_str(&std::fs::read_to_string(p.join(f)).ok()?).ok()
                    };
                    if let (Some(b), Some(est)) = (read("benchmark.json"), read("estimates.json"))
                        && let (Some(id), Some(m)) = (
                            b["full_id"].as_str(),
                            est["median"]["point_estimate"].as_f64(),
                        )
                    {
                        out.insert(id.to_owned(), m);
                    }
                } else if p.file_name().is_none_or(|n| n != "report") {
                    stack.push(p);
                }
            }
        }
    }
    out
}

fn table_of_loads(md: &mut String, rows: &[&Value]) {
    md.push_str(
        "| Target | ops/s (median) | p50 ms | p99 ms | CPU s / 1k ops | peak RSS MB | errors | rounds (ops/s) |\n\
         |---|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for r in rows {
        let rounds: Vec<String> = r["rounds"]
            .as_array()
            .map(|a| a.iter().map(|x| fmt_n(num(&x["rps"]), 0)).collect())
            .unwrap_or_default();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            r["target"].as_str().unwrap_or("?"),
            fmt_n(num(&r["rps"]), 0),
            fmt_n(num(&r["p50_ms"]), 3),
            fmt_n(num(&r["p99_ms"]), 3),
            fmt_n(num(&r["cpu_s_per_1k"]), 3),
            fmt_n(num(&r["peak_rss_mb"]), 1),
            r["errors"].as_u64().unwrap_or(0),
            rounds.join(" / "),
        );
    }
    let notes: Vec<String> = rows
        .iter()
        .filter_map(|r| {
            let mut parts = Vec::new();
            if let Some(n) = r["note"].as_str() {
                parts.push(n.to_owned());
            }
            if let Some(c) = num(&r["db_cpu_s_per_1k"]) {
                parts.push(format!(
                    "the database server's own CPU (not in the CPU column): {c:.3} s / 1k ops"
                ));
            }
            if let Some(e) = r["first_error"].as_str() {
                parts.push(format!(
                    "first error: `{}`",
                    e.chars().take(200).collect::<String>()
                ));
            }
            (!parts.is_empty()).then(|| {
                format!(
                    "- {}: {}",
                    r["target"].as_str().unwrap_or("?"),
                    parts.join("; ")
                )
            })
        })
        .collect();
    if !notes.is_empty() {
        md.push('\n');
        md.push_str(&notes.join("\n"));
        md.push('\n');
    }
}

pub(crate) fn run(a: &ReportArgs) -> Result<()> {
    let d = Data {
        records: results::join_rounds(results::read(&a.results)?),
    };
    let m: Value = serde_json::from_str(
        &std::fs::read_to_string(&a.machine)
            .with_context(|| format!("reading {}", a.machine.display()))?,
    )?;
    // Criterion medians recorded in the results file (bench/run imports them right after
    // the benches run), else read from criterion's directory.
    let mut crit: BTreeMap<String, f64> = d
        .of_type("criterion")
        .into_iter()
        .filter_map(|r| Some((r["id"].as_str()?.to_owned(), num(&r["median_ns"])?)))
        .collect();
    if crit.is_empty() {
        crit = a.criterion.as_deref().map(criterion).unwrap_or_default();
    }
    std::fs::create_dir_all(&a.plots)?;
    let rel = rel_dir(&a.out, &a.plots);
    let s = |k: &str| m[k].as_str().unwrap_or("?").to_owned();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Benchmarks\n\n\
         Generated by `bench/run` ({}) on {}. Do not edit by hand: re-run the harness.\n\n\
         Command: `{}`\n",
        s("mode"),
        s("date"),
        s("command")
    );
    md.push_str("## Machine and versions\n\n| | |\n|---|---|\n");
    for (k, label) in [
        ("cpu_model", "CPU"),
        ("nproc", "cores (nproc)"),
        ("memory", "memory"),
        ("kernel", "kernel"),
        ("loadavg_start", "load average at start (1/5/15 min)"),
        ("loadavg_end", "load average at end"),
        ("gatehouse", "Gatehouse"),
        ("rustc", "rustc"),
        ("node", "Node.js"),
        ("python", "Python"),
        ("peers", "peers (pinned)"),
        ("postgres", "PostgreSQL"),
        ("load_generator", "load generator"),
    ] {
        if let Some(v) = m.get(k) {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            let _ = writeln!(md, "| {label} | {text} |");
        }
    }
    if let Some(notes) = m["notes"].as_array().filter(|n| !n.is_empty()) {
        md.push_str("\nNotes on this run:\n\n");
        for n in notes {
            let _ = writeln!(md, "- {}", n.as_str().unwrap_or(""));
        }
    }
    md.push_str(
        "\nMethod: every HTTP scenario runs through the same load driver (`bench/harness`, \
         `gatehouse-bench load`): N simulated clients, one kept-alive HTTP/1.1 connection each, \
         closed loop, on one thread (like `wrk -t1 -cN`), sharing the machine's cores with the \
         server under test, loopback only, no TLS. The targets of a scenario take turns: one \
         round of each (after its own warm-up), then the next round of each, so that a ratio \
         compares the same minutes of a machine whose speed drifts: a target's verdict takes \
         the median of the rounds' own ratios (each round's pair ran side by side), with the \
         ratio of the medians beside it. The tables give the median of a target's rounds, \
         listed in the order they ran. CPU is the utime+stime delta of the server's \
         process tree (`/proc/<pid>/stat`) per 1,000 successful operations; peak RSS is VmHWM \
         of the tree, reset (`clear_refs`) after warm-up. An operation is one request, except \
         `authcode` (authorize redirect + code exchange: two requests) and `refresh` (one \
         rotation).\n\n",
    );
    md.push_str(
        "## Targets (issue 7)\n\n| Scenario | Target | Measured | Verdict |\n|---|---|---|---|\n",
    );
    let cores = m["nproc"].as_str().and_then(|n| n.parse::<f64>().ok());
    let verdicts = targets(&d, &crit, cores);
    for v in &verdicts {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            v.scenario,
            v.target,
            v.measured,
            v.verdict()
        );
    }
    let reasons: Vec<String> = verdicts
        .iter()
        .filter_map(|v| {
            Some(format!(
                "- {}, {}: {}",
                v.scenario,
                v.target,
                v.reach.as_ref()?
            ))
        })
        .collect();
    if !reasons.is_empty() {
        md.push_str("\nOut of reach on this machine, by figures of this same run:\n\n");
        md.push_str(&reasons.join("\n"));
        md.push('\n');
    }
    md.push('\n');
    for (id, title) in SCENARIOS {
        let rows = d.loads(id);
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(md, "## {title}\n");
        table_of_loads(&mut md, &rows);
        let file = format!("{id}.png");
        match plot::bars(&a.plots.join(&file), title, &rows) {
            Ok(()) => {
                let _ = writeln!(md, "\n![{title}]({rel}{file})\n");
            }
            Err(e) => {
                eprintln!("plot {file}: {e:#}");
                md.push('\n');
            }
        }
    }
    let starts = d.of_type("startup");
    if !starts.is_empty() {
        md.push_str("## Start-up to ready and idle memory\n\n| Target | median ms | min ms | max ms | runs | idle RSS MB |\n|---|---:|---:|---:|---:|---:|\n");
        for r in &starts {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                r["target"].as_str().unwrap_or("?"),
                fmt_n(num(&r["median_ms"]), 1),
                fmt_n(num(&r["min_ms"]), 1),
                fmt_n(num(&r["max_ms"]), 1),
                r["runs_ms"].as_array().map_or(0, Vec::len),
                fmt_n(num(&r["idle_rss_mb"]), 1),
            );
        }
        md.push_str("\nTime from spawning the process to the first 200 of its discovery document (polled every millisecond); idle RSS two seconds after that, having served only the readiness probes.\n\n");
    }
    let rss = d.of_type("rss");
    if !rss.is_empty() {
        md.push_str("## Resident memory snapshots\n\n| When | Target | RSS MB | peak MB |\n|---|---|---:|---:|\n");
        for r in &rss {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} |",
                r["scenario"].as_str().unwrap_or("?"),
                r["target"].as_str().unwrap_or("?"),
                fmt_n(num(&r["rss_mb"]), 1),
                fmt_n(num(&r["peak_rss_mb"]), 1)
            );
        }
        md.push('\n');
    }
    let seeds = d.of_type("seed");
    if !seeds.is_empty() {
        md.push_str("## Growth seeding\n\nOne row of each kind through the store API, then copied with one `INSERT … SELECT` per table; log rows through the store API in batches; the server is stopped meanwhile. The 1k and the large database then take turns, round by round, each round on a fresh copy of its seeded database with the server started afresh.\n\n| Step | clients added | grants + refresh tokens added | log rows added | seconds | database + WAL size |\n|---|---:|---:|---:|---:|---:|\n");
        for r in &seeds {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} MB |",
                r["label"].as_str().unwrap_or("?"),
                group(r["clients"].as_i64().unwrap_or(0)),
                group(r["tokens"].as_i64().unwrap_or(0)),
                group(r["events"].as_i64().unwrap_or(0)),
                fmt_n(num(&r["total_s"]), 1),
                fmt_n(r["db_bytes"].as_f64().map(|b| b / 1_048_576.0), 0),
            );
        }
        md.push('\n');
    }
    if !crit.is_empty() {
        md.push_str("## Criterion (hot functions, brief run, no thresholds)\n\n| Benchmark | median |\n|---|---:|\n");
        for (id, ns) in &crit {
            let text = if *ns >= 1e6 {
                format!("{:.2} ms", ns / 1e6)
            } else if *ns >= 1e3 {
                format!("{:.2} µs", ns / 1e3)
            } else {
                format!("{ns:.0} ns")
            };
            let _ = writeln!(md, "| `{id}` | {text} |");
        }
        md.push('\n');
    }
    if let Some(path) = &a.appendix {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        md.push_str(&text);
        if !text.ends_with('\n') {
            md.push('\n');
        }
    }
    std::fs::write(&a.out, md)?;
    eprintln!("wrote {}", a.out.display());
    Ok(())
}

/// The plots directory relative to the markdown file's directory (with a trailing slash).
fn rel_dir(md: &Path, plots: &Path) -> String {
    let base = md.parent().unwrap_or(Path::new("."));
    let _ = std::fs::create_dir_all(plots);
    let abs = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    // As given first (both under the repository as bench/run passes them), then resolved.
    let within = plots
        .strip_prefix(base)
        .map(Path::to_path_buf)
        .or_else(|_| abs(plots).strip_prefix(abs(base)).map(Path::to_path_buf));
    match within {
        Ok(r) if r.as_os_str().is_empty() => String::new(),
        Ok(r) => format!("{}/", r.display()),
        Err(_) => format!("{}/", abs(plots).display()),
    }
}

/// `gatehouse-bench criterion`: appends criterion's medians to the results file.
#[derive(Debug, Args)]
pub(crate) struct CriterionArgs {
    /// Criterion's output directory (`$CARGO_TARGET_DIR/criterion`).
    #[arg(long)]
    dir: PathBuf,
    #[arg(long)]
    out: PathBuf,
}

pub(crate) fn import_criterion(a: &CriterionArgs) -> Result<()> {
    for (id, ns) in criterion(&a.dir) {
        results::append(
            &a.out,
            &serde_json::json!({"type": "criterion", "id": id, "median_ns": ns}),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn load(scenario: &str, target: &str, rps: f64, extra: &Value) -> Value {
        let mut r = json!({"type": "load", "scenario": scenario, "target": target, "rps": rps,
                           "p50_ms": 0.1, "cpu_s_per_1k": 0.1});
        for (k, val) in extra.as_object().into_iter().flatten() {
            r[k] = val.clone();
        }
        r
    }

    fn find<'a>(v: &'a [Verdict], scenario: &str, target: &str) -> &'a Verdict {
        v.iter()
            .find(|x| x.scenario == scenario && x.target.starts_with(target))
            .unwrap()
    }

    /// A load record of interleaved rounds, one value of `key` per round.
    fn rounds(scenario: &str, target: &str, key: &str, values: &[f64]) -> Value {
        let rounds: Vec<Value> = values
            .iter()
            .map(|x| json!({"rps": 1000.0, "p50_ms": 0.1, "cpu_s_per_1k": 0.1, key: x}))
            .collect();
        let med = |k: &str| results::median(rounds.iter().filter_map(|r| r[k].as_f64()).collect());
        json!({"type": "load", "scenario": scenario, "target": target, "rps": med("rps"),
               "p50_ms": med("p50_ms"), "cpu_s_per_1k": med("cpu_s_per_1k"), "rounds": rounds})
    }

    #[test]
    fn interleaved_rounds_are_compared_round_by_round() {
        // A slow second round for the peer and the ceiling (the machine slowed down for
        // those seconds), a slow third round for Gatehouse: the medians compare a fast
        // ceiling with a slow Gatehouse (67%); each round's pair says 84%, 65%, 71%.
        let d = Data {
            records: vec![
                rounds("cc", CEILING, "rps", &[25_600.0, 26_000.0, 24_300.0]),
                rounds(
                    "cc",
                    "gatehouse-sqlite",
                    "rps",
                    &[21_400.0, 16_900.0, 17_200.0],
                ),
                rounds("cc", "oidc-provider", "rps", &[2_760.0, 1_970.0, 2_560.0]),
                // Growth: the last 1M round ran while something else took the cores.
                rounds(
                    "growth",
                    "refresh @ 1k",
                    "cpu_s_per_1k",
                    &[0.132, 0.118, 0.124],
                ),
                rounds(
                    "growth",
                    "refresh @ 1M",
                    "cpu_s_per_1k",
                    &[0.141, 0.129, 0.181],
                ),
            ],
        };
        let v = targets(&d, &BTreeMap::new(), None);
        let share = find(&v, "client_credentials (SQLite)", "≥ 70%");
        assert_eq!(share.met, Some(true));
        assert!(
            share.measured.starts_with(
                "70.8% (rounds 83.6% / 65.0% / 70.8%; medians 17,200 vs 25,600 ops/s = 67.2%)"
            ),
            "{}",
            share.measured
        );
        // The ceiling's own ratio to the peer, round by round: 9.3×, 13.2×, 9.5×.
        let peer = find(&v, "client_credentials (SQLite)", "≥ 10×");
        assert_eq!(peer.met, Some(false));
        assert!(
            peer.reach
                .as_deref()
                .unwrap()
                .contains("did 9.5× oidc-provider (rounds 9.3× / 13.2× / 9.5×")
        );
        // CPU per rotation, 1M against 1k: 1.07×, 1.09×, 1.46× (the medians say 1.14×).
        let growth = find(&v, "growth: refresh", "cost within 1.2×");
        assert!(
            growth
                .measured
                .contains("CPU per op 1.09× (rounds 1.07× / 1.09× / 1.46×)"),
            "{}",
            growth.measured
        );
        assert_eq!(growth.met, Some(true));
    }

    #[test]
    fn the_guard_verdict_takes_the_paired_measurement_when_the_run_has_one() {
        // Measured a minute apart, the two benchmarks say 1.30×.
        let crit = BTreeMap::from([
            ("guard/verify_new_token".to_owned(), 65_000.0),
            ("guard/raw_es256_verify_fresh".to_owned(), 50_000.0),
            ("guard/raw_es256_verify".to_owned(), 48_000.0),
        ]);
        let verdict = |records: Vec<Value>| {
            let v = targets(&Data { records }, &crit, None);
            let g = find(&v, "guard: verify a new token", "≤ 1.2×");
            (g.met, g.measured.clone())
        };
        let (met, measured) = verdict(vec![]);
        assert_eq!(met, Some(false));
        assert!(measured.starts_with("65.0 µs vs 50.0 µs"), "{measured}");
        // Interleaved token by token, the same run says 1.04×: that decides.
        let paired = json!({"type": "guard_paired", "new_ns": 52_000.0, "raw_ns": 50_000.0,
                            "ratio": 1.04, "samples": 100, "iterations": 5050});
        let (met, measured) = verdict(vec![paired]);
        assert_eq!(met, Some(true));
        assert!(
            measured.contains("= 1.04× (median of 100 samples); measured apart: 65.0 µs"),
            "{measured}"
        );
    }

    #[test]
    fn a_missed_target_is_out_of_reach_only_when_the_same_run_shows_the_limit() {
        let none = json!({});
        let d = |ceiling: f64, relay: f64, relay_p50: f64, db_cpu: f64| Data {
            records: vec![
                load("cc", CEILING, ceiling, &none),
                // A fixed document from memory did five times the signing ceiling.
                load("discovery", DOCUMENT_CEILING, 5.0 * ceiling, &none),
                load("discovery", "gatehouse-sqlite", 30_000.0, &none),
                load("introspection", DOCUMENT_CEILING, 5.0 * ceiling, &none),
                load("introspection", "gatehouse-sqlite", 19_000.0, &none),
                load("cc", "gatehouse-sqlite", 7_000.0, &none),
                load("cc", "oidc-provider", 1_000.0, &none),
                load("refresh", "oidc-provider", 1_000.0, &none),
                load(
                    "refresh",
                    "gatehouse-postgres",
                    3_000.0,
                    &json!({"cpu_s_per_1k": 0.1, "db_cpu_s_per_1k": db_cpu}),
                ),
                load("gateway", "demo-server direct", 10_000.0, &none),
                load("gateway", "gatehouse-gateway → demo-server", 6_000.0, &none),
                load("gateway", RELAY, relay, &none),
                load(
                    "gateway-1conn",
                    "demo-server direct",
                    5_000.0,
                    &json!({"p50_ms": 0.1}),
                ),
                load(
                    "gateway-1conn",
                    "gatehouse-gateway → demo-server",
                    3_000.0,
                    &json!({"p50_ms": 0.25}),
                ),
                load(
                    "gateway-1conn",
                    RELAY,
                    3_000.0,
                    &json!({"p50_ms": relay_p50}),
                ),
            ],
        };
        let crit = BTreeMap::new();

        // The limits below the targets: each missed target says why, with the numbers.
        let v = targets(&d(8_000.0, 6_000.0, 0.22, 0.4), &crit, Some(2.0));
        let cc = find(&v, "client_credentials (SQLite)", "≥ 10×");
        assert_eq!(cc.met, Some(false));
        assert!(
            cc.reach
                .as_deref()
                .unwrap()
                .contains("did 8.0× oidc-provider")
        );
        assert!(cc.verdict().contains("out of reach"));
        // 2 cores / 400 µs = 5,000/s < 10,000/s needed.
        let pg = find(&v, "refresh rotation (PostgreSQL)", "≥ 10×");
        assert!(pg.reach.as_deref().unwrap().contains("at most 5,000 ops/s"));
        let share = find(&v, "gateway tools/list", "≥ 90%");
        assert!(
            share
                .reach
                .as_deref()
                .unwrap()
                .contains("kept 60% of direct")
        );
        let added = find(&v, "gateway tools/list (one connection)", "≤ 100 µs");
        assert!(added.reach.as_deref().unwrap().contains("added 120 µs"));
        // 40,000 req/s for a fixed document: 50,000 is out of reach, 21,000 is not.
        let discovery = find(&v, "discovery", "≥ 50,000");
        assert!(
            discovery
                .reach
                .as_deref()
                .unwrap()
                .contains("did 40,000 req/s")
        );
        assert!(discovery.reach.as_deref().unwrap().contains("75%"));
        let introspection = find(&v, "introspection", "≥ 21,000");
        assert_eq!(
            (introspection.met, introspection.reach.as_deref()),
            (Some(false), None)
        );
        // A met target carries no reason (7,000 of 8,000 is 87.5% of the ceiling).
        let share = find(&v, "client_credentials (SQLite)", "≥ 70%");
        assert_eq!((share.met, share.reach.as_deref()), (Some(true), None));

        // The same misses with limits that would allow the targets: plainly missed.
        let v = targets(&d(20_000.0, 9_500.0, 0.15, 0.05), &crit, Some(2.0));
        for (s, t) in [
            ("client_credentials (SQLite)", "≥ 10×"),
            ("discovery", "≥ 50,000"),
            ("refresh rotation (PostgreSQL)", "≥ 10×"),
            ("gateway tools/list", "≥ 90%"),
            ("gateway tools/list (one connection)", "≤ 100 µs"),
        ] {
            let x = find(&v, s, t);
            assert_eq!((x.met, x.reach.as_deref()), (Some(false), None), "{s} {t}");
            assert_eq!(x.verdict(), "**missed**");
        }
    }
}
