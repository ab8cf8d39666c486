//! `rooflaw hardware probe` end to end, and probed hardware in pipelines:
//! from a `probe` stage and from a file named by a `hardware` block.
use std::process::Output;

mod common;
use common::rooflaw_in as rooflaw;

fn ok(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
    );
    stderr
}

const SPACE: &str = "
workload w { batch = 1  prompt = 128 tokens  generate = 16 tokens  precision = [fp32] }
space s { layers = [2, 4]  width = [128, 256]  heads = width / 64  kv_heads = [1, heads]  ffn = [4]  vocab = 1000 }
stage cands = enumerate(s)
";

#[test]
fn a_probed_file_drives_the_roofline_command_and_a_pipeline_block() {
    let dir = tempfile::tempdir().unwrap();
    let out = rooflaw(
        dir.path(),
        &["hardware", "probe", "--quick", "-o", "boards/here.yaml"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "no such directory: {stderr}");
    assert!(stderr.contains("cannot write boards/here.yaml"), "{stderr}");
    std::fs::create_dir(dir.path().join("boards")).unwrap();
    let stderr = ok(&rooflaw(
        dir.path(),
        &[
            "hardware",
            "probe",
            "--quick",
            "--id",
            "here",
            "-o",
            "boards/here.yaml",
        ],
    ));
    assert!(stderr.contains("peak.fp32"), "{stderr}");
    let text = std::fs::read_to_string(dir.path().join("boards/here.yaml")).unwrap();
    assert!(text.contains("id: here"), "{text}");
    assert!(text.contains("rooflaw hardware probe"), "{text}");
    assert!(
        text.contains(" UTC"),
        "the method and date are recorded:\n{text}"
    );

    let out = rooflaw(
        dir.path(),
        &[
            "roofline",
            "--model",
            "qwen2.5-0.5b",
            "--hardware",
            "boards/here.yaml",
            "--precision",
            "fp32",
            "--format",
            "json",
        ],
    );
    ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.to_string().contains("here"), "{v}");

    // The same file as a pipeline's hardware, relative to the pipeline, with an override.
    let pipeline = format!(
        "hardware mine from \"boards/here.yaml\" {{ launch = 2 us }}\n{SPACE}stage lat = roofline(cands, hardware: mine, workload: w)\n"
    );
    std::fs::create_dir(dir.path().join("p")).unwrap();
    std::fs::write(dir.path().join("p/f.pipeline"), pipeline).unwrap();
    std::fs::rename(dir.path().join("boards"), dir.path().join("p/boards")).unwrap();
    ok(&rooflaw(dir.path(), &["run", "p/f.pipeline", "--quiet"]));

    // A missing file is an error at the block's `from`.
    std::fs::remove_file(dir.path().join("p/boards/here.yaml")).unwrap();
    let out = rooflaw(dir.path(), &["run", "p/f.pipeline", "--quiet"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("cannot use hardware file `boards/here.yaml`"),
        "{stderr}"
    );
}

#[test]
fn json_output_loads_back() {
    let dir = tempfile::tempdir().unwrap();
    let out = rooflaw(
        dir.path(),
        &["hardware", "probe", "--quick", "--format", "json", "-q"],
    );
    ok(&out);
    assert!(out.stderr.is_empty(), "--quiet prints nothing on stderr");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["peak"]["fp32"]["value"].is_string(), "{v}");
    std::fs::write(dir.path().join("hw.json"), &out.stdout).unwrap();
    ok(&rooflaw(
        dir.path(),
        &[
            "roofline",
            "--model",
            "qwen2.5-0.5b",
            "--hardware",
            "hw.json",
            "--precision",
            "fp32",
        ],
    ));
}

#[test]
fn a_probe_stage_feeds_the_roofline_and_is_reused() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = format!(
        "stage hw = probe(quick: true)\n{SPACE}stage lat = roofline(cands, hardware: hw, workload: w)\nreport lat to \"out\"\n"
    );
    std::fs::write(dir.path().join("p.pipeline"), pipeline).unwrap();
    ok(&rooflaw(dir.path(), &["run", "p.pipeline", "--quiet"]));
    let meta = std::fs::read_to_string(dir.path().join("out/data/lat.meta.json")).unwrap();
    assert!(
        meta.contains("\"id\": \"hw\""),
        "the probed hardware is recorded: {meta}"
    );

    // Same machine: the probe is cached, nothing runs again.
    let out = rooflaw(dir.path(), &["plan", "p.pipeline", "--format", "json"]);
    ok(&out);
    let plan: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    for e in &plan {
        assert_eq!(e["action"], "cached", "{e}");
    }
}

#[test]
fn a_stage_that_is_not_hardware_is_refused_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let pipeline = format!("{SPACE}stage lat = roofline(cands, hardware: cands, workload: w)\n");
    std::fs::write(dir.path().join("p.pipeline"), pipeline).unwrap();
    let out = rooflaw(dir.path(), &["plan", "p.pipeline"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("`cands` is a stage of kind `enumerate`"),
        "{stderr}"
    );
}
