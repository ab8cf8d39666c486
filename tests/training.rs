//! Training on the user's own data and with the user's own trainer, through
//! the CLI: `corpus` blocks (pre-tokenized files, text with a
//! `tokenizer.json`), their located diagnostics, and `train(..., command:)`
//! with its consent.
mod common;

use std::path::Path;
use std::process::Output;

fn rooflaw(dir: &Path, args: &[&str]) -> Output {
    common::command(dir)
        // No user config (with `allow_commands = true`) leaks into the tests.
        .env("XDG_CONFIG_HOME", dir.join("no-config"))
        .args(args)
        .output()
        .expect("rooflaw runs")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn ok(o: &Output) -> String {
    let t = text(o);
    assert!(o.status.success(), "rooflaw failed:\n{t}");
    t
}

/// `n` uint16 ids below `vocab`, a little structured (so a model learns).
fn ids(n: usize, vocab: u16) -> Vec<u8> {
    (0..n)
        .flat_map(|i| ((i * 7 + i / 3) as u16 % vocab).to_le_bytes())
        .collect()
}

const SPACE: &str = "
space s { layers = [1, 2]  width = 32  heads = 2  vocab = 64 }
stage c = enumerate(s)
stage d = sample(c, n: 2)
";

fn write_pipeline(dir: &Path, corpus: &str, train: &str) {
    std::fs::write(
        dir.join("t.pipeline"),
        format!("{corpus}\n{SPACE}\nstage t = {train}\nreport t to \"out\"\n"),
    )
    .unwrap();
}

fn val_losses(dir: &Path) -> Vec<f64> {
    let csv = std::fs::read_to_string(dir.join("out/data/t.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let i = header.iter().position(|h| *h == "val_loss").unwrap();
    lines
        .map(|l| l.split(',').nth(i).unwrap().parse().unwrap())
        .collect()
}

#[test]
fn pre_tokenized_files_train_and_their_hashes_are_remembered() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/train.bin"), ids(40_000, 64)).unwrap();
    std::fs::write(dir.path().join("data/val.bin"), ids(4_000, 64)).unwrap();
    write_pipeline(
        dir.path(),
        r#"corpus web { train = "data/train.bin"  valid = "data/val.bin"  tokens = uint16  vocab = 64 }"#,
        "train(d, corpus: web, tokens: 2k, seq_len: 16, batch: 4)",
    );
    ok(&rooflaw(dir.path(), &["run", "t.pipeline"]));
    let losses = val_losses(dir.path());
    assert_eq!(losses.len(), 2);
    // Below a uniform guess over the 64 ids: the files were read as written.
    assert!(losses.iter().all(|l| *l < 64f64.ln()), "{losses:?}");
    // One remembered hash per file version.
    let memos = std::fs::read_dir(dir.path().join(".rooflaw/corpora/hashes"))
        .unwrap()
        .count();
    assert_eq!(memos, 2);
    // Moving the data keeps every run: the key holds content, not places.
    std::fs::rename(dir.path().join("data"), dir.path().join("moved")).unwrap();
    write_pipeline(
        dir.path(),
        r#"corpus web { train = "moved/train.bin"  valid = "moved/val.bin"  tokens = uint16  vocab = 64 }"#,
        "train(d, corpus: web, tokens: 2k, seq_len: 16, batch: 4)",
    );
    let log = ok(&rooflaw(dir.path(), &["run", "t.pipeline"]));
    assert!(log.contains("[0 run, 2 cached]"), "{log}");
}

#[test]
fn bad_corpus_files_are_located_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("odd.bin"), [1u8, 0, 2]).unwrap();
    std::fs::write(d.join("big.bin"), ids(2_000, 500)).unwrap();
    std::fs::write(d.join("ok.bin"), ids(2_000, 64)).unwrap();
    std::fs::write(d.join("empty.bin"), []).unwrap();
    for (train, valid, want) in [
        (
            "odd.bin",
            "ok.bin",
            "3 bytes is not a whole number of uint16 ids",
        ),
        ("big.bin", "ok.bin", "past the vocabulary of 64"),
        ("ok.bin", "empty.bin", "the validation split is empty"),
        ("nope.bin", "ok.bin", "no file"),
    ] {
        write_pipeline(
            d,
            &format!(
                "corpus web {{ train = \"{train}\"  valid = \"{valid}\"  tokens = uint16  vocab = 64 }}"
            ),
            "train(d, corpus: web, tokens: 2k, seq_len: 16, batch: 4)",
        );
        let out = rooflaw(d, &["check", "t.pipeline"]);
        let t = text(&out);
        assert!(!out.status.success(), "{train}/{valid} passed:\n{t}");
        assert!(t.contains(want), "{train}/{valid}: no `{want}` in\n{t}");
        // The diagnostic points at the field holding the bad file.
        let field = if want.contains("validation") {
            valid
        } else {
            train
        };
        assert!(t.contains(&format!("\"{field}\"")), "{t}");
    }
    // The language's own checks: pre-tokenized files need a vocabulary.
    write_pipeline(
        d,
        r#"corpus web { train = "ok.bin"  valid = "ok.bin"  tokens = uint16 }"#,
        "train(d, corpus: web)",
    );
    let t = text(&rooflaw(d, &["check", "t.pipeline"]));
    assert!(t.contains("no `vocab`"), "{t}");
}

/// A word-level tokenizer in Hugging Face's format.
const TOKENIZER: &str = r#"{
  "version": "1.0", "truncation": null, "padding": null, "added_tokens": [],
  "normalizer": null, "pre_tokenizer": { "type": "Whitespace" },
  "post_processor": null, "decoder": null,
  "model": { "type": "WordLevel", "unk_token": "[UNK]",
             "vocab": { "[UNK]": 0, "the": 1, "union": 2, "is": 3, "strong": 4, ".": 5, "state": 6, "of": 7 } }
}"#;

#[test]
fn text_with_a_tokenizer_json_is_tokenized_once() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir(d.join("notes")).unwrap();
    let line = "the state of the union is strong .\n";
    std::fs::write(d.join("notes/a.txt"), line.repeat(300)).unwrap();
    std::fs::write(d.join("notes/b.txt"), line.repeat(300)).unwrap();
    std::fs::write(d.join("valid.txt"), line.repeat(100)).unwrap();
    std::fs::write(d.join("tokenizer.json"), TOKENIZER).unwrap();
    write_pipeline(
        d,
        r#"corpus notes { train = "notes/*.txt"  valid = "valid.txt"  tokenizer = "tokenizer.json" }"#,
        "train(d, corpus: notes, tokens: 2k, seq_len: 16, batch: 4)",
    );
    ok(&rooflaw(d, &["run", "t.pipeline"]));
    let tokenized: Vec<_> = std::fs::read_dir(d.join(".rooflaw/corpora/tokenized"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(tokenized.len(), 1);
    let train = tokenized[0].join("train.u32");
    // 2 files × 300 lines × 8 words, 4 bytes each.
    assert_eq!(std::fs::metadata(&train).unwrap().len(), 2 * 300 * 8 * 4);
    let first = std::fs::metadata(&train).unwrap().modified().unwrap();
    // New runs on the same corpus read the tokens already there.
    write_pipeline(
        d,
        r#"corpus notes { train = "notes/*.txt"  valid = "valid.txt"  tokenizer = "tokenizer.json" }"#,
        "train(d, corpus: notes, tokens: 2k, seq_len: 16, batch: 4, seed: 1)",
    );
    let log = ok(&rooflaw(d, &["run", "t.pipeline"]));
    assert!(log.contains("[2 run, 0 cached]"), "{log}");
    assert_eq!(
        std::fs::metadata(&train).unwrap().modified().unwrap(),
        first
    );
    // The model's vocabulary is the tokenizer's: 8 ids, so losses are below ln 8.
    assert!(val_losses(d).iter().all(|l| *l < 8f64.ln()));
}

#[test]
fn an_external_trainer_needs_consent_and_is_cached() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/external_trainer.py");
    std::fs::copy(&script, d.join("train.py")).unwrap();
    write_pipeline(
        d,
        "",
        r#"train(d, tokens: 10B, command: "python3 train.py --config {config} --recipe {recipe} --out {result}")"#,
    );
    // Without consent nothing runs, and the message says how to consent.
    let out = rooflaw(d, &["run", "t.pipeline"]);
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("--allow-commands") && t.contains("python3 train.py"),
        "{t}"
    );
    assert!(!d.join("calls.txt").exists());
    // `plan` lists the command too.
    let t = ok(&rooflaw(d, &["plan", "t.pipeline"]));
    assert!(t.contains("t: python3 train.py --config {config}"), "{t}");

    ok(&rooflaw(d, &["run", "t.pipeline", "--allow-commands"]));
    let calls = std::fs::read_to_string(d.join("calls.txt")).unwrap();
    assert_eq!(calls.lines().count(), 2, "{calls}");
    // The config.json the script read: a standard model_type (a space's
    // designs have QK norms by default: Qwen3's), the corpus's vocabulary.
    assert!(
        calls
            .lines()
            .all(|l| l.starts_with("qwen3 L") && l.ends_with("vocab 256")),
        "{calls}"
    );
    let mut losses = val_losses(d);
    losses.sort_by(f64::total_cmp);
    let expect = |l: f64| 2.0 + 10.0 / (l * 32.0).sqrt();
    assert!(
        (losses[0] - expect(2.0)).abs() < 1e-12 && (losses[1] - expect(1.0)).abs() < 1e-12,
        "{losses:?}"
    );

    // Cached like rooflaw's own runs; consent from the user's config file works too.
    std::fs::create_dir_all(d.join("no-config/rooflaw")).unwrap();
    std::fs::write(
        d.join("no-config/rooflaw/config.toml"),
        "allow_commands = true # mine\n",
    )
    .unwrap();
    let log = ok(&rooflaw(d, &["run", "t.pipeline"]));
    assert!(log.contains("cached"), "{log}");
    assert_eq!(std::fs::read_to_string(d.join("calls.txt")).unwrap(), calls);
    // Editing the script retrains: its content is in every job's key.
    let mut s = std::fs::read_to_string(d.join("train.py")).unwrap();
    s.push_str("# edited\n");
    std::fs::write(d.join("train.py"), s).unwrap();
    ok(&rooflaw(d, &["run", "t.pipeline"]));
    assert_eq!(
        std::fs::read_to_string(d.join("calls.txt"))
            .unwrap()
            .lines()
            .count(),
        4
    );
}

#[test]
fn the_paper_scale_pipeline_checks_and_plans_its_cost() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines/paper-scale.pipeline");
    std::fs::copy(&src, d.join("paper-scale.pipeline")).unwrap();
    // A stand-in corpus at the paths it names (uint32 ids of Qwen2.5's vocabulary).
    std::fs::create_dir_all(d.join("data/paper-scale")).unwrap();
    let tokens: Vec<u8> = (0..20_000u32)
        .flat_map(|i| (i * 7_919 % 151_936).to_le_bytes())
        .collect();
    std::fs::write(d.join("data/paper-scale/train.bin"), &tokens).unwrap();
    std::fs::write(d.join("data/paper-scale/val.bin"), &tokens[..8_000]).unwrap();
    ok(&rooflaw(d, &["check", "paper-scale.pipeline"]));
    // The designs cost nothing to pick; then the plan prices their training.
    ok(&rooflaw(
        d,
        &["run", "paper-scale.pipeline", "--until", "designs"],
    ));
    let plan = ok(&rooflaw(d, &["plan", "paper-scale.pipeline"]));
    assert!(
        plan.contains("cost of `runs`: 170 runs × 10000000000 tokens"),
        "{plan}"
    );
    assert!(
        plan.contains("GPU-hours") && plan.contains("H200"),
        "{plan}"
    );
    let out = rooflaw(d, &["plan", "paper-scale.pipeline", "--format", "json"]);
    ok(&out);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let runs = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["stage"] == "runs")
        .unwrap();
    let e = &runs["estimate"];
    assert_eq!(e["runs"], 170);
    let hours = e["gpu_hours"].as_f64().unwrap();
    let flops = e["flops"].as_f64().unwrap();
    // GPU-hours are the FLOPs at 40% of the H200's bf16 peak.
    let peak = e["peak_flops"].as_f64().unwrap();
    assert!(
        (hours - flops / (0.4 * peak) / 3600.0).abs() < 1e-6 * hours,
        "{e}"
    );
}
