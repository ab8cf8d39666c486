//! Fixture tests: pipeline files whose expectations are written in them.
//!
//! `fixtures/invalid/*.pipeline` carry one comment per expected error:
//!
//! ```text
//! # error: 3:10-3:16 expected a unit of time after `100`
//! ```
//!
//! `L:C-L:C` is the primary label's start and end (1-based line and column,
//! end exclusive, columns in characters) in that same file, and the rest is a
//! substring of the message. An error in an imported file is written
//! `FILE@L:C-L:C`, FILE relative to the fixture's directory. The set of reported diagnostics must equal the
//! set of annotations: none missing, none extra. The rendered diagnostics
//! (no colour, width 80) are also pinned as insta snapshots.
//!
//! `fixtures/valid/*.pipeline` must compile without diagnostics; the spec's
//! summary is pinned as a snapshot. `pipelines/*.pipeline` at the repository
//! root must compile too.
mod common;

use std::path::{Path, PathBuf};

use common::{DirLoader, TestRegistry};
use rooflaw_dsl::diagnostic::to_json;
use rooflaw_dsl::{Compiled, RenderOptions, compile, render};

/// Paths are relative to the package root (cargo runs tests there), so file
/// names in rendered diagnostics, and where miette wraps them, do not depend
/// on where the repository is checked out.
fn fixtures(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new("tests/fixtures").join(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pipeline"))
        .collect();
    files.sort();
    files
}

fn compile_file(path: &Path) -> Compiled {
    let text = std::fs::read_to_string(path).unwrap();
    compile(
        &path.to_string_lossy(),
        &text,
        &DirLoader,
        &TestRegistry::default(),
    )
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord, Clone)]
struct Expected {
    position: String,
    message: String,
}

fn annotations(text: &str) -> Vec<Expected> {
    text.lines()
        .filter_map(|l| l.trim_start().strip_prefix("# error: "))
        .map(|rest| {
            let (position, message) = rest.split_once(' ').expect("`# error: L:C-L:C message`");
            Expected {
                position: position.to_string(),
                message: message.trim().to_string(),
            }
        })
        .collect()
}

#[test]
fn invalid_fixtures_report_exactly_their_annotations() {
    let files = fixtures("invalid");
    assert!(files.len() >= 15, "only {} invalid fixtures", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        let expected = annotations(&text);
        if expected.is_empty() {
            failures.push(format!("{}: no `# error:` annotation", path.display()));
        }
        let out = compile_file(path);
        assert!(
            out.spec.is_none(),
            "{}: produced a spec despite errors",
            path.display()
        );
        let mut got: Vec<(String, String)> = to_json(&out.diagnostics.0, &out.sources)
            .into_iter()
            .map(|d| {
                let dir = format!("{}/", path.parent().unwrap().display());
                let file = d.file.clone().unwrap_or_default();
                let prefix = if file == path.to_string_lossy() {
                    String::new()
                } else {
                    format!("{}@", file.strip_prefix(&dir).unwrap_or(&file))
                };
                let pos = format!(
                    "{prefix}{}:{}-{}:{}",
                    d.line.unwrap_or(0),
                    d.column.unwrap_or(0),
                    d.end_line.unwrap_or(0),
                    d.end_column.unwrap_or(0)
                );
                (pos, d.message)
            })
            .collect();
        let mut missing = Vec::new();
        for e in &expected {
            match got
                .iter()
                .position(|(p, m)| *p == e.position && m.contains(&e.message))
            {
                Some(i) => {
                    got.remove(i);
                }
                None => missing.push(format!("{} {}", e.position, e.message)),
            }
        }
        if !missing.is_empty() || !got.is_empty() {
            let extra: Vec<String> = got.iter().map(|(p, m)| format!("{p} {m}")).collect();
            failures.push(format!(
                "{}:\n  missing: {missing:#?}\n  extra (unannotated): {extra:#?}",
                path.display()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn invalid_fixture_rendering_is_pinned() {
    for path in fixtures("invalid") {
        let out = compile_file(&path);
        let rendered = render(
            &out.diagnostics.0,
            &out.sources,
            RenderOptions {
                color: false,
                width: 80,
            },
        );
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(format!("invalid__{name}"), rendered);
    }
}

#[test]
fn valid_fixtures_lower_to_the_pinned_spec() {
    let files = fixtures("valid");
    assert!(!files.is_empty());
    for path in files {
        let out = compile_file(&path);
        let rendered = render(&out.diagnostics.0, &out.sources, RenderOptions::default());
        assert!(
            out.diagnostics.0.is_empty(),
            "{}:\n{rendered}",
            path.display()
        );
        let spec = out.spec.expect("no errors, so a spec");
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        insta::assert_snapshot!(format!("valid__{name}"), spec.summary());
    }
}

#[test]
fn bundled_pipelines_compile() {
    let dir = Path::new("../pipelines");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        // Only the language example: the other bundled pipelines use the
        // stdlib's real stage signatures, which `tests/check.rs` at the root
        // checks with the real registry.
        if path.file_name().is_none_or(|n| n != "example.pipeline") {
            continue;
        }
        count += 1;
        let out = compile_file(&path);
        let rendered = render(&out.diagnostics.0, &out.sources, RenderOptions::default());
        assert!(
            out.spec.is_some() && out.diagnostics.0.is_empty(),
            "{}:\n{rendered}",
            path.display()
        );
    }
    assert!(count >= 1);
}

#[test]
fn the_example_imports_its_hardware_under_its_own_name() {
    let path = Path::new("../pipelines/example.pipeline");
    let out = compile_file(path);
    let spec = out.spec.expect("example compiles");
    let orin = spec.hardware("orin").expect("imported hardware");
    let file = out.sources.get(orin.name.span.file);
    assert!(
        file.name.ends_with("pipelines/hardware/orin.pipeline"),
        "{}",
        file.name
    );
    let launch = orin.field("launch").unwrap();
    assert_eq!(
        launch.value.node,
        rooflaw_dsl::spec::Value::Quantity(rooflaw_dsl::Quantity::new(
            5e-6,
            rooflaw_dsl::Dim::TIME
        ))
    );
    // Stages come out in source order with arguments in signature order.
    let latency = spec.stage("latency").unwrap();
    let params: Vec<&str> = latency.args.iter().map(|a| a.param.as_str()).collect();
    assert_eq!(params, ["candidates", "hardware", "workload"]);
    assert_eq!(spec.stage("best").unwrap().inputs()[0].node, "frontier");
}
