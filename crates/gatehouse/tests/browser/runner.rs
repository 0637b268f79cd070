//! Runs the Node half of the browser tests (`js/scenario.mjs`: playwright-core driving
//! Debian's Chromium, axe-core) one phase at a time, and decides what happens when a
//! prerequisite is missing: under `CI=true` the test fails, elsewhere it is skipped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

/// Where Chromium is (Debian's package), unless `GATEHOUSE_CHROMIUM` says otherwise.
const CHROMIUM: &str = "/usr/bin/chromium";
/// Longest time one phase may take.
const PHASE_TIMEOUT: Duration = Duration::from_secs(300);

pub struct Runner {
    js: PathBuf,
    chromium: String,
    work: tempfile::TempDir,
    pub screenshots: PathBuf,
}

/// A missing prerequisite: fatal in CI, a skip elsewhere.
fn unavailable(reason: &str) -> Option<Runner> {
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "the browser tests cannot run: {reason} (.ci/run installs chromium and the npm packages)"
        );
    }
    eprintln!("skipping the browser tests: {reason}");
    None
}

async fn succeeds(cmd: &mut tokio::process::Command) -> bool {
    cmd.stdin(Stdio::null())
        .status()
        .await
        .is_ok_and(|s| s.success())
}

fn default_screenshots() -> PathBuf {
    // The test binary is <target>/<profile>/deps/browser-<hash>.
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("browser-screenshots")
}

/// Checks Chromium, Node and the npm packages (running `npm ci` when they are missing).
pub async fn prepare() -> Option<Runner> {
    let js = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/js");
    let chromium = std::env::var("GATEHOUSE_CHROMIUM").unwrap_or_else(|_| CHROMIUM.to_owned());
    if !Path::new(&chromium).exists() {
        return unavailable(&format!(
            "{chromium} is missing (apt-get install -y chromium)"
        ));
    }
    if !succeeds(
        tokio::process::Command::new("node")
            .arg("--version")
            .stdout(Stdio::null()),
    )
    .await
    {
        return unavailable("node is not installed");
    }
    let installed = ["playwright-core", "axe-core"].iter().all(|p| {
        js.join("node_modules")
            .join(p)
            .join("package.json")
            .exists()
    });
    if !installed {
        eprintln!(
            "installing the browser tests' npm packages (npm ci in {})",
            js.display()
        );
        let mut npm = tokio::process::Command::new("npm");
        npm.args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&js)
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1");
        if !succeeds(&mut npm).await {
            return unavailable(&format!("npm ci failed in {}", js.display()));
        }
    }
    let screenshots =
        std::env::var_os("GATEHOUSE_SCREENSHOTS").map_or_else(default_screenshots, PathBuf::from);
    std::fs::create_dir_all(&screenshots).expect("screenshots folder");
    Some(Runner {
        js,
        chromium,
        work: tempfile::tempdir().expect("tempdir"),
        screenshots,
    })
}

impl Runner {
    /// Runs one phase of `scenario.mjs` against `base` and returns its result.
    pub async fn phase(&self, name: &str, base: &str, env: &[(&str, String)]) -> Value {
        let result = self.work.path().join("result.json");
        let _ = std::fs::remove_file(&result);
        let mut cmd = tokio::process::Command::new("node");
        cmd.arg("scenario.mjs")
            .arg(name)
            .current_dir(&self.js)
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .env("GATEHOUSE_CHROMIUM", &self.chromium)
            .env("GATEHOUSE_BASE_URL", base)
            .env("GATEHOUSE_WORK", self.work.path())
            .env("GATEHOUSE_SCREENSHOTS", &self.screenshots)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let started = std::time::Instant::now();
        let out = tokio::time::timeout(PHASE_TIMEOUT, cmd.output())
            .await
            .unwrap_or_else(|_| panic!("browser phase {name} took longer than {PHASE_TIMEOUT:?}"))
            .expect("running node");
        println!("{}", String::from_utf8_lossy(&out.stdout));
        eprintln!("{}", String::from_utf8_lossy(&out.stderr));
        println!(
            "browser phase {name}: {:.1} s",
            started.elapsed().as_secs_f64()
        );
        assert!(
            out.status.success(),
            "browser phase {name} failed (see its output above)"
        );
        let text = std::fs::read_to_string(&result).expect("the phase wrote its result");
        serde_json::from_str(&text).expect("result JSON")
    }
}
