//! The documentation matches the code: every pipeline example in
//! dsl/GRAMMAR.md parses, the full examples there and in the README check
//! clean, every command the README names exists, and every Markdown file the
//! docs and presets cite is in the repository.
mod common;
use common::{rooflaw, rooflaw_in};
use rooflaw_dsl::parse::parse;
use rooflaw_dsl::{Diagnostics, FileId};

fn read(path: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The fenced code blocks of a Markdown file (untagged or ` ```text `).
fn blocks(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match (&mut current, line.trim_start().strip_prefix("```")) {
            (None, Some(tag)) => current = matches!(tag, "" | "text").then(String::new),
            (Some(block), Some(_)) => {
                out.push(std::mem::take(block));
                current = None;
            }
            (Some(block), None) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, None) => {}
        }
    }
    out
}

#[test]
fn every_grammar_example_parses() {
    let mut parsed = 0;
    for block in blocks(&read("dsl/GRAMMAR.md")) {
        // A rendered diagnostic and the grammar summary are not pipelines.
        if block.contains("╭─") || block.starts_with("file       =") {
            continue;
        }
        // An argument on its own: parse it in the call it belongs to.
        let text = if block.starts_with("baseline:") {
            format!("stage b = search(frontier, {block})")
        } else {
            block.clone()
        };
        let mut diags = Diagnostics::default();
        parse(FileId(0), &text, &mut diags);
        assert!(
            !diags.has_errors(),
            "GRAMMAR.md example does not parse:\n{text}\n{diags:?}"
        );
        parsed += 1;
    }
    assert!(parsed >= 12, "only {parsed} examples found");
}

/// The first example of GRAMMAR.md and the README's pipeline are whole
/// files: they pass `rooflaw check` as printed.
#[test]
fn whole_examples_check_clean() {
    let dir = tempfile::tempdir().unwrap();
    // The grammar's example imports the bundled hardware file, as
    // pipelines/example.pipeline does.
    std::fs::create_dir(dir.path().join("hardware")).unwrap();
    let orin = read("pipelines/hardware/orin.pipeline");
    std::fs::write(dir.path().join("hardware/orin.pipeline"), orin).unwrap();
    let grammar = blocks(&read("dsl/GRAMMAR.md")).remove(0);
    let readme = blocks(&read("README.md")).remove(0);
    for (name, text) in [("grammar.pipeline", grammar), ("readme.pipeline", readme)] {
        std::fs::write(dir.path().join(name), text).unwrap();
        let out = rooflaw_in(dir.path(), &["check", name]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Every `rooflaw COMMAND` the README mentions is a command.
#[test]
fn readme_commands_exist() {
    let readme = read("README.md");
    let mut commands: Vec<&str> = readme
        .split("`rooflaw ")
        .skip(1)
        .filter_map(|rest| rest.split([' ', '`', '\\']).next())
        .filter(|w| w.chars().all(|c| c.is_ascii_lowercase()) && !w.is_empty())
        .collect();
    commands.sort_unstable();
    commands.dedup();
    assert!(commands.len() >= 10, "{commands:?}");
    for cmd in commands {
        let out = rooflaw(&[cmd, "--help"]);
        assert!(
            out.status.success(),
            "README names `rooflaw {cmd}`, which is not a command"
        );
    }
}

/// A `NAME.md` cited in the README, GRAMMAR.md or a preset exists in the
/// repository (a citation of a file nobody can open is no source).
#[test]
fn cited_markdown_files_exist() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut texts = vec![read("README.md"), read("dsl/GRAMMAR.md")];
    for dir in ["stdlib/presets/hardware", "stdlib/presets/models"] {
        for entry in std::fs::read_dir(root.join(dir)).unwrap() {
            texts.push(std::fs::read_to_string(entry.unwrap().path()).unwrap());
        }
    }
    let mut cited: Vec<String> = Vec::new();
    for text in &texts {
        for (i, _) in text.match_indices(".md") {
            let start = text[..i]
                .rfind(|c: char| !(c.is_ascii_alphanumeric() || "-_./".contains(c)))
                .map_or(0, |s| s + 1);
            let name = &text[start..i + 3];
            // Files in other repositories are cited with the repository
            // (`owner/repo ... README.md`); summary.md is what a report writes.
            if !name.is_empty()
                && !name.starts_with('.')
                && !name.contains("README")
                && name != "summary.md"
            {
                cited.push(name.to_owned());
            }
        }
    }
    cited.sort();
    cited.dedup();
    let mut files = Vec::new();
    markdown_files(root, &mut files);
    let missing: Vec<&String> = cited
        .iter()
        .filter(|name| {
            let file = std::path::Path::new(name.as_str()).file_name().unwrap();
            !root.join(name).exists() && !files.iter().any(|f| f.file_name() == Some(file))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "cited but not in the repository: {missing:?}"
    );
}

/// Every Markdown file of the repository (build output and VCS data aside).
fn markdown_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            if name != "target" && name != ".git" {
                markdown_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
}
