//! What a newcomer reaches for first: `init`, shell completions, the list of
//! stage kinds and the man page.
mod common;
use common::{rooflaw, rooflaw_in};

#[test]
fn init_writes_a_pipeline_that_checks_clean_and_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = rooflaw_in(
        dir.path(),
        &[
            "init",
            "proj",
            "--hardware",
            "raspberry-pi-5",
            "--model",
            "smollm2-135m",
        ],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let proj = dir.path().join("proj");
    let text = std::fs::read_to_string(proj.join("codesign.pipeline")).unwrap();
    assert!(
        text.contains("hardware device from \"raspberry-pi-5\" {}"),
        "{text}"
    );
    assert!(text.contains("baseline: \"smollm2-135m\""), "{text}");
    assert!(
        text.lines().filter(|l| l.starts_with('#')).count() > 10,
        "commented:\n{text}"
    );
    let ignore = std::fs::read_to_string(proj.join(".gitignore")).unwrap();
    assert!(ignore.lines().any(|l| l == ".rooflaw/") && ignore.lines().any(|l| l == "out/"));

    let check = rooflaw_in(&proj, &["check", "codesign.pipeline"]);
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("warning"), "{stderr}");

    let run = rooflaw_in(&proj, &["run", "--quiet", "codesign.pipeline"]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let best = std::fs::read_to_string(proj.join("out/codesign/data/best.csv")).unwrap();
    assert!(
        best.lines().count() > 1,
        "the budget admits designs:\n{best}"
    );
    // The run's cache and report are what .gitignore names.
    assert!(proj.join(".rooflaw").is_dir() && proj.join("out").is_dir());
}

#[test]
fn init_refuses_to_overwrite_and_names_what_exists() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".gitignore"), "mine\n").unwrap();
    let out = rooflaw_in(dir.path(), &["init"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(".gitignore already exists"), "{stderr}");
    assert!(
        !dir.path().join("codesign.pipeline").exists(),
        "nothing half written"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".gitignore")).unwrap(),
        "mine\n"
    );
}

#[test]
fn init_suggests_a_preset_for_a_misspelt_device() {
    let dir = tempfile::tempdir().unwrap();
    let out = rooflaw_in(dir.path(), &["init", "--hardware", "raspbery-pi-5"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr.contains("did you mean `raspberry-pi-5`?"),
        "{stderr}"
    );
}

#[test]
fn completions_for_every_shell_name_the_commands() {
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = rooflaw(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&out.stdout);
        for word in ["roofline", "calibrate", "--hardware", "init"] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
    }
}

#[test]
fn stages_lists_every_kind_and_describes_one() {
    let out = rooflaw(&["stages"]);
    assert_eq!(out.status.code(), Some(0));
    let list = String::from_utf8_lossy(&out.stdout);
    for kind in [
        "enumerate",
        "roofline",
        "law",
        "pareto",
        "search",
        "fit",
        "measurements",
        "train",
    ] {
        assert!(
            list.lines().any(|l| l.starts_with(kind)),
            "{kind} missing:\n{list}"
        );
    }

    let out = rooflaw(&["stages", "roofline"]);
    let one = String::from_utf8_lossy(&out.stdout);
    assert!(
        one.starts_with("roofline(candidates, hardware:, workload:"),
        "{one}"
    );
    assert!(
        one.lines()
            .any(|l| l.trim_start().starts_with("hardware") && l.ends_with("(required)")),
        "{one}"
    );

    let out = rooflaw(&["stages", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fit = v
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "fit")
        .unwrap();
    assert!(
        fit["params"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "holdout")
    );

    let out = rooflaw(&["stages", "rofline"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `roofline`?"));
}

#[test]
fn the_man_page_documents_the_commands() {
    let out = rooflaw(&["man"]);
    assert_eq!(out.status.code(), Some(0));
    let roff = String::from_utf8_lossy(&out.stdout);
    assert!(
        roff.starts_with(".ie") && roff.contains(".TH rooflaw 1"),
        "{roff}"
    );
    assert!(roff.contains("rooflaw\\-roofline(1)"), "{roff}");
}

#[test]
fn roofline_compares_every_combination_in_one_table() {
    let args = [
        "roofline",
        "--model",
        "qwen2.5-0.5b,llama-3.2-1b",
        "--hardware",
        "jetson-orin-nano-8gb,rtx-4090",
        "--precision",
        "fp16,w4a16",
    ];
    let out = rooflaw(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("model") && lines[0].contains("total ms"),
        "{table}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("rtx-4090")).count(),
        4,
        "{table}"
    );
    assert_eq!(
        lines.iter().filter(|l| l.contains("w4a16")).count(),
        4,
        "{table}"
    );

    let out = rooflaw(&[&args[..], &["--format", "csv"]].concat());
    let csv = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 9, "{csv}");
    assert!(
        rows[0].starts_with("model,hardware,precision,batch,prompt,generate,"),
        "{csv}"
    );
    // Model-major order, then hardware, then precision.
    assert!(
        rows[1].starts_with("Qwen2.5-0.5B,jetson-orin-nano-8gb,fp16,"),
        "{csv}"
    );
    assert!(rows[8].starts_with("Llama-3.2-1B,rtx-4090,w4a16,"), "{csv}");
    // Each row says which runtime predicted it, and carries its band.
    let header: Vec<&str> = rows[0].split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let row1: Vec<&str> = rows[1].split(',').collect();
    assert_eq!(row1[col("runtime")], "ideal", "{csv}");
    let total: f64 = row1[col("total_ms")].parse().unwrap();
    let (lo, hi): (f64, f64) = (
        row1[col("total_ms_lo")].parse().unwrap(),
        row1[col("total_ms_hi")].parse().unwrap(),
    );
    assert!(lo < total && total < hi, "{csv}");

    let out = rooflaw(&[&args[..], &["--format", "json"]].concat());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let all = v.as_array().unwrap();
    assert_eq!(all.len(), 8);
    // A smaller model is faster on the same chip at the same precision.
    assert!(all[0]["total_ms"].as_f64() < all[4]["total_ms"].as_f64());
    assert!(all.iter().all(|r| r["runtime"] == "ideal"));

    let out = rooflaw(&[&args[..], &["--ops"]].concat());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("one combination"));
}

/// `rooflaw cache ls PIPELINE` finds the cache `rooflaw run` made next to
/// the pipeline; without one, the error says where caches live and lists
/// those below the current directory.
#[test]
fn cache_ls_finds_a_pipelines_cache() {
    let dir = tempfile::tempdir().unwrap();
    let out = rooflaw_in(dir.path(), &["init", "proj", "--hardware", "rtx-4090"]);
    assert!(out.status.success());
    let run = rooflaw_in(dir.path(), &["run", "--quiet", "proj/codesign.pipeline"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    let ls = rooflaw_in(dir.path(), &["cache", "ls", "proj/codesign.pipeline"]);
    let listing = String::from_utf8_lossy(&ls.stdout);
    assert!(
        ls.status.success(),
        "{}",
        String::from_utf8_lossy(&ls.stderr)
    );
    assert!(
        listing.contains("frontier") && listing.contains("5 entries"),
        "{listing}"
    );

    let bare = rooflaw_in(dir.path(), &["cache", "ls"]);
    let err = String::from_utf8_lossy(&bare.stderr);
    assert_eq!(bare.status.code(), Some(2));
    assert!(err.contains("next to the pipeline file"), "{err}");
    assert!(err.contains("caches here: proj/.rooflaw"), "{err}");
}
