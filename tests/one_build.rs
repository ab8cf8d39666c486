//! The README's two commands share one build: every crate `cargo run
//! --release` builds (the `rooflaw` package alone) gets the same features
//! under `cargo test --workspace --release` (every package, dev-dependencies
//! on). A crate whose features differ is built twice, and with it everything
//! above it: candle and gemm sit above `once_cell` and `getrandom`, so a
//! dev-dependency that turns on one more feature of either costs minutes.
//! The `[dependencies]` feature pins in Cargo.toml keep the two equal. And
//! candle stays in `rooflaw-neural`, out of `rooflaw-stdlib`.
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

/// Package → the feature sets `cargo tree` resolves for it (a package built
/// for both the host and the target may appear with two).
fn features(args: &[&str]) -> BTreeMap<String, BTreeSet<String>> {
    let out = Command::new(env!("CARGO"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")))
        .args(["tree", "--offline", "--locked", "--prefix", "none"])
        .args(["--format", "{p}|{f}"])
        .args(args)
        .output()
        .expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut map: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8(out.stdout).expect("utf-8").lines() {
        let line = line.trim_end_matches(" (*)");
        if let Some((package, feats)) = line.split_once('|') {
            map.entry(package.to_owned())
                .or_default()
                .insert(feats.to_owned());
        }
    }
    map
}

#[test]
fn the_test_command_reuses_the_run_commands_build() {
    let run = features(&["--package", "rooflaw", "--edges", "normal,build"]);
    let test = features(&["--workspace", "--edges", "normal,build,dev"]);
    assert!(run.len() > 100, "cargo tree listed too little: {run:?}");
    let differ: Vec<String> = run
        .iter()
        .filter(|(package, feats)| test.get(*package) != Some(*feats))
        .map(|(package, feats)| {
            format!(
                "{package}: run {feats:?}, test {:?}",
                test.get(package).cloned().unwrap_or_default()
            )
        })
        .collect();
    assert!(
        differ.is_empty(),
        "crates built with other features by `cargo test --workspace` than by `cargo run` \
         (pin the test's features in the root [dependencies]):\n{}",
        differ.join("\n")
    );
}

/// candle and what comes with it stay in `rooflaw-neural`: the science crate
/// builds and tests without them.
#[test]
fn rooflaw_stdlib_does_not_depend_on_candle() {
    let stdlib = features(&["--package", "rooflaw-stdlib", "--edges", "all"]);
    assert!(
        stdlib.len() > 20,
        "cargo tree listed too little: {stdlib:?}"
    );
    let heavy: Vec<&String> = stdlib
        .keys()
        .filter(|p| {
            ["candle", "gemm", "tokenizers"]
                .iter()
                .any(|h| p.starts_with(h))
        })
        .collect();
    assert!(heavy.is_empty(), "rooflaw-stdlib pulls in {heavy:?}");
    let neural = features(&["--package", "rooflaw-neural", "--edges", "normal"]);
    assert!(
        neural.keys().any(|p| p.starts_with("candle-core ")),
        "{neural:?}"
    );
}
