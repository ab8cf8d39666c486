//! The project boundary: a pipeline someone else wrote reads and writes only
//! inside its project directory (the pipeline file's directory, or the
//! `--root` a user names). A path is refused when it is absolute, when its
//! `..`s lead above the root, or when a symbolic link on the way leads out
//! of it; links that stay inside are fine.
use std::fs;
use std::path::{Component, Path, PathBuf};

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Escape {
    #[error("`{path}` is an absolute path; a pipeline may only name files inside its project {}", root.display())]
    Absolute { path: String, root: PathBuf },
    #[error("`{path}` leads out of the project {}", root.display())]
    Parent { path: String, root: PathBuf },
    #[error("`{path}` goes through the symbolic link {} to {}, outside the project {}", link.display(), target.display(), root.display())]
    Symlink {
        path: String,
        link: PathBuf,
        target: PathBuf,
        root: PathBuf,
    },
    #[error("the project directory {} cannot be opened: {why}", root.display())]
    Root { root: PathBuf, why: String },
}

/// Lexical normalisation: `.` dropped and `a/..` folded, no symlink
/// resolution, so names stay as the user would write them.
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
            // `/..` is `/`.
            Component::ParentDir if out.has_root() => {}
            other => out.push(other),
        }
    }
    out
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        normalise(p)
    } else {
        normalise(&std::env::current_dir().unwrap_or_default().join(p))
    }
}

/// `rel`, written in a file in `from_dir`, as a path (relative when
/// `from_dir` is), once it is known to stay inside `root`: lexically, and
/// through every symbolic link of the part of it that exists.
pub fn resolve_inside(root: &Path, from_dir: &Path, rel: &str) -> Result<PathBuf, Escape> {
    let joined = normalise(&from_dir.join(rel));
    let abs = absolute(&joined);
    let root_abs = absolute(root);
    if Path::new(rel).has_root() {
        return Err(Escape::Absolute {
            path: rel.to_string(),
            root: root_abs,
        });
    }
    let root_real = fs::canonicalize(&root_abs).map_err(|e| Escape::Root {
        root: root_abs.clone(),
        why: e.to_string(),
    })?;
    // The path may be spelt from the root as given or as resolved (the
    // engine knows the pipeline's directory canonicalised).
    let Some((mut here, below)) = [&root_abs, &root_real]
        .into_iter()
        .find_map(|r| Some((r.clone(), abs.strip_prefix(r).ok()?)))
    else {
        return Err(Escape::Parent {
            path: rel.to_string(),
            root: root_abs,
        });
    };
    // Walk down from the root: every existing component must resolve inside.
    for c in below.components() {
        here.push(c);
        let Ok(meta) = fs::symlink_metadata(&here) else {
            // The rest does not exist yet (a report directory to create).
            break;
        };
        if !meta.is_symlink() {
            continue;
        }
        let target =
            fs::canonicalize(&here).unwrap_or_else(|_| fs::read_link(&here).unwrap_or_default());
        if !target.starts_with(&root_real) || !target.is_absolute() {
            return Err(Escape::Symlink {
                path: rel.to_string(),
                link: here,
                target,
                root: root_abs,
            });
        }
    }
    Ok(joined)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalise_folds_dots_without_touching_the_disk() {
        for (input, want) in [
            ("p/./hw/orin.pipeline", "p/hw/orin.pipeline"),
            ("p/lib/../hw/orin.pipeline", "p/hw/orin.pipeline"),
            ("../shared/hw.pipeline", "../shared/hw.pipeline"),
            ("a/../../b.pipeline", "../b.pipeline"),
            ("/../etc", "/etc"),
        ] {
            assert_eq!(normalise(Path::new(input)), PathBuf::from(want), "{input}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn escapes_are_refused_and_inside_links_are_fine() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p");
        fs::create_dir_all(root.join("data")).unwrap();
        fs::create_dir_all(dir.path().join("outside")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("outside"), root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join("data"), root.join("d2")).unwrap();
        let ok = |rel: &str| resolve_inside(&root, &root, rel);
        assert!(ok("data/x.csv").is_ok());
        assert!(ok("new/dir/report").is_ok());
        assert!(ok("d2/x.csv").is_ok(), "a link that stays inside is fine");
        assert!(matches!(ok("/etc/passwd"), Err(Escape::Absolute { .. })));
        assert!(matches!(ok("../x"), Err(Escape::Parent { .. })));
        assert!(matches!(ok("data/../../x"), Err(Escape::Parent { .. })));
        assert!(matches!(ok("out/x.csv"), Err(Escape::Symlink { .. })));
        assert!(matches!(ok("out"), Err(Escape::Symlink { .. })));
    }
}
