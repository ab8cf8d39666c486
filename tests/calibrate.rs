//! `rooflaw calibrate` end to end: measurements synthesised by the roofline
//! on a known machine are calibrated back from a wrong starting point, and
//! `--write` puts the fitted figures into the hardware file.
use std::fmt::Write as _;
use std::path::Path;

mod common;
use common::rooflaw;

use rooflaw_stdlib::roofline::evaluate;
use rooflaw_stdlib::{Architecture, Attention, Experts, Hardware, Precision, Workload};

const HARDWARE: &str = "\
id: test-cpu
name: Test CPU
peak:
  fp32:
    value: 200 GFLOPS
    source: made up for the test
bandwidth: 20 GB/s
memory: 16 GB
efficiency: {compute: 1.0, memory: 1.0}
launch: 0 s
";

/// The CSV the measure stage exports, with latencies the roofline predicts
/// on `truth` (unfused attention, as candle runs it) times a little noise.
fn measurements(truth: &Hardware) -> String {
    let mut csv = String::from(
        "layers,width,heads,kv_heads,head_dim,ffn,experts,top_k,shared_experts,shared_ffn,vocab,tied,gated,qk_norm,\
         ffn_ratio,params,params_active,precision,batch,prompt,generate,prefill_ms,decode_ms,decode_ms_per_token,repeats,device\n",
    );
    let precision = Precision::parse("fp32").unwrap();
    let mut wl = Workload::new(1, 128, 32, precision);
    wl.attention = Attention::Unfused;
    wl.experts = Experts::Looped;
    let mut k = 0u32;
    for width in [64u32, 128, 256, 512] {
        for layers in [2u32, 4, 8] {
            for moe in [false, true] {
                k += 1;
                let heads = width / 32;
                let mut a = Architecture::dense(
                    layers,
                    width,
                    heads,
                    [1, 2, heads][k as usize % 3],
                    3 * width,
                );
                a.vocab = 2048;
                if moe {
                    a.experts = 4;
                    a.top_k = 2;
                    a.ffn = width;
                }
                let r = evaluate(&a, truth, &wl).unwrap();
                // ±2% deterministic wobble.
                let noise = 1.0 + 0.02 * (f64::from(k) * 2.4).sin();
                let _ = writeln!(
                    csv,
                    "{},{},{},{},{},{},{},{},0,0,{},0,1,0,{},{},{},fp32,1,128,32,{},{},{},5,cpu: test",
                    a.layers,
                    a.width,
                    a.heads,
                    a.kv_heads,
                    a.head_dim,
                    a.ffn,
                    a.experts,
                    a.top_k,
                    a.vocab,
                    a.ffn_ratio(),
                    a.params_total(),
                    a.params_active(),
                    r.prefill * 1e3 * noise,
                    r.decode * 1e3 / noise,
                    r.decode_per_token * 1e3 / noise,
                );
            }
        }
    }
    csv
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn calibrates_back_a_known_machine_and_writes_it() {
    let dir = tempfile::tempdir().unwrap();
    let hw_path = write(dir.path(), "cpu.yaml", HARDWARE);
    let mut truth = rooflaw_stdlib::hardware::load(Path::new(&hw_path))
        .unwrap()
        .hardware;
    truth.efficiency_compute = 0.4;
    truth.efficiency_memory = 0.7;
    truth.efficiency_vector = Some(0.2);
    truth.launch = 10e-6;
    let csv = write(dir.path(), "m.csv", &measurements(&truth));

    let out = rooflaw(&["calibrate", &csv, "--hardware", &hw_path, "--write"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("held out") && stdout.contains("decode"),
        "{stdout}"
    );
    assert!(
        stdout.contains("calibrated on 12 of 24 runs measured on cpu: test"),
        "{stdout}"
    );

    let back = rooflaw_stdlib::hardware::load(Path::new(&hw_path)).unwrap();
    let h = &back.hardware;
    assert!((h.efficiency_compute - 0.4).abs() < 0.03, "{h:?}");
    assert!((h.efficiency_memory - 0.7).abs() < 0.05, "{h:?}");
    assert!((h.vector_efficiency() - 0.2).abs() < 0.02, "{h:?}");
    assert!((h.launch - 10e-6).abs() < 1.5e-6, "{h:?}");
    let src = back.sources.launch.as_ref().unwrap();
    assert!(
        src.source
            .starts_with("calibrated by rooflaw on 24 measurements ("),
        "{src:?}"
    );
    // The peak kept its own source.
    assert_eq!(
        back.sources.peak.values().next().unwrap().source,
        "made up for the test"
    );

    // JSON: held-out metrics after calibration are at the noise level.
    let out = rooflaw(&[
        "calibrate",
        &csv,
        "--hardware",
        &hw_path,
        "--format",
        "json",
        "--seed",
        "3",
    ]);
    common::ok(&out);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let after = &v["calibration"]["on_heldout"]["after"];
    assert!(
        after["overall"]["median_ape"].as_f64().unwrap() < 3.0,
        "{after}"
    );
    assert!(
        after["decode"]["spearman"].as_f64().unwrap() > 0.95,
        "{after}"
    );
    assert_eq!(v["calibration"]["heldout"].as_array().unwrap().len(), 12);
}

#[test]
fn write_needs_a_file_and_bad_csvs_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let csv = write(dir.path(), "m.csv", "layers,width\n2,64\n");
    let out = rooflaw(&[
        "calibrate",
        &csv,
        "--hardware",
        "jetson-orin-nano-8gb",
        "--write",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--write needs --hardware to be a YAML file"),
        "{err}"
    );
    let out = rooflaw(&["calibrate", &csv, "--hardware", "jetson-orin-nano-8gb"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("m.csv") && err.contains("`batch`"), "{err}");
}

#[test]
fn pipeline_stage_calibrates_and_reports_the_validation() {
    let dir = tempfile::tempdir().unwrap();
    let mut truth = rooflaw_stdlib::hardware::from_yaml(HARDWARE)
        .unwrap()
        .hardware;
    truth.efficiency_compute = 0.4;
    truth.efficiency_memory = 0.7;
    truth.launch = 10e-6;
    write(dir.path(), "m.csv", &measurements(&truth));
    let pipeline = write(
        dir.path(),
        "cal.pipeline",
        "hardware cpu {\n  name = \"Test CPU\"\n  peak.fp32 = 200 GFLOPS\n  bandwidth = 20 GB/s\n  memory = 16 GB\n  \
         efficiency.compute = 1\n  efficiency.memory = 1\n  efficiency.vector = 1\n  launch = 0 s\n}\n\
         stage runs = measurements(\"m.csv\")\n\
         stage cal = calibrate(runs, hardware: cpu, holdout: 0.5, seed: 0)\n\
         report cal to \"out\"\n",
    );
    let out = common::rooflaw_in(dir.path(), &["run", &pipeline]);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let html = std::fs::read_to_string(dir.path().join("out/index.html")).unwrap();
    assert!(html.contains("id=\"calibration\""), "before/after table");
    assert!(html.contains("Test CPU (calibrated)"), "hardware line");
    assert!(html.contains("launch (µs)"), "fitted figures");
    assert!(html.contains("efficiency_vector"), "fitted figures");
    let svg = std::fs::read_to_string(dir.path().join("out/validation_latency.svg")).unwrap();
    // 24 runs × 2 phases, half of the runs held out.
    assert!(
        svg.contains("id=\"points-heldout\" class=\"agreement\" data-points=\"24\""),
        "{svg}"
    );
}

/// llama-bench's documented outputs calibrate a llama.cpp profile, and the
/// profile predicts with `--runtime profile.yaml`.
#[test]
fn llama_bench_output_calibrates_a_runtime_profile() {
    let fx = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/llama-bench");
    let dir = tempfile::tempdir().unwrap();
    let hw = fx.join("rtx-4080.yaml");
    let hw = hw.to_str().unwrap();
    let config = fx.join("qwen2.5-7b-config.json");
    let config = config.to_str().unwrap();
    for file in ["bench.json", "bench.jsonl", "bench.csv", "table.csv"] {
        let profile = dir.path().join(format!("{file}.yaml"));
        let out = rooflaw(&[
            "calibrate",
            fx.join(file).to_str().unwrap(),
            "--hardware",
            hw,
            "--runtime",
            "llama.cpp",
            "--model",
            config,
            "-o",
            profile.to_str().unwrap(),
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("calibrated on 2 measurements"), "{stdout}");
        let text = std::fs::read_to_string(&profile).unwrap();
        assert!(text.contains("rooflaw calibrate"), "{text}");

        let out = rooflaw(&[
            "roofline",
            "--model",
            config,
            "--hardware",
            hw,
            "--runtime",
            profile.to_str().unwrap(),
            "--precision",
            "w4a16",
            "--prompt",
            "512",
            "--generate",
            "129",
            "--format",
            "json",
        ]);
        common::ok(&out);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // The profile was fitted to 8.4 ms per generated token (118.9 t/s):
        // it predicts that, within the Q4_K_M-vs-w4a16 byte difference.
        let per_token = v["decode_ms_per_token"].as_f64().unwrap();
        assert!((6.0..11.0).contains(&per_token), "{file}: {per_token}");
        assert!(v["decode_ms_per_token_lo"].as_f64().unwrap() <= per_token);
        assert!(v["decode_ms_per_token_hi"].as_f64().unwrap() >= per_token);
        assert_eq!(v["runtime"], "llama.cpp");
    }
    // A pipeline names the profile relative to itself (checked from
    // another directory), and a missing one is located in the file.
    let pipeline = dir.path().join("p.pipeline");
    let text = "hardware h from \"h.yaml\" {}\n\
        workload w { prompt = 512  generate = 129  precision = w4a16  runtime = \"bench.json.yaml\" }\n\
        workload x { prompt = 512  generate = 129  precision = w4a16  runtime = \"nowhere.yaml\" }\n\
        space s { layers = [2]  width = [256]  vocab = 1024 }\n\
        stage k = enumerate(s)\n\
        stage r = roofline(k, hardware: h, workload: w)\n\
        stage q = roofline(k, hardware: h, workload: x)\n";
    std::fs::copy(fx.join("rtx-4080.yaml"), dir.path().join("h.yaml")).unwrap();
    std::fs::write(&pipeline, text).unwrap();
    let out = rooflaw(&["check", "--format", "json", pipeline.to_str().unwrap()]);
    let diags: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diags = diags.as_array().unwrap();
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0]["line"], 3, "{diags:?}");
    assert!(
        diags[0]["message"]
            .as_str()
            .unwrap()
            .contains("nowhere.yaml"),
        "{diags:?}"
    );
}

#[test]
fn bad_measurement_files_name_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("bad.jsonl");
    std::fs::write(&f, "{\"avg_ns\": 5, \"n_prompt\": 512, \"n_gen\": 128}\n").unwrap();
    let out = rooflaw(&[
        "calibrate",
        f.to_str().unwrap(),
        "--hardware",
        "rtx-4090",
        "--runtime",
        "llama.cpp",
        "--model",
        "llama-3.1-8b",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("record 1") && err.contains("ppN"), "{err}");
}
