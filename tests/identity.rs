//! Cache keys are content: comments, blank lines and the order of
//! declarations never rerun a stage, floats read back equal, a stage's
//! output bytes are the same computed or read from the cache, inputs of the
//! wrong kind fail at `check`, and Ctrl-C leaves a cache the next run resumes.
use std::path::Path;
use std::process::Output;

use proptest::prelude::*;

mod common;
use common::{ok, run_statuses};

fn rooflaw(dir: &Path, args: &[&str]) -> Output {
    let mut c = common::command(dir);
    c.env("ROOFLAW_TEST_STAGES", "1");
    c.args(args).output().expect("rooflaw runs")
}

/// A bundled pipeline (and the files it `use`s) copied as `q.pipeline`.
fn bundled(name: &str) -> tempfile::TempDir {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        root.join(format!("{name}.pipeline")),
        dir.path().join("q.pipeline"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("hardware")).unwrap();
    std::fs::copy(
        root.join("hardware/orin.pipeline"),
        dir.path().join("hardware/orin.pipeline"),
    )
    .unwrap();
    dir
}

fn pipeline_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("q.pipeline")).unwrap()
}

/// (stage, action, reason) of each stage in `rooflaw plan`.
fn plan(dir: &Path) -> Vec<(String, String, String)> {
    let out = ok(&rooflaw(dir, &["plan", "q.pipeline", "--format", "json"]));
    let v: Vec<serde_json::Value> = serde_json::from_str(&out).unwrap();
    v.iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap_or_default().to_string();
            (s("stage"), s("action"), s("reason"))
        })
        .collect()
}

fn assert_all_cached(dir: &Path, after: &str) {
    let p = plan(dir);
    assert!(
        p.iter().all(|(_, action, _)| action == "cached"),
        "after {after}: {p:#?}"
    );
}

fn stages(dir: &Path) -> Vec<String> {
    plan(dir).into_iter().map(|(s, ..)| s).collect()
}

#[test]
fn comments_blank_lines_and_declaration_order_rerun_nothing() {
    let dir = bundled("quickstart");
    ok(&rooflaw(dir.path(), &["run", "-q", "q.pipeline"]));
    let text = pipeline_text(dir.path());

    let commented = format!(
        "# a comment that moves every declaration down\n\n{}",
        text.replace("\n\n", "\n\n\n# between declarations\n\n")
            .replace("batch     = 1", "batch     = 1   # one request")
    );
    std::fs::write(dir.path().join("q.pipeline"), &commented).unwrap();
    assert_all_cached(dir.path(), "comments and blank lines");

    // Declarations in reverse order (the report line last), stages too.
    let mut blocks: Vec<&str> = text.trim_end().split("\n\n").collect();
    let report = blocks.pop().unwrap();
    let stage_block = blocks.pop().unwrap();
    let mut stage_lines: Vec<&str> = stage_block.lines().collect();
    stage_lines.reverse();
    let stages_reversed = stage_lines.join("\n");
    let mut reordered = vec![stages_reversed.as_str()];
    reordered.extend(blocks.iter().rev());
    reordered.push(report);
    std::fs::write(dir.path().join("q.pipeline"), reordered.join("\n\n") + "\n").unwrap();
    assert_all_cached(dir.path(), "reordering declarations");
}

/// After a run, `explain` finds every stage's manifest equal to the one
/// stored: floats (launch 5 us, efficiencies, law coefficients, budgets with
/// long mantissas) read back bit for bit.
#[test]
fn every_float_parameter_round_trips_through_the_manifest() {
    let dir = bundled("example");
    let text = pipeline_text(dir.path()).replace(
        "budget car { latency.total <= 100 ms  memory <= 8 GiB }",
        "budget car { latency.total <= 100.00000000000001 ms  memory <= 7.3 GiB }",
    );
    std::fs::write(dir.path().join("q.pipeline"), text).unwrap();
    ok(&rooflaw(dir.path(), &["run", "-q", "q.pipeline"]));
    assert_all_cached(dir.path(), "a run");
    for stage in stages(dir.path()) {
        let out = ok(&rooflaw(dir.path(), &["explain", "q.pipeline", &stage]));
        assert!(
            out.contains("manifest unchanged since the last run"),
            "{stage}: {out}"
        );
    }
}

/// The lock file (every stage's key and output hash) and the bytes of every
/// exported data file (`best.meta.json` holds full-precision floats).
fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = vec![dir.join("q.pipeline.lock")];
    for report in std::fs::read_dir(dir.join("out")).unwrap() {
        let data = report.unwrap().path().join("data");
        files.extend(std::fs::read_dir(data).unwrap().map(|e| e.unwrap().path()));
    }
    files.sort();
    files
        .into_iter()
        .map(|f| (f.display().to_string(), std::fs::read(&f).unwrap()))
        .collect()
}

/// Every stage recomputed from inputs read back from the cache (`--force
/// STAGE`) gives the bytes it gave when its inputs came from memory.
#[test]
fn outputs_are_the_same_computed_or_read_from_the_cache() {
    for name in ["quickstart", "example"] {
        let dir = bundled(name);
        ok(&rooflaw(dir.path(), &["run", "-q", "q.pipeline"]));
        let first = outputs(dir.path());
        assert!(first.len() > 2, "{name}: {first:?}");
        ok(&rooflaw(
            dir.path(),
            &["run", "-q", "--force-all", "q.pipeline"],
        ));
        assert!(outputs(dir.path()) == first, "{name}: --force-all");
        for stage in stages(dir.path()) {
            ok(&rooflaw(
                dir.path(),
                &["run", "-q", "--force", &stage, "q.pipeline"],
            ));
            assert!(outputs(dir.path()) == first, "{name}: --force {stage}");
        }
    }
}

#[test]
fn a_changed_space_is_explained_in_the_language() {
    let dir = bundled("quickstart");
    ok(&rooflaw(dir.path(), &["run", "-q", "q.pipeline"]));
    let text = pipeline_text(dir.path());
    std::fs::write(
        dir.path().join("q.pipeline"),
        text.replace("768 .. 2048 step 256", "768 .. 2048 step 128"),
    )
    .unwrap();
    let p = plan(dir.path());
    assert_eq!(
        p[0].2,
        "space small: width 768 .. 2048 step 256 → 768 .. 2048 step 128"
    );
}

fn check(text: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("q.pipeline"), text).unwrap();
    let out = rooflaw(dir.path(), &["check", "q.pipeline"]);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_rejects_a_stage_fed_the_wrong_kind_of_input() {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/quickstart.pipeline"),
    )
    .unwrap();
    let pareto = text.replace("pareto(latency, loss", "pareto(candidates, loss");
    let (code, err) = check(&pareto);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("rooflaw::input-kind"), "{err}");
    assert!(
        err.contains("`pareto`'s `latency` takes latency, but `candidates` is a `enumerate` stage"),
        "{err}"
    );
    assert!(err.contains("pass a `roofline` stage"), "{err}");

    let search = text.replace("search(frontier,", "search(loss,");
    let (code, err) = check(&search);
    assert_eq!(code, Some(1), "{err}");
    assert!(
        err.contains("`search`'s `designs` takes frontier or latency"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn sigint_during_a_slow_stage_keeps_the_cache_and_the_next_run_resumes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("q.pipeline"),
        "stage fast = sleep(0 s)\nstage slow = sleep(5 s, after: fast)\n",
    )
    .unwrap();
    let mut run = common::command(dir.path());
    run.env("ROOFLAW_TEST_STAGES", "1")
        .args(["run", "-q", "q.pipeline"]);
    let out = common::interrupt_when(run, || plan(dir.path())[0].1 == "cached");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert!(
        stderr.contains("finished (kept in the cache): `fast`"),
        "{stderr}"
    );
    assert_eq!(run_statuses(dir.path()), ["cancelled"]);
    ok(&rooflaw(
        dir.path(),
        &["cache", "--cache", ".rooflaw", "verify"],
    ));
    let p = plan(dir.path());
    assert_eq!((p[0].1.as_str(), p[1].1.as_str()), ("cached", "run"));
    ok(&rooflaw(dir.path(), &["run", "-q", "q.pipeline"]));
    assert_eq!(run_statuses(dir.path()), ["cancelled", "finished"]);
    assert_all_cached(dir.path(), "the resumed run");
}

/// A small quickstart variant: a space, a budget with arbitrary floats, a
/// precision list.
fn variant(layers_max: u32, step: u32, latency_s: f64, memory_gib: f64, w4: bool) -> String {
    format!(
        "hardware nano from \"jetson-orin-nano-8gb\" {{}}\n\
         workload chat {{ batch = 1  prompt = 128 tokens  generate = 16 tokens  precision = {} }}\n\
         space s {{\n  layers = 4 .. {layers_max} step 4\n  width = 512 .. 1024 step {step}\n  \
         heads = width / 64\n  kv_heads = [1, heads]\n  ffn = [2, 4]\n  vocab = 32000\n}}\n\
         budget b {{ latency.total <= {latency_s} s  memory <= {memory_gib} GiB }}\n\
         stage c = enumerate(s)\n\
         stage l = roofline(c, hardware: nano, workload: chat)\n\
         stage law = law(\"sun2026\")\n\
         stage f = pareto(l, law, objective: total)\n\
         stage best = search(f, budget: b, baseline: \"qwen2.5-0.5b\")\n",
        if w4 { "[fp16, w4a16]" } else { "fp16" }
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    /// Whatever ran, `plan` right after it has nothing to do.
    #[test]
    fn plan_after_any_run_is_all_cached(
        layers_max in 8u32..=16,
        step in prop::sample::select(vec![64u32, 128, 256]),
        latency_s in 0.05f64..3.0,
        memory_gib in 0.5f64..8.0,
        w4 in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("q.pipeline"),
            variant(layers_max, step, latency_s, memory_gib, w4),
        )
        .unwrap();
        ok(&rooflaw(dir.path(), &["run", "-q", "q.pipeline"]));
        assert_all_cached(dir.path(), "a run");
    }
}

/// 64-hex-digit keys and hashes replaced, so snapshots follow content
/// changes in the output's shape, not every stdlib parameter.
fn redact(s: &str) -> String {
    let mut out = String::new();
    let mut run = String::new();
    for c in s.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_hexdigit() {
            run.push(c);
            continue;
        }
        if run.len() == 64 {
            out.push_str("[hash]");
        } else {
            out.push_str(&run);
        }
        run.clear();
        out.push(c);
    }
    out.pop();
    out
}

#[test]
fn quickstart_plan_and_explain_snapshots() {
    let dir = bundled("quickstart");
    let text = |args: &[&str]| redact(&ok(&rooflaw(dir.path(), args)));
    insta::assert_snapshot!("plan_fresh", text(&["plan", "q.pipeline"]));
    ok(&rooflaw(dir.path(), &["run", "-q", "q.pipeline"]));
    insta::assert_snapshot!("plan_after_run", text(&["plan", "q.pipeline"]));
    insta::assert_snapshot!(
        "explain_after_run",
        text(&["explain", "q.pipeline", "latency"])
    );
    let edited = pipeline_text(dir.path())
        .replace("768 .. 2048 step 256", "768 .. 2048 step 128")
        .replace("latency.total <= 1.5 s", "latency.total <= 1200 ms")
        .replace("require heads % kv_heads == 0", "require kv_heads <= 4");
    std::fs::write(dir.path().join("q.pipeline"), edited).unwrap();
    insta::assert_snapshot!("plan_after_edit", text(&["plan", "q.pipeline"]));
    insta::assert_snapshot!(
        "explain_after_edit",
        text(&["explain", "q.pipeline", "candidates"])
    );
    insta::assert_snapshot!(
        "explain_best_after_edit",
        text(&["explain", "q.pipeline", "best"])
    );
}
