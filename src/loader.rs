//! Reads `use "..."` imports from the file system for the DSL, which does no
//! IO itself.
use std::path::{Component, Path, PathBuf};

use rooflaw_dsl::Loader;

/// Resolves an import relative to the directory of the file that imports
/// it, and names it by that path with `.` and `..` folded away, so one file
/// reached by two spellings is loaded once.
pub struct FsLoader;

impl Loader for FsLoader {
    fn load(&self, importer: &str, path: &str) -> Result<(String, String), String> {
        let dir = Path::new(importer).parent().unwrap_or(Path::new(""));
        let resolved = normalise(&dir.join(path));
        let text = std::fs::read_to_string(&resolved).map_err(|e| e.to_string())?;
        Ok((resolved.to_string_lossy().into_owned(), text))
    }
}

/// Lexical normalisation: no symlink resolution, so names stay as the user
/// would write them.
pub fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if out
                    .components()
                    .next_back()
                    .is_some_and(|l| matches!(l, Component::Normal(_))) =>
            {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_resolve_against_the_importer() {
        for (input, want) in [
            (
                "pipelines/./hardware/orin.pipeline",
                "pipelines/hardware/orin.pipeline",
            ),
            (
                "pipelines/lib/../hardware/orin.pipeline",
                "pipelines/hardware/orin.pipeline",
            ),
            ("../shared/hw.pipeline", "../shared/hw.pipeline"),
            ("a/../../b.pipeline", "../b.pipeline"),
        ] {
            assert_eq!(normalise(Path::new(input)), PathBuf::from(want), "{input}");
        }
    }

    #[test]
    fn a_missing_import_is_an_error_message() {
        let err = FsLoader
            .load("nowhere/main.pipeline", "missing.pipeline")
            .unwrap_err();
        assert!(!err.is_empty());
    }
}
