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
