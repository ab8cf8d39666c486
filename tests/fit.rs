//! `rooflaw fit` end to end: Epoch's Chinchilla data in, coefficients out.
use std::process::Command;

fn rooflaw(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_rooflaw"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap()
}

#[test]
fn fits_epochs_chinchilla_data_as_json() {
    let out = rooflaw(&[
        "fit",
        "pipelines/data/chinchilla-epoch.csv",
        "--form",
        "chinchilla",
        "--bootstrap",
        "20",
        "--holdout",
        "0.1",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let coef = |name: &str| {
        let c = json["coefficients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap();
        let (v, lo, hi) = (
            c["value"].as_f64().unwrap(),
            c["lo"].as_f64().unwrap(),
            c["hi"].as_f64().unwrap(),
        );
        assert!(lo <= v && v <= hi, "{name}: {v} not in [{lo}, {hi}]");
        v
    };
    // 216 of the 240 points (10% held out): near Epoch's E 1.817, α 0.348, β 0.366.
    assert!((coef("e") - 1.817).abs() < 0.05);
    assert!((coef("alpha") - 0.348).abs() < 0.02);
    assert!((coef("beta") - 0.366).abs() < 0.02);
    assert_eq!(json["train"]["n"], 216);
    assert_eq!(json["holdout"]["n"], 24);
    assert!(json["holdout"]["r2"].as_f64().unwrap() > 0.9);
    assert_eq!(json["converged"], true);
}

#[test]
fn text_output_names_every_coefficient() {
    let out = rooflaw(&[
        "fit",
        "pipelines/data/chinchilla-epoch.csv",
        "--form",
        "chinchilla",
        "--starts",
        "32",
        "--bootstrap",
        "0",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for name in ["e ", "a ", "b ", "alpha", "beta", "R²", "MAPE"] {
        assert!(text.contains(name), "{name} missing from\n{text}");
    }
}

#[test]
fn wrong_columns_are_a_clear_error() {
    let out = rooflaw(&[
        "fit",
        "pipelines/data/chinchilla-epoch.csv",
        "--form",
        "sun2026",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("no column `layers`")
            && err.contains("layers, width, ffn_ratio, rho, kv_dim, loss"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "params,tokens,loss\n1e8,1e9,3.1\n2e8,lots,2.9\n").unwrap();
    let out = rooflaw(&["fit", bad.to_str().unwrap(), "--form", "chinchilla"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("line 3")
            && err.contains("`tokens`")
            && err.contains("`lots` is not a number"),
        "{err}"
    );

    let missing = rooflaw(&["fit", "no/such/file.csv", "--form", "chinchilla"]);
    assert!(
        String::from_utf8(missing.stderr)
            .unwrap()
            .contains("no/such/file.csv")
    );
}
