//! The results file: one JSON object per line, appended by each measurement.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{Value, json};

/// Appends one record.
pub(crate) fn append(path: &Path, record: &Value) -> Result<()> {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    writeln!(f, "{record}")?;
    Ok(())
}

/// Every record of the file (lines that are not JSON are skipped).
pub(crate) fn read(path: &Path) -> Result<Vec<Value>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// The median of the finite values (NaN when there are none).
pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.retain(|x| x.is_finite());
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        f64::midpoint(v[n / 2 - 1], v[n / 2])
    }
}

/// Joins the `load` records of one scenario and target into one, in the place of the first.
///
/// `bench/run` interleaves targets: it measures one round of each target in turn, so that
/// the ratios between them compare the same minutes of a machine whose speed drifts. Each
/// round is then a record of its own; joined, the rounds are listed in the order they ran
/// and the figures are the medians over all of them (peak RSS the largest, errors summed).
pub(crate) fn join_rounds(records: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(records.len());
    let mut parts: Vec<Vec<Value>> = Vec::new();
    for r in records {
        let same = |o: &Value| {
            o["type"] == "load" && o["scenario"] == r["scenario"] && o["target"] == r["target"]
        };
        match out.iter().position(|o| r["type"] == "load" && same(o)) {
            Some(i) => parts[i].push(r),
            None => {
                out.push(r.clone());
                parts.push(vec![r]);
            }
        }
    }
    for (o, p) in out.iter_mut().zip(parts) {
        if p.len() > 1 {
            *o = joined(&p);
        }
    }
    out
}

fn joined(p: &[Value]) -> Value {
    let rounds: Vec<Value> = p
        .iter()
        .flat_map(|r| r["rounds"].as_array().cloned().unwrap_or_default())
        .collect();
    let med = |k: &str| median(rounds.iter().filter_map(|r| r[k].as_f64()).collect());
    let mut o = p[0].clone();
    o["rounds"] = json!(rounds);
    for k in ["rps", "p50_ms", "p99_ms", "cpu_s_per_1k", "db_cpu_s_per_1k"] {
        o[k] = json!(med(k));
    }
    let peak = p.iter().filter_map(|r| r["peak_rss_mb"].as_f64());
    o["peak_rss_mb"] = json!(peak.fold(f64::NAN, f64::max));
    o["errors"] = json!(p.iter().filter_map(|r| r["errors"].as_u64()).sum::<u64>());
    o["reconnects"] = json!(
        p.iter()
            .filter_map(|r| r["reconnects"].as_u64())
            .sum::<u64>()
    );
    o["first_error"] = p
        .iter()
        .map(|r| &r["first_error"])
        .find(|e| e.is_string())
        .cloned()
        .unwrap_or(Value::Null);
    o["loadavg_end"] = p[p.len() - 1]["loadavg_end"].clone();
    o["invocations"] = json!(p.len());
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(target: &str, rps: &[f64], rss: f64, errors: u64) -> Value {
        let rounds: Vec<Value> = rps
            .iter()
            .map(|r| json!({"rps": r, "p50_ms": r / 1000.0, "p99_ms": 1.0, "cpu_s_per_1k": 0.05}))
            .collect();
        json!({"type": "load", "scenario": "cc", "target": target, "rounds": rounds,
               "rps": median(rps.to_vec()), "peak_rss_mb": rss, "errors": errors,
               "reconnects": 0, "first_error": if errors > 0 { json!("boom") } else { Value::Null },
               "loadavg_end": rss})
    }

    #[test]
    fn interleaved_rounds_join_per_target_in_first_place() {
        let rss = json!({"type": "rss", "scenario": "idle", "target": "a"});
        let joined = join_rounds(vec![
            load("a", &[10.0], 20.0, 0),
            rss.clone(),
            load("b", &[100.0], 5.0, 0),
            load("a", &[30.0], 25.0, 2),
            load("b", &[300.0], 6.0, 0),
            load("a", &[20.0], 22.0, 0),
        ]);
        assert_eq!(joined.len(), 3);
        let a = &joined[0];
        assert_eq!(a["target"], "a");
        let rounds: Vec<f64> = a["rounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["rps"].as_f64().unwrap())
            .collect();
        assert_eq!(rounds, [10.0, 30.0, 20.0]);
        assert_eq!(a["rps"], 20.0);
        assert_eq!(a["p50_ms"], 0.02);
        assert_eq!(a["peak_rss_mb"], 25.0);
        assert_eq!(a["errors"], 2);
        assert_eq!(a["first_error"], "boom");
        assert_eq!(a["loadavg_end"], 22.0);
        assert_eq!(a["invocations"], 3);
        assert_eq!(joined[1], rss);
        assert_eq!(joined[2]["rps"], 200.0);
    }

    #[test]
    fn a_single_record_is_left_as_written() {
        let one = load("a", &[10.0, 40.0, 20.0], 20.0, 0);
        assert_eq!(join_rounds(vec![one.clone()]), vec![one]);
    }
}
