//! CPU time and memory of the processes under test, from `/proc`.
//!
//! A target is a root pid and all its descendants (gunicorn's workers, a server's helper
//! processes). CPU is `utime + stime` (fields 14 and 15 of `/proc/<pid>/stat`, in clock ticks
//! of 1/100 s: `USER_HZ` is 100 in the Linux ABI); memory is `VmHWM` (peak resident set) and
//! `VmRSS` from `/proc/<pid>/status`. Writing `5` to `/proc/<pid>/clear_refs` resets the
//! peak, so each scenario reports its own.

use std::collections::BTreeSet;
use std::fs;

/// Clock ticks per second of `/proc/<pid>/stat` times.
const USER_HZ: f64 = 100.0;

/// The pid and every descendant of it that is alive now.
pub(crate) fn tree(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(dir) = fs::read_dir("/proc") {
        for entry in dir.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            if let Some(ppid) = stat_fields(pid).and_then(|f| f.get(1).and_then(|p| p.parse().ok()))
            {
                parents.push((pid, ppid));
            }
        }
    }
    let mut set = BTreeSet::from([root]);
    loop {
        let before = set.len();
        for (pid, ppid) in &parents {
            if set.contains(ppid) {
                set.insert(*pid);
            }
        }
        if set.len() == before {
            break;
        }
    }
    set.into_iter().filter(|p| alive(*p)).collect()
}

fn alive(pid: u32) -> bool {
    fs::metadata(format!("/proc/{pid}")).is_ok()
}

/// The fields of `/proc/<pid>/stat` after the command name: `[state, ppid, …]`, so field
/// number N of proc(5) is index N - 3.
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &text[text.rfind(')')? + 2..];
    Some(after.split_whitespace().map(str::to_owned).collect())
}

/// CPU seconds (user + system) used so far by the processes.
pub(crate) fn cpu_seconds(pids: &[u32]) -> f64 {
    pids.iter()
        .filter_map(|p| stat_fields(*p))
        .map(|f| {
            let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            (tick(11) + tick(12)) / USER_HZ
        })
        .sum()
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let text = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Sum of the peak resident set sizes (kB).
pub(crate) fn peak_rss_kb(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|p| status_kb(*p, "VmHWM:")).sum()
}

/// Sum of the current resident set sizes (kB).
pub(crate) fn rss_kb(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|p| status_kb(*p, "VmRSS:")).sum()
}

/// Resets the peak resident set size of each process (best effort: needs permission).
pub(crate) fn reset_peak(pids: &[u32]) {
    for p in pids {
        let _ = fs::write(format!("/proc/{p}/clear_refs"), "5");
    }
}

/// The 1-minute load average.
pub(crate) fn loadavg() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}
