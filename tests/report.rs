//! The report tells one story, end to end through the CLI: the headline is
//! the answer under the budget, the top table's first row and the roofline
//! plot name the same design, every reported search has a section, an empty
//! search is reported rather than a panic, and `--until` leaves report
//! directories it did not reach as they were.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

mod common;

use common::ok;

/// A bundled pipeline copied into a fresh directory as `p.pipeline`, with
/// `edit` applied to its text.
fn copy(name: &str, edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("pipelines/{name}.pipeline")),
    )
    .unwrap();
    std::fs::write(dir.path().join("p.pipeline"), edit(text)).unwrap();
    dir
}

fn run(dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["run", "p.pipeline"];
    args.extend(extra);
    let out = common::rooflaw_in(dir, &args);
    ok(&out);
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn json(p: &Path) -> Value {
    serde_json::from_str(&read(p)).unwrap()
}

/// `report.json` without the long per-point arrays, which the frontier CSV
/// and `roofline_ops.csv` hold: what a reviewer can read in a snapshot.
fn reviewable(mut report: Value) -> Value {
    for key in ["frontiers", "roofline_ops"] {
        let n = report[key].as_array().map_or(0, Vec::len);
        report[key] = Value::String(format!("{n} entries"));
    }
    report
}

/// The answer of the first search names one design in the headline, the
/// top table's first row, the plots' chosen marker and the roofline.
fn assert_one_design(out: &Path) {
    let report = json(&out.join("report.json"));
    let search = &report["searches"][0];
    let design = search["headline"]["design"].as_str().unwrap();
    let precision = search["headline"]["precision"].as_str().unwrap();
    assert_eq!(search["top"][0]["label"], design, "table's first row");
    assert_eq!(search["top"][0]["group"], precision);
    let named = format!("{design} ({precision})");
    assert_eq!(report["chosen"]["label"], named.as_str(), "plot marker");
    let html = read(&out.join("index.html"));
    let lead = &html[html.find("id=\"headline\"").unwrap()..];
    assert!(
        lead.starts_with(&format!("id=\"headline\"><strong>{named}:")),
        "{lead:.200}"
    );
    assert!(
        html.contains(&format!("Operators of {named} on")),
        "the roofline shows the answer"
    );
    let svg = read(&out.join("loss_latency.svg"));
    assert!(
        svg.contains(&format!("chosen: {named}")),
        "loss–latency marker"
    );
    // The roofline's operators are the answer's: its precision's weights.
    let ops = read(&out.join("roofline_ops.csv"));
    assert!(ops.lines().count() > 10, "{ops}");
}

#[test]
fn quickstart_report_tells_one_story() {
    let dir = copy("quickstart", |t| t);
    let out = run(dir.path(), &[]);
    let page = dir.path().join("out/quickstart");
    assert_one_design(&page);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report = json(&page.join("report.json"));
    let title = format!(
        "{} ({}):",
        report["searches"][0]["headline"]["design"]
            .as_str()
            .unwrap(),
        report["searches"][0]["headline"]["precision"]
            .as_str()
            .unwrap()
    );
    assert!(
        stdout.starts_with(&title),
        "run ends with the answer: {stdout}"
    );
    assert!(
        stdout
            .trim_end()
            .ends_with("report: out/quickstart/index.html"),
        "{stdout}"
    );
    insta::assert_snapshot!("quickstart_summary", read(&page.join("summary.md")));
    insta::assert_snapshot!(
        "quickstart_report",
        serde_json::to_string_pretty(&reviewable(report)).unwrap()
    );
}

#[test]
fn raspberry_pi_report_has_every_search_and_several_baselines() {
    let dir = copy("raspberry-pi", |t| t);
    run(dir.path(), &[]);
    let page = dir.path().join("out/raspberry-pi");
    assert_one_design(&page);
    let report = json(&page.join("report.json"));
    let names: Vec<&str> = report["searches"][0]["headline"]["baselines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["smollm2-360m", "qwen2.5-0.5b"]);
    assert_eq!(report["baselines"].as_array().unwrap().len(), 2);
    let html = read(&page.join("index.html"));
    for id in [
        "search-best",
        "search-streaming",
        "headline-streaming",
        "top-streaming",
        "advice",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    let svg = read(&page.join("loss_latency.svg"));
    assert!(svg.contains("id=\"baseline\"") && svg.contains("id=\"baseline-2\""));
    // Sizes in the budget's unit, counts that agree.
    let md = read(&page.join("summary.md"));
    assert!(md.contains(" MiB |") && !md.contains(" MB |"), "{md}");
    let c = &report["counts"];
    assert_eq!(
        c["designs"].as_u64().unwrap(),
        c["architectures"].as_u64().unwrap() * c["precisions"].as_u64().unwrap()
    );
    insta::assert_snapshot!("raspberry_pi_summary", md);
    insta::assert_snapshot!(
        "raspberry_pi_report",
        serde_json::to_string_pretty(&reviewable(report)).unwrap()
    );
}

#[test]
fn a_search_that_finds_nothing_says_what_the_fastest_needs() {
    let dir = copy("quickstart", |t| {
        t.replace("latency.total <= 1.5 s", "latency.total <= 1 us")
    });
    let out = run(dir.path(), &[]);
    let page = dir.path().join("out/quickstart");
    let html = read(&page.join("index.html"));
    let md = read(&page.join("summary.md"));
    let says = "no design meets budget `snappy` (latency.total <= 1 us, memory <= 4 GiB): \
                the fastest needs";
    assert!(md.contains(says), "{md}");
    assert!(html.contains("the fastest needs") && html.ends_with("</html>\n"));
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("No design meets budget `snappy`"));
    // The table is empty but still a table, with its columns.
    let top = read(&page.join("top.csv"));
    assert_eq!(top.lines().count(), 1, "{top}");
    assert!(top.starts_with("search,rank,label"), "{top}");
    let report = json(&page.join("report.json"));
    assert!(report["chosen"].is_null());
}

#[test]
fn one_generated_token_with_a_decode_objective_still_reports() {
    let dir = copy("quickstart", |t| {
        t.replace("generate  = 64 tokens", "generate  = 1 tokens")
            .replace("objective: total", "objective: decode")
    });
    run(dir.path(), &[]);
    let md = read(&dir.path().join("out/quickstart/summary.md"));
    assert!(md.contains("decode latency of 0 s"), "{md}");
}

fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

#[test]
fn until_leaves_the_report_byte_identical() {
    let dir = copy("quickstart", |t| t);
    run(dir.path(), &["-q"]);
    let page = dir.path().join("out/quickstart");
    let before = tree(&page);
    assert!(before.contains_key(Path::new("data/best.csv")));
    run(dir.path(), &["-q", "--until", "frontier"]);
    run(dir.path(), &["-q", "--force-all", "--until", "latency"]);
    assert!(
        before == tree(&page),
        "a run stopped early changed the report"
    );
}
