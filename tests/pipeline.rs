//! The engine end to end, through the CLI: incremental reruns with reasons,
//! corruption, a killed run, concurrent runs, `--locked`, and the report.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

mod common;
use common::ok;

/// `rooflaw` in `dir` with the test-only stage kinds (`sleep`) registered.
fn command(dir: &Path) -> Command {
    let mut c = common::command(dir);
    c.env("ROOFLAW_TEST_STAGES", "1");
    c
}

fn rooflaw(dir: &Path, args: &[&str]) -> Output {
    command(dir).args(args).output().expect("rooflaw runs")
}

/// A copy of the quickstart pipeline in a fresh directory.
fn quickstart() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("q.pipeline");
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/pipelines/quickstart.pipeline"
    ))
    .unwrap();
    std::fs::write(&file, text).unwrap();
    (dir, file)
}

fn plan(dir: &Path) -> Vec<serde_json::Value> {
    let out = rooflaw(dir, &["plan", "q.pipeline", "--format", "json"]);
    ok(&out);
    serde_json::from_slice(&out.stdout).unwrap()
}

fn actions(plan: &[serde_json::Value]) -> Vec<(String, String)> {
    plan.iter()
        .map(|e| {
            (
                e["stage"].as_str().unwrap().into(),
                e["action"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[test]
fn quickstart_runs_writes_a_report_and_reruns_nothing() {
    let (dir, _) = quickstart();
    ok(&rooflaw(dir.path(), &["run", "q.pipeline"]));
    let out = dir.path().join("out/quickstart");
    for f in [
        "index.html",
        "summary.md",
        "loss_latency.svg",
        "roofline.svg",
        "data/best.csv",
        "data/frontier.csv",
        "data/best.meta.json",
    ] {
        assert!(out.join(f).is_file(), "missing {f}");
    }
    // The SVG is well-formed and draws a frontier per precision with as many
    // points as the frontier table has rows.
    let svg = std::fs::read_to_string(out.join("loss_latency.svg")).unwrap();
    let doc = roxmltree::Document::parse(&svg).expect("valid SVG");
    let frontier_csv = std::fs::read_to_string(out.join("data/frontier.csv")).unwrap();
    let rows = frontier_csv.lines().count() - 1;
    let drawn: usize = doc
        .descendants()
        .filter(|n| {
            n.attribute("id")
                .is_some_and(|id| id.starts_with("frontier-"))
        })
        .map(|n| n.descendants().filter(|c| c.has_tag_name("circle")).count())
        .sum();
    assert_eq!(drawn, rows);
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("<svg") && html.contains("lower perplexity"));
    assert!(dir.path().join("q.pipeline.lock").is_file());
    assert!(plan(dir.path()).iter().all(|e| e["action"] == "cached"));
}

#[test]
fn a_report_directory_shows_one_run_and_keeps_foreign_files() {
    let (dir, file) = quickstart();
    ok(&rooflaw(dir.path(), &["run", "q.pipeline"]));
    let out = dir.path().join("out/quickstart");
    std::fs::write(out.join("my-notes.txt"), "mine").unwrap();
    assert!(out.join("data/frontier.csv").is_file());
    // Stop reporting the frontier: its tables go, the user's file stays.
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("report best, frontier to", "report best to"),
    )
    .unwrap();
    ok(&rooflaw(dir.path(), &["run", "q.pipeline"]));
    assert!(!out.join("data/frontier.csv").exists());
    assert!(!out.join("data/frontier.json").exists());
    assert!(out.join("data/best.csv").is_file());
    assert!(out.join("index.html").is_file());
    assert_eq!(
        std::fs::read_to_string(out.join("my-notes.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn editing_a_budget_reruns_only_the_search_and_says_why() {
    let (dir, file) = quickstart();
    ok(&rooflaw(dir.path(), &["run", "-q", "q.pipeline"]));
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("latency.total <= 1.5 s", "latency.total <= 1200 ms"),
    )
    .unwrap();
    let p = plan(dir.path());
    assert_eq!(
        actions(&p),
        [
            ("candidates", "cached"),
            ("latency", "cached"),
            ("loss", "cached"),
            ("frontier", "cached"),
            ("best", "run")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let reason = p[4]["reason"].as_str().unwrap();
    assert_eq!(
        reason,
        "parameter `budget.latency.total` changed from `<= 1.5 s` to `<= 1.2 s`"
    );
    // `1000 ms` and `1 s` are the same value: no rerun for a spelling change.
    std::fs::write(
        &file,
        text.replace("latency.total <= 1.5 s", "latency.total <= 1500 ms"),
    )
    .unwrap();
    assert!(plan(dir.path()).iter().all(|e| e["action"] == "cached"));
    // Reverting makes everything cached again.
    std::fs::write(&file, &text).unwrap();
    assert!(plan(dir.path()).iter().all(|e| e["action"] == "cached"));
    let explain = rooflaw(dir.path(), &["explain", "q.pipeline", "best"]);
    ok(&explain);
}

#[test]
fn a_corrupt_object_is_detected_and_recomputed() {
    let (dir, _) = quickstart();
    ok(&rooflaw(dir.path(), &["run", "-q", "q.pipeline"]));
    let objects = dir.path().join(".rooflaw/objects");
    let mut corrupted = 0;
    for shard in std::fs::read_dir(&objects).unwrap() {
        for obj in std::fs::read_dir(shard.unwrap().path()).unwrap() {
            let p = obj.unwrap().path();
            let mut b = std::fs::read(&p).unwrap();
            let last = b.len() - 1;
            b[last] ^= 0x55;
            std::fs::write(&p, b).unwrap();
            corrupted += 1;
        }
    }
    assert!(corrupted > 0);
    let p = plan(dir.path());
    assert!(
        p.iter().any(|e| e["reason"]
            .as_str()
            .unwrap()
            .contains("output missing or corrupt")),
        "{p:?}"
    );
    ok(&rooflaw(dir.path(), &["run", "-q", "q.pipeline"]));
    ok(&rooflaw(
        dir.path(),
        &["cache", "--cache", ".rooflaw", "verify"],
    ));
    assert!(plan(dir.path()).iter().all(|e| e["action"] == "cached"));
}

const SLOW: &str = "stage fast = sleep(0 s)\nstage slow = sleep(3 s, after: fast)\n";

#[test]
fn a_killed_run_recovers_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.pipeline"), SLOW).unwrap();
    let mut child = command(dir.path())
        .args(["run", "-q", "q.pipeline"])
        .spawn()
        .unwrap();
    // Wait until `fast` is committed and `slow` is running, then kill -9.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let p = plan(dir.path());
        if p[0]["action"] == "cached" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "fast never finished");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let p = plan(dir.path());
    assert_eq!(
        actions(&p),
        [("fast", "cached"), ("slow", "run")].map(|(a, b)| (a.to_string(), b.to_string()))
    );
    ok(&rooflaw(dir.path(), &["run", "-q", "q.pipeline"]));
    assert!(plan(dir.path()).iter().all(|e| e["action"] == "cached"));
    ok(&rooflaw(
        dir.path(),
        &["cache", "--cache", ".rooflaw", "verify"],
    ));
}

#[test]
fn two_concurrent_runs_on_one_cache_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.pipeline"), SLOW.replace("3 s", "1 s")).unwrap();
    let spawn = || {
        command(dir.path())
            .args(["run", "-q", "q.pipeline"])
            .spawn()
            .unwrap()
    };
    let (mut a, mut b) = (spawn(), spawn());
    assert!(a.wait().unwrap().success());
    assert!(b.wait().unwrap().success());
    ok(&rooflaw(
        dir.path(),
        &["cache", "--cache", ".rooflaw", "verify"],
    ));
    assert!(plan(dir.path()).iter().all(|e| e["action"] == "cached"));
}

#[test]
fn locked_fails_when_the_run_would_change_the_lock_file() {
    let (dir, file) = quickstart();
    let locked = rooflaw(dir.path(), &["run", "-q", "--locked", "q.pipeline"]);
    assert!(!locked.status.success(), "no lock file yet");
    ok(&rooflaw(dir.path(), &["run", "-q", "q.pipeline"]));
    ok(&rooflaw(
        dir.path(),
        &["run", "-q", "--locked", "q.pipeline"],
    ));
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace("memory        <= 4 GiB", "memory        <= 3 GiB"),
    )
    .unwrap();
    let out = rooflaw(dir.path(), &["run", "-q", "--locked", "q.pipeline"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("best"));
}

#[test]
fn graph_exports_dot_and_mermaid() {
    let (dir, _) = quickstart();
    let dot = rooflaw(dir.path(), &["graph", "q.pipeline"]);
    ok(&dot);
    assert!(String::from_utf8_lossy(&dot.stdout).contains("\"latency\" -> \"frontier\""));
    let mermaid = rooflaw(dir.path(), &["graph", "q.pipeline", "--format", "mermaid"]);
    ok(&mermaid);
    assert!(String::from_utf8_lossy(&mermaid.stdout).contains("latency --> frontier"));
}

/// A tiny `measure` pipeline with `layers` as the space's layer list.
fn measure_pipeline(dir: &Path, layers: &str) {
    let text = format!(
        "workload w {{ batch = 1  prompt = 16 tokens  generate = 4 tokens  precision = fp32 }}\n\
         space tiny {{ layers = {layers}  width = 64  heads = 4  kv_heads = [2, 4]  ffn = 2  vocab = 256 }}\n\
         stage cands = enumerate(tiny)\n\
         stage timed = measure(cands, workload: w, repeats: 2, warmup: 0)\n\
         report timed to \"out\"\n"
    );
    std::fs::write(dir.join("m.pipeline"), text).unwrap();
}

#[test]
fn measure_times_each_candidate_once_and_only_new_ones_later() {
    let dir = tempfile::tempdir().unwrap();
    measure_pipeline(dir.path(), "[1, 2]");
    let out = rooflaw(dir.path(), &["run", "m.pipeline"]);
    ok(&out);
    let csv = std::fs::read_to_string(dir.path().join("out/data/timed.csv")).unwrap();
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(rows.count(), 4, "{csv}");
    for col in [
        "layers",
        "kv_heads",
        "precision",
        "prefill_ms",
        "decode_ms_per_token",
        "device",
    ] {
        assert!(header.contains(&col), "no {col} in {header:?}");
    }
    // One more layer count: only its two architectures are measured.
    measure_pipeline(dir.path(), "[1, 2, 3]");
    let out = rooflaw(dir.path(), &["run", "m.pipeline"]);
    ok(&out);
    let log = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("[2 run, 4 cached]"), "{log}");
}

/// `train(search)` trains the search's baseline (an inline shape here) and
/// its chosen design, and labels each run with its role and predictions.
#[test]
fn training_a_search_trains_the_baseline_and_the_chosen_design() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("q.pipeline"),
        r#"
hardware cpu { peak.fp32 = 80 GFLOPS  bandwidth = 15 GB/s  memory = 8 GiB }
workload w { batch = 1  prompt = 16  generate = 16  precision = fp32 }
space s { layers = [1, 2]  width = [32, 64]  heads = width / 16  vocab = 256  tied = 1 }
stage c = enumerate(s)
stage r = roofline(c, hardware: cpu, workload: w)
stage l = law("sun2026", extrapolate: true)
stage p = pareto(r, l)
stage b = search(p, baseline: { name: "tiny", layers: 2, width: 32, heads: 2, kv_heads: 1,
                                qkv_bias: 1, qk_norm: 0, tied: 1, vocab: 256 })
stage t = train(b, tokens: 2k, seq_len: 16, batch: 4)
stage m = measure(b, workload: w, repeats: 1, warmup: 0)
report t, b, m to "out"
"#,
    )
    .unwrap();
    ok(&rooflaw(dir.path(), &["run", "q.pipeline", "--quiet"]));
    let csv = std::fs::read_to_string(dir.path().join("out/data/t.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |row: &str, name: &str| -> String {
        let i = header.iter().position(|h| *h == name).unwrap();
        row.split(',').nth(i).unwrap().to_string()
    };
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert_eq!(col(rows[0], "role"), "baseline");
    assert_eq!(col(rows[0], "qkv_bias"), "1");
    assert_eq!(col(rows[0], "qk_norm"), "0");
    assert_eq!(col(rows[1], "role"), "best");
    for row in &rows {
        for c in ["val_ppl", "predicted_ppl", "predicted_latency_ms"] {
            let v: f64 = col(row, c).parse().unwrap();
            assert!(v.is_finite() && v > 0.0, "{c} = {v}");
        }
    }
    let summary = std::fs::read_to_string(dir.path().join("out/summary.md")).unwrap();
    assert!(summary.contains("Trained: the chosen design against the baseline"));
    // `measure(search)` times the same two designs; the table shows it.
    for role in ["baseline", "best"] {
        let row = summary
            .lines()
            .find(|l| l.starts_with(&format!("| {role} |")))
            .unwrap_or_else(|| panic!("no {role} row in\n{summary}"));
        let measured = row.split('|').nth(6).unwrap().trim();
        assert!(measured.ends_with('s') && measured != "–", "{row}");
    }
}
