//! Reads `use "..."` imports from the file system for the DSL, which does no
//! IO itself.
use std::path::{Path, PathBuf};

pub use rooflaw_cache::boundary::normalise;
use rooflaw_cache::boundary::resolve_inside;
use rooflaw_cache::files::{INPUT_LIMIT, read_text};
use rooflaw_dsl::Loader;

/// Resolves an import relative to the directory of the file that imports
/// it, and names it by that path with `.` and `..` folded away, so one file
/// reached by two spellings is loaded once. With a `root`, imports outside
/// it (absolute, `..`, or through a symbolic link) are refused.
pub struct FsLoader {
    pub root: Option<PathBuf>,
}

impl Loader for FsLoader {
    fn load(&self, importer: &str, path: &str) -> Result<(String, String), String> {
        let dir = Path::new(importer).parent().unwrap_or(Path::new(""));
        let resolved = match &self.root {
            Some(root) => resolve_inside(root, dir, path).map_err(|e| {
                format!("{e} (name a wider project with --root DIR, or pass --allow-outside-root)")
            })?,
            None => normalise(&dir.join(path)),
        };
        let text = read_pipeline_text(&resolved)?;
        Ok((resolved.to_string_lossy().into_owned(), text))
    }
}

/// A pipeline file's text: a regular file under the input limit, UTF-8, and
/// text (no control characters besides tab, CR and newline), so that no
/// diagnostic ever quotes a binary or some other kind of file.
pub fn read_pipeline_text(path: &Path) -> Result<String, String> {
    let text = read_text(path, INPUT_LIMIT).map_err(|e| e.to_string())?;
    if let Some((i, c)) = text
        .char_indices()
        .find(|(_, c)| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        let line = text[..i].matches('\n').count() + 1;
        return Err(format!(
            "{} is not pipeline text: control character U+{:04X} on line {line}",
            path.display(),
            u32::from(c)
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_import_is_an_error_message() {
        let err = FsLoader { root: None }
            .load("nowhere/main.pipeline", "missing.pipeline")
            .unwrap_err();
        assert!(!err.is_empty());
    }

    #[test]
    fn imports_outside_the_root_are_refused_before_reading() {
        let dir = tempfile::tempdir().unwrap();
        let main = dir.path().join("main.pipeline");
        let loader = FsLoader {
            root: Some(dir.path().to_path_buf()),
        };
        let err = loader
            .load(&main.to_string_lossy(), "/etc/passwd")
            .unwrap_err();
        assert!(err.contains("absolute path"), "{err}");
        let err = loader
            .load(&main.to_string_lossy(), "../x.pipeline")
            .unwrap_err();
        assert!(err.contains("leads out of the project"), "{err}");
    }
}
