//! Ctrl-C during the candle stages: SIGINT to `rooflaw run` while a tiny
//! model trains, or while `measure` times a candidate, exits 130 with a
//! valid cache; the next run reuses what finished (a finished training run,
//! a measured candidate), resumes the interrupted training from its
//! checkpoint, and completes.
#![cfg(unix)]
mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{interrupt_when, ok, run_statuses};

fn rooflaw(dir: &Path, args: &[&str]) -> Output {
    let mut c = common::command(dir);
    // No user config leaks into the tests.
    c.env("XDG_CONFIG_HOME", dir.join("no-config"));
    c.args(args).output().expect("rooflaw runs")
}

/// Each stage's action in `rooflaw plan`: `cached` or `run`.
fn plan(dir: &Path, file: &str) -> Vec<(String, String)> {
    let out = ok(&rooflaw(dir, &["plan", file, "--format", "json"]));
    let v: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    v.iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("stage"), s("action"))
        })
        .collect()
}

fn action(dir: &Path, file: &str, stage: &str) -> String {
    plan(dir, file)
        .into_iter()
        .find(|(s, _)| s == stage)
        .map_or_else(|| panic!("no stage `{stage}` in the plan"), |(_, a)| a)
}

/// The training work directories of the cache, as the engine keeps them.
fn work_dirs(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir.join(".rooflaw/work"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

/// A run was interrupted, not failed: exit 130, recorded as cancelled, and
/// the cache verifies.
fn assert_cancelled_cleanly(dir: &Path, out: &Output) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(run_statuses(dir), ["cancelled"]);
    ok(&rooflaw(dir, &["cache", "--cache", ".rooflaw", "verify"]));
}

/// The summary line `rooflaw run` prints for `stage`.
fn summary_line(out: &Output, stage: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    stderr
        .lines()
        .find(|l| l.split_whitespace().next() == Some(stage))
        .unwrap_or_else(|| panic!("no summary line for `{stage}`:\n{stderr}"))
        .to_string()
}

#[test]
fn sigint_during_training_keeps_a_checkpoint_and_the_next_run_resumes_it() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // `quick` finishes at once; `slow` (6,250 steps) is interrupted after
    // its first checkpoint.
    std::fs::write(
        d.join("t.pipeline"),
        "space s { layers = 1  width = 32  heads = 2  vocab = 256 }\n\
         stage c = enumerate(s)\n\
         stage quick = train(c, tokens: 2k, seq_len: 16, batch: 4)\n\
         stage slow = train(c, tokens: 400k, seq_len: 16, batch: 4)\n",
    )
    .unwrap();
    let mut run = common::command(d);
    run.env("XDG_CONFIG_HOME", d.join("no-config"))
        .args(["run", "-q", "t.pipeline"]);
    // Training in flight: a checkpoint without a result, once `quick` is done.
    let in_flight = || {
        work_dirs(d)
            .iter()
            .any(|w| w.join("checkpoint.safetensors").exists() && !w.join("result.json").exists())
            && action(d, "t.pipeline", "quick") == "cached"
    };
    let out = interrupt_when(run, in_flight);
    assert_cancelled_cleanly(d, &out);
    assert_eq!(
        plan(d, "t.pipeline"),
        [
            ("c".into(), "cached".into()),
            ("quick".into(), "cached".into()),
            ("slow".into(), "run".into())
        ]
    );

    let out = rooflaw(d, &["run", "t.pipeline"]);
    ok(&out);
    assert!(
        summary_line(&out, "quick").contains("cached"),
        "the finished run was redone"
    );
    assert_eq!(run_statuses(d), ["cancelled", "finished"]);
    // The interrupted run continued from its checkpoint, not from step 0.
    let results: Vec<serde_json::Value> = work_dirs(d)
        .iter()
        .filter_map(|w| std::fs::read(w.join("result.json")).ok())
        .map(|b| serde_json::from_slice(&b).unwrap())
        .collect();
    let slow = results
        .iter()
        .find(|r| r["steps"] == 6250)
        .expect("the slow run's result");
    let resumed: Vec<u64> = serde_json::from_value(slow["resumed_at"].clone()).unwrap();
    assert!(
        resumed.len() == 1 && (50..6250).contains(&resumed[0]),
        "resumed at {resumed:?}"
    );
    let quick = results.iter().find(|r| r["steps"] != 6250).unwrap();
    assert_eq!(quick["resumed_at"], serde_json::json!([]));
    assert!(
        plan(d, "t.pipeline").iter().all(|(_, a)| a == "cached"),
        "after the resumed run"
    );
}

fn measure_pipeline(dir: &Path, layers: &str) {
    std::fs::write(
        dir.join("m.pipeline"),
        format!(
            "workload w {{ batch = 1  prompt = 32 tokens  generate = 8 tokens  precision = fp32 }}\n\
             space s {{ layers = {layers}  width = 128  heads = 4  vocab = 256 }}\n\
             stage c = enumerate(s)\n\
             stage m = measure(c, workload: w, repeats: 1000, warmup: 1)\n"
        ),
    )
    .unwrap();
}

#[test]
fn sigint_during_measure_keeps_measured_candidates_and_the_next_run_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    measure_pipeline(d, "1");
    ok(&rooflaw(d, &["run", "-q", "m.pipeline"]));
    // A second candidate: the first stays measured, the second is timed
    // when the interrupt comes.
    measure_pipeline(d, "[1, 4]");
    let mut run = common::command(d);
    run.env("XDG_CONFIG_HOME", d.join("no-config"))
        .args(["run", "-q", "m.pipeline"]);
    let out = interrupt_when(run, || action(d, "m.pipeline", "c") == "cached");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(run_statuses(d), ["finished", "cancelled"]);
    ok(&rooflaw(d, &["cache", "--cache", ".rooflaw", "verify"]));
    assert_eq!(action(d, "m.pipeline", "m"), "run");

    let out = rooflaw(d, &["run", "m.pipeline"]);
    ok(&out);
    let line = summary_line(&out, "m");
    assert!(line.contains("[1 run, 1 cached]"), "{line}");
    assert_eq!(run_statuses(d), ["finished", "cancelled", "finished"]);
    assert!(plan(d, "m.pipeline").iter().all(|(_, a)| a == "cached"));
}
