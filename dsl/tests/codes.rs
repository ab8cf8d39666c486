//! The diagnostic codes are a stable interface: each is well-formed, unique,
//! explained, used, serialised as its string, and listed in
//! docs/diagnostics.md.
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use rooflaw_dsl::Code;
use rooflaw_dsl::code::markdown;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn well_formed(s: &str) -> bool {
    s.strip_prefix("rooflaw::").is_some_and(|name| {
        !name.is_empty()
            && name.split('-').all(|w| {
                w.starts_with(|c: char| c.is_ascii_lowercase())
                    && w.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
    })
}

#[test]
fn well_formed_rejects_malformed_codes() {
    for bad in [
        "rooflaw::",
        "unknown-field",
        "rooflaw::Unknown",
        "rooflaw::a--b",
        "rooflaw::a_b",
        "rooflaw::-a",
        "rooflaw::a b",
    ] {
        assert!(!well_formed(bad), "{bad}");
    }
    assert!(well_formed("rooflaw::unknown-field"));
}

#[test]
fn every_code_is_well_formed_unique_and_explained() {
    let mut seen = BTreeSet::new();
    for code in Code::ALL {
        let s = code.as_str();
        assert!(well_formed(s), "malformed code `{s}`");
        assert!(seen.insert(s), "`{s}` is used by two variants");
        let why = code.explanation();
        assert!(
            why.starts_with(|c: char| c.is_uppercase())
                && why.ends_with('.')
                && !why.contains('\n')
                && !why.contains('|'),
            "`{s}`: the explanation should be one sentence on one line: {why:?}"
        );
    }
    // The list is kept in the order of the strings, so the docs read as an index.
    let strings: Vec<_> = Code::ALL.iter().map(|c| c.as_str()).collect();
    let mut sorted = strings.clone();
    sorted.sort_unstable();
    assert_eq!(strings, sorted, "keep `codes!` sorted by string");
}

#[test]
fn a_code_serialises_and_displays_as_its_string() {
    for code in Code::ALL {
        assert_eq!(serde_json::to_value(code).unwrap(), code.as_str());
        assert_eq!(code.to_string(), code.as_str());
    }
}

/// docs/diagnostics.md is generated from the enum; `UPDATE_DOCS=1`
/// rewrites it after a code is added.
#[test]
fn docs_list_every_code() {
    let path = workspace().join("docs/diagnostics.md");
    let want = markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/diagnostics.md is out of date; run `UPDATE_DOCS=1 cargo test -p rooflaw-dsl --test codes`"
    );
}

fn rust_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if !name.starts_with('.') && name != "target" {
                rust_sources(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// A code no diagnostic uses would be documented for nothing.
#[test]
fn every_code_is_used() {
    let mut files = Vec::new();
    rust_sources(&workspace(), &mut files);
    let code_rs = workspace().join("dsl/src/code.rs").canonicalize().unwrap();
    let text: String = files
        .iter()
        .filter(|f| f.canonicalize().unwrap() != code_rs)
        .map(|f| std::fs::read_to_string(f).unwrap())
        .collect();
    let unused: Vec<_> = Code::ALL
        .iter()
        .filter(|c| {
            let variant = format!("Code::{c:?}");
            !text.match_indices(&variant).any(|(i, _)| {
                !text[i + variant.len()..].starts_with(|ch: char| ch.is_alphanumeric())
            })
        })
        .collect();
    assert!(unused.is_empty(), "codes no diagnostic uses: {unused:?}");
}
