//! `rooflaw fit` end to end: Epoch's Chinchilla data in, coefficients out.
use std::fmt::Write as _;

mod common;
use common::rooflaw;

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
    common::ok(&out);
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
    common::ok(&out);
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
        err.contains(
            "the sun2026 form reads columns layers, width, ffn_ratio, rho, kv_dim, loss; \
                 missing `layers`, `width`, `ffn_ratio`, `rho`, `kv_dim`;"
        ),
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

/// A custom form written in a pipeline, fitted through the `fit` stage to
/// synthetic `measurements(...)` of known coefficients, recovers them; the
/// fitted law then scores a search like a preset law does.
#[test]
fn a_custom_form_in_a_pipeline_recovers_known_coefficients_and_drives_search() {
    let (e, a, alpha) = (1.8, 300.0, 0.32);
    let law = |n: f64| e + a / n.powf(alpha);
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("params,loss\n");
    for i in 0..30 {
        let n = 10f64.powf(6.0 + 3.0 * f64::from(i) / 29.0);
        writeln!(csv, "{n},{}", law(n)).unwrap();
    }
    std::fs::write(dir.path().join("runs.csv"), csv).unwrap();
    std::fs::write(
        dir.path().join("c.pipeline"),
        r#"
hardware gpu from "a100-80gb" {}
workload w { batch = 1  prompt = 64  generate = 16  precision = fp16 }
space s { layers = [2, 4, 8]  width = [256, 512, 1024]  vocab = 32000 }
stage m = measurements("runs.csv")
stage f = fit(m, form: e + a / params ** alpha,
              coefs: { e: 0 .. 10, a: 0 .. 1e5, alpha: 0 .. 2 },
              holdout: 0.2, bootstrap: 0, starts: 64)
stage l = law(f)
stage c = enumerate(s)
stage r = roofline(c, hardware: gpu, workload: w)
stage p = pareto(r, l)
stage b = search(p, baseline: { name: "small", layers: 2, width: 256, vocab: 32000 })
report f, b to "out"
"#,
    )
    .unwrap();
    let out = common::rooflaw_in(dir.path(), &["run", "c.pipeline", "--quiet"]);
    common::ok(&out);
    let read = |f: &str| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("out/data").join(f)).unwrap())
            .unwrap()
    };
    let fit = read("f.json");
    let coef = |name: &str| {
        fit["coefficients"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["value"]
            .as_f64()
            .unwrap()
    };
    for (name, want) in [("e", e), ("a", a), ("alpha", alpha)] {
        let got = coef(name);
        assert!((got - want).abs() <= 0.01 * want, "{name}: {got} vs {want}");
    }
    assert!(fit["holdout"]["r2"].as_f64().unwrap() > 0.999);
    // 20% of 30 runs held out, and drawn hollow in the report's scatter.
    assert_eq!(fit["heldout"].as_array().unwrap().len(), 6);
    let svg = std::fs::read_to_string(dir.path().join("out/fit_loss.svg")).unwrap();
    assert!(
        svg.contains("id=\"points-heldout\" class=\"agreement\" data-points=\"6\""),
        "{svg}"
    );

    // Every searched design is scored with the fitted custom law, and the
    // inline baseline is compared with at its own latency.
    let best = read("b.json");
    let rows = best.as_array().unwrap();
    assert!(!rows.is_empty());
    let fitted = |n: f64| coef("e") + coef("a") / n.powf(coef("alpha"));
    for row in rows {
        let n = row["params"].as_f64().unwrap();
        let loss = row["loss"].as_f64().unwrap();
        assert!((loss - fitted(n)).abs() < 1e-9, "{loss} vs {}", fitted(n));
    }
    let meta = read("b.meta.json");
    let base = &meta["baseline"][0];
    assert_eq!(base["id"], "small");
    assert_eq!(base["arch"]["layers"], 2);
    // Without a budget the designs are held to the baseline's latency, and
    // this baseline is the space's fastest design: the answer can be no
    // worse than the baseline itself.
    assert!(base["loss"].as_f64().unwrap() >= rows[0]["loss"].as_f64().unwrap());
}

/// A measurements file that lacks columns fails `rooflaw check`, in one
/// diagnostic naming the file, the form and every missing column; one that
/// has only the form's columns (semicolon-separated) fits.
#[test]
fn measurements_need_only_the_forms_columns_and_check_names_all_missing() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("runs.csv"), "layers;heads;loss\n4;4;3.1\n").unwrap();
    let pipeline = "stage m = measurements(\"runs.csv\")\nstage f = fit(m, form: chinchilla)\n";
    std::fs::write(dir.path().join("f.pipeline"), pipeline).unwrap();
    let out = common::rooflaw_in(dir.path(), &["check", "f.pipeline"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("runs.csv: the chinchilla form reads columns params, tokens, loss; missing `tokens`, `params`"),
        "{err}"
    );
    assert_eq!(err.matches("rooflaw::missing-column").count(), 1, "{err}");

    let mut csv = String::from("params;tokens;loss\n");
    for i in 0..12 {
        let (n, d) = (1e6 * f64::from(i + 1), 2e7 * f64::from(12 - i));
        writeln!(
            csv,
            "{n};{d};{}",
            1.7 + 400.0 / n.powf(0.34) + 410.0 / d.powf(0.28)
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("runs.csv"), csv).unwrap();
    let out = common::rooflaw_in(dir.path(), &["run", "f.pipeline", "--quiet"]);
    common::ok(&out);
}

/// A coefficient the data cannot pin down (here `b`, of a term the losses do
/// not follow) ends at its bound, and the fit says so.
#[test]
fn a_coefficient_at_its_bound_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("runs.csv");
    let mut csv = String::from("params,tokens,loss\n");
    for i in 0..12 {
        let n = 1e6 * f64::from(i + 1);
        writeln!(csv, "{n},1e9,{}", 2.0 + 300.0 / n.powf(0.3)).unwrap();
    }
    std::fs::write(&bad, csv).unwrap();
    std::fs::write(
        dir.path().join("f.pipeline"),
        "stage m = measurements(\"runs.csv\")\n\
         stage f = fit(m, form: e + a / params ** alpha + b * params,\n\
                       coefs: { e: 0 .. 10, a: 0 .. 1e5, alpha: 0 .. 2, b: 0 .. 1 }, bootstrap: 0)\n",
    )
    .unwrap();
    let out = common::rooflaw_in(dir.path(), &["run", "f.pipeline", "--quiet"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("warning: f: coefficient `b`"), "{err}");
    assert!(err.contains("sits at a bound"), "{err}");
}

/// Ctrl-C stops `rooflaw fit` within one objective evaluation: exit 130,
/// "fit cancelled", no coefficients printed. The signal goes in once the
/// process has installed its handler (its `SigCgt` mask in /proc), and the
/// fit asked for (10,000 bootstrap resamples, hours of work) does not end first.
#[cfg(target_os = "linux")]
#[test]
fn ctrl_c_cancels_a_fit() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let mut child = common::command(std::path::Path::new("."))
        .args([
            "fit",
            "pipelines/data/chinchilla-epoch.csv",
            "--form",
            "chinchilla",
            "--bootstrap",
            "10000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = format!("/proc/{}/status", child.id());
    let catches_sigint = || {
        std::fs::read_to_string(&status).ok().is_some_and(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("SigCgt:"))
                .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
                .is_some_and(|mask| mask & (1 << 1) != 0)
        })
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while !catches_sigint() {
        assert!(child.try_wait().unwrap().is_none(), "fit ended early");
        assert!(Instant::now() < deadline, "no SIGINT handler installed");
        std::thread::sleep(Duration::from_millis(10));
    }
    let kill = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("fit cancelled"), "{stderr}");
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
