//! `rooflaw check` end to end: exit codes, rendered and JSON diagnostics.
mod common;
use common::rooflaw;

#[test]
fn the_bundled_example_is_valid() {
    let out = rooflaw(&[
        "check",
        "pipelines/example.pipeline",
        "pipelines/hardware/orin.pipeline",
        "pipelines/quickstart.pipeline",
        "pipelines/orin-paper.pipeline",
        "pipelines/tiny-codesign.pipeline",
        "bench/million.pipeline",
        "bench/calibrate-cpu/calibrate-cpu.pipeline",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("ok: 7 file(s) checked"), "{stderr}");
}

#[test]
fn summary_shows_the_lowered_spec() {
    let out = rooflaw(&["check", "--summary", "pipelines/example.pipeline"]);
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("budget car { latency.total <= 100 ms; memory <= 8 GiB }"),
        "{stdout}"
    );
    assert!(
        stdout.contains("stage best = search(designs: stage frontier, budget: budget car)"),
        "{stdout}"
    );
}

#[test]
fn an_invalid_file_exits_1_with_rendered_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.pipeline");
    std::fs::write(&path, "hardware h {\n  launch = 100\n}\n").unwrap();
    let out = rooflaw(&["check", path.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("expected a unit of time after `100`"),
        "{stderr}"
    );
    assert!(stderr.contains("bad.pipeline:2:12"), "{stderr}");
}

#[test]
fn json_lists_every_diagnostic_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.pipeline");
    std::fs::write(
        &path,
        "use \"missing.pipeline\"\nbudget b { memory <= 8 ms }\n",
    )
    .unwrap();
    let out = rooflaw(&["check", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    let diags = json.as_array().expect("an array");
    let summary: Vec<(String, u64, u64)> = diags
        .iter()
        .map(|d| {
            (
                d["code"].as_str().unwrap().to_string(),
                d["line"].as_u64().unwrap(),
                d["column"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("rooflaw::import".to_string(), 1, 5),
            ("rooflaw::unit-mismatch".to_string(), 2, 24)
        ]
    );
}

#[test]
fn an_unreadable_file_is_reported_not_a_crash() {
    let out = rooflaw(&["check", "--format", "json", "does/not/exist.pipeline"]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json[0]["code"], "rooflaw::io");
    assert_eq!(json[0]["file"], "does/not/exist.pipeline");
}

/// `tests/fixtures/stages/*.pipeline`: files the language accepts but whose
/// stage arguments the stage kinds reject (custom law forms, inline
/// baselines). Each carries one `# error: L:C-L:C MESSAGE` comment per
/// expected diagnostic, as the dsl's fixtures do; `rooflaw check` must
/// report exactly those.
#[test]
fn stage_argument_fixtures_report_exactly_their_annotations() {
    let dir = std::path::Path::new("tests/fixtures/stages");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pipeline"))
        .collect();
    files.sort();
    assert!(files.len() >= 2);
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let mut expected: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim_start().strip_prefix("# error: "))
            .map(str::to_string)
            .collect();
        let out = rooflaw(&["check", "--format", "json", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", path.display());
        let json: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        let mut got: Vec<String> = json
            .iter()
            .map(|d| {
                format!(
                    "{}:{}-{}:{} {}",
                    d["line"],
                    d["column"],
                    d["end_line"],
                    d["end_column"],
                    d["message"].as_str().unwrap()
                )
            })
            .collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "{}", path.display());
    }
}

/// `device: cuda` trained in this process needs a build with CUDA; the
/// same setting on Slurm is left to the cluster's rooflaw (the fixture
/// `train_device.pipeline` checks that it passes).
#[cfg(not(feature = "cuda"))]
#[test]
fn a_gpu_asked_of_a_build_without_cuda_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gpu.pipeline");
    std::fs::write(
        &path,
        "space s { layers = [2]  width = [64]  heads = 2  kv_heads = 1  ffn = 2  vocab = 256 }\n\
         stage k = enumerate(s)\n\
         stage r = train(k, tokens: 1M, device: cuda)\n",
    )
    .unwrap();
    let out = rooflaw(&["check", "--format", "json", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 1, "{json}");
    let d = &json[0];
    assert_eq!(d["code"], "rooflaw::invalid-value");
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(3), Some(40))
    );
    assert!(
        d["message"]
            .as_str()
            .unwrap()
            .contains("built without CUDA"),
        "{d}"
    );
    assert!(
        d["help"].as_str().unwrap().contains("--features cuda"),
        "{d}"
    );
}
