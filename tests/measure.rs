//! `rooflaw measure` end to end on a tiny model: real timings of both
//! phases, the roofline beside them, and the CSV `calibrate` reads.
mod common;
use common::rooflaw;

const TINY: &[&str] = &[
    "measure",
    "--model",
    "qwen2.5-0.5b",
    "--layers",
    "2",
    "--width",
    "64",
    "--heads",
    "4",
    "--kv-heads",
    "2",
    "--ffn",
    "128",
    "--vocab",
    "512",
    "--prompt",
    "16",
    "--generate",
    "4",
    "--batch",
    "2",
    "--repeats",
    "3",
];

fn run(extra: &[&str]) -> String {
    let args: Vec<&str> = TINY.iter().chain(extra).copied().collect();
    let out = rooflaw(&args);
    common::ok(&out);
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn json_has_both_phases_and_the_prediction() {
    let v: serde_json::Value =
        serde_json::from_str(&run(&["--format", "json", "--hardware", "a100-80gb"])).unwrap();
    for k in ["prefill_ms", "decode_ms", "decode_ms_per_token"] {
        assert!(v[k].as_f64().unwrap() > 0.0, "{k}: {v}");
        assert!(v["predicted"][k].as_f64().unwrap() > 0.0, "{k}: {v}");
    }
    assert!(v["prefill_ms_min"].as_f64() <= v["prefill_ms"].as_f64());
    assert_eq!(v["layers"], 2);
    assert_eq!(v["width"], 64);
    assert_eq!(v["head_dim"], 16);
    assert_eq!(v["vocab"], 512);
    assert_eq!(v["precision"], "fp32");
    assert_eq!(v["repeats"], 3);
    assert_eq!(v["runs_ms"].as_array().unwrap().len(), 3);
    let per_token = v["decode_ms"].as_f64().unwrap() / 3.0;
    assert!((v["decode_ms_per_token"].as_f64().unwrap() - per_token).abs() < 1e-9);
    assert!(v["device"].as_str().unwrap().starts_with("cpu: "));
}

#[test]
fn csv_is_the_measurements_table_and_text_shows_errors() {
    let csv = run(&["--format", "csv", "--precision", "fp16"]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    let header: Vec<&str> = lines[0].split(',').collect();
    for col in [
        "layers",
        "kv_heads",
        "params",
        "precision",
        "batch",
        "prompt",
        "generate",
        "prefill_ms",
        "prefill_ms_min",
        "prefill_ms_max",
        "decode_ms",
        "decode_ms_min",
        "decode_ms_max",
        "decode_ms_per_token",
        "repeats",
        "device",
    ] {
        assert!(header.contains(&col), "no {col} in {header:?}");
    }
    assert!(lines[1].contains("fp16"));
    let text = run(&["--hardware", "a100-80gb"]);
    assert!(text.contains("prefill") && text.contains("decode per token"));
    assert!(
        text.contains("a100-80gb ms") && text.contains('%'),
        "{text}"
    );
}

#[test]
fn quantised_precisions_are_refused_by_name() {
    let args: Vec<&str> = TINY
        .iter()
        .chain(&["--precision", "w4a16"])
        .copied()
        .collect();
    let out = rooflaw(&args);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("w4a16") && err.contains("fp32, fp16 and bf16"),
        "{err}"
    );
}
