//! Running the `rooflaw` binary from the end-to-end tests.
// Each test file is its own crate and uses a subset of these.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output};

/// `rooflaw` in `dir`, with no cache location inherited from the
/// environment (each test's cache lives next to its pipeline).
pub fn command(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_rooflaw"));
    c.current_dir(dir).env_remove("ROOFLAW_CACHE");
    c
}

/// `rooflaw ARGS` in `dir`, run to completion.
pub fn rooflaw_in(dir: &Path, args: &[&str]) -> Output {
    command(dir).args(args).output().expect("rooflaw runs")
}

/// `rooflaw ARGS` in the repository root, where `pipelines/` is.
pub fn rooflaw(args: &[&str]) -> Output {
    rooflaw_in(Path::new(env!("CARGO_MANIFEST_DIR")), args)
}

/// Assert that `out` succeeded, showing its output when not; its stdout.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The statuses of a cache's run records (`finished`, `cancelled`, ...),
/// oldest first.
pub fn run_statuses(dir: &Path) -> Vec<String> {
    let records = dir.join(".rooflaw/runs/records");
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(records)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| {
            let v: serde_json::Value = serde_json::from_slice(&std::fs::read(f).unwrap()).unwrap();
            v["status"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

/// Starts `run` (a `rooflaw run`), sends it SIGINT as soon as `ready()`
/// holds, and returns its output. The deadline only guards against a hang:
/// nothing here measures time.
#[cfg(unix)]
pub fn interrupt_when(mut run: Command, ready: impl Fn() -> bool) -> Output {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut child = run
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("rooflaw runs");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !ready() {
        if child.try_wait().unwrap().is_some() || Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the run ended or hung before the moment to interrupt it:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    child.wait_with_output().unwrap()
}
