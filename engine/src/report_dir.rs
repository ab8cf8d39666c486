//! Report directories are replaced whole. A report is written into a fresh
//! hidden sibling directory, then swapped in with two renames, so a reader
//! sees the old report or the new one, never half of each, and concurrent
//! runs each publish a complete page. Files in the old directory that
//! rooflaw did not write (not in its `.rooflaw-report` list) are moved into
//! the new one; the rest of the old directory, which only rooflaw wrote, is
//! removed without following symbolic links.
use std::collections::BTreeSet;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// Where a report directory lists the files rooflaw wrote into it.
pub(crate) const MANIFEST: &str = ".rooflaw-report";

const NEW: &str = "rooflaw-new";
const OLD: &str = "rooflaw-old";

fn sibling(dir: &Path, what: &str) -> PathBuf {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.with_file_name(format!(".{name}.{what}-{}", unique()))
}

/// `<pid>-<nanos>-<counter>`: unique across threads and processes, and the
/// pid tells a later run whether the writer is still alive.
fn unique() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{nanos}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// A fresh, empty directory beside `dir` to write the next report into.
pub(crate) fn stage(dir: &Path) -> Result<PathBuf, String> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent)
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    remove_abandoned(dir);
    let fresh = sibling(dir, NEW);
    fs::create_dir(&fresh).map_err(|e| format!("cannot create {}: {e}", fresh.display()))?;
    Ok(fresh)
}

/// Replaces `dir` by `fresh`, which holds the files `written` (relative
/// names). Retries when another run swaps its own report in meanwhile.
pub(crate) fn swap_in(dir: &Path, fresh: &Path, written: &[String]) -> Result<(), String> {
    // A rerun that changed nothing leaves the published report alone: no
    // renames, no syncs, and readers never see the directory move.
    if unchanged(dir, fresh, written) {
        let _ = fs::remove_dir_all(fresh);
        return Ok(());
    }
    rooflaw_cache::files::sync_tree(fresh, written)
        .map_err(|e| format!("cannot write {}: {e}", fresh.display()))?;
    let mut list = written.join("\n");
    list.push('\n');
    let manifest = fresh.join(MANIFEST);
    rooflaw_cache::files::write_atomic(&manifest, list.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", manifest.display()))?;
    let mut retired = Vec::new();
    let result = (|| {
        for _ in 0..64 {
            match fs::symlink_metadata(dir) {
                Ok(m) if m.is_symlink() => {
                    return Err(format!(
                        "{} is a symbolic link; rooflaw replaces report directories whole and does not write through links",
                        dir.display()
                    ));
                }
                Ok(m) if !m.is_dir() => {
                    return Err(format!("{} exists and is not a directory", dir.display()));
                }
                Ok(_) => {
                    let old = sibling(dir, OLD);
                    match fs::rename(dir, &old) {
                        Ok(()) => {
                            carry_over(&old, fresh)?;
                            retired.push(old);
                        }
                        Err(e) if e.kind() == ErrorKind::NotFound => {}
                        Err(e) => return Err(format!("cannot replace {}: {e}", dir.display())),
                    }
                }
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot inspect {}: {e}", dir.display())),
            }
            match fs::rename(fresh, dir) {
                Ok(()) => return Ok(()),
                // Another run put its report there first: retire it too.
                Err(_) if fs::symlink_metadata(dir).is_ok() => {}
                Err(e) => return Err(format!("cannot write {}: {e}", dir.display())),
            }
        }
        Err(format!(
            "cannot replace {}: other runs keep replacing it",
            dir.display()
        ))
    })();
    for old in retired {
        // Holds only what rooflaw wrote; remove_dir_all does not follow links.
        let _ = fs::remove_dir_all(old);
    }
    if result.is_err() {
        let _ = fs::remove_dir_all(fresh);
    }
    result
}

/// Whether `dir` already holds exactly the report staged in `fresh`: the
/// same files listed as rooflaw's, each a regular file with the same bytes.
fn unchanged(dir: &Path, fresh: &Path, written: &[String]) -> bool {
    let same_list = fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir())
        && listed(dir) == written.iter().cloned().collect::<BTreeSet<_>>();
    same_list
        && written.iter().all(|rel| {
            let (old, new) = (dir.join(rel), fresh.join(rel));
            match (fs::symlink_metadata(&old), fs::metadata(&new)) {
                (Ok(a), Ok(b)) if a.is_file() && a.len() == b.len() => {
                    matches!((fs::read(&old), fs::read(&new)), (Ok(x), Ok(y)) if x == y)
                }
                _ => false,
            }
        })
}

/// The names the old report listed as rooflaw's.
fn listed(old: &Path) -> BTreeSet<String> {
    let Ok(bytes) = rooflaw_cache::files::read_input(&old.join(MANIFEST), 1 << 20) else {
        return BTreeSet::new();
    };
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Moves what the user put into the old directory into the new one.
fn carry_over(old: &Path, fresh: &Path) -> Result<(), String> {
    let ours = listed(old);
    carry_level(old, fresh, "", &ours)
}

fn carry_level(
    old: &Path,
    fresh: &Path,
    prefix: &str,
    ours: &BTreeSet<String>,
) -> Result<(), String> {
    let here = old.join(prefix);
    let entries =
        fs::read_dir(&here).map_err(|e| format!("cannot list {}: {e}", here.display()))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        if rel == MANIFEST || ours.contains(&rel) {
            continue;
        }
        let Ok(ft) = entry.file_type() else { continue };
        let target = fresh.join(&rel);
        match fs::symlink_metadata(&target) {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                fs::rename(entry.path(), &target)
                    .map_err(|e| format!("cannot keep {}: {e}", entry.path().display()))?;
            }
            // A directory rooflaw writes into too (`data/`): sort its files.
            Ok(m) if ft.is_dir() && m.is_dir() => carry_level(old, fresh, &rel, ours)?,
            // Same name as a file of the new report: the new one wins, as a
            // write to that name always did.
            _ => {}
        }
    }
    Ok(())
}

/// Staging directories of runs that died before swapping them in.
fn remove_abandoned(dir: &Path) {
    let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) else {
        return;
    };
    let parent = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let Ok(entries) = fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let n = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = n.strip_prefix(&prefix) else {
            continue;
        };
        let pid = [NEW, OLD]
            .iter()
            .find_map(|w| rest.strip_prefix(&format!("{w}-")))
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !process_alive(pid)
            && entry.file_type().is_ok_and(|t| t.is_dir())
        {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether a process still runs; where that cannot be told (no `/proc`),
/// assume it does and leave its files alone.
fn process_alive(pid: u32) -> bool {
    pid == std::process::id()
        || !Path::new("/proc/self").exists()
        || Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> BTreeSet<String> {
        walk(dir, "")
    }

    fn walk(dir: &Path, prefix: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for e in fs::read_dir(dir.join(prefix)).unwrap().flatten() {
            let rel = format!("{prefix}{}", e.file_name().to_string_lossy());
            if e.file_type().unwrap().is_dir() {
                out.extend(walk(dir, &format!("{rel}/")));
            } else {
                out.insert(rel);
            }
        }
        out
    }

    fn report(dir: &Path, files: &[&str]) {
        let fresh = stage(dir).unwrap();
        for f in files {
            let p = fresh.join(f);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, f).unwrap();
        }
        let list: Vec<String> = files.iter().map(ToString::to_string).collect();
        swap_in(dir, &fresh, &list).unwrap();
    }

    #[test]
    fn a_swap_keeps_user_files_and_drops_stale_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out/r");
        report(&dir, &["index.html", "data/a.csv", "data/b.csv"]);
        fs::write(dir.join("notes.txt"), "mine").unwrap();
        fs::write(dir.join("data/mine.csv"), "mine").unwrap();
        report(&dir, &["index.html", "data/a.csv"]);
        assert_eq!(
            names(&dir),
            [
                ".rooflaw-report",
                "data/a.csv",
                "data/mine.csv",
                "index.html",
                "notes.txt"
            ]
            .map(String::from)
            .into()
        );
        // No staging directory is left beside it.
        assert_eq!(fs::read_dir(tmp.path().join("out")).unwrap().count(), 1);
    }

    #[cfg(unix)]
    #[test]
    fn an_identical_report_is_left_in_place_and_a_changed_one_replaces_it() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("r");
        let ino = |d: &Path| fs::metadata(d).unwrap().ino();
        report(&dir, &["index.html", "data/a.csv"]);
        fs::write(dir.join("notes.txt"), "mine").unwrap();
        let first = ino(&dir);
        report(&dir, &["index.html", "data/a.csv"]);
        assert_eq!(ino(&dir), first, "an unchanged report was swapped");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 1);
        // Same names, new bytes: published, the user's file carried over.
        let fresh = stage(&dir).unwrap();
        fs::create_dir_all(fresh.join("data")).unwrap();
        fs::write(fresh.join("index.html"), "new").unwrap();
        fs::write(fresh.join("data/a.csv"), "data/a.csv").unwrap();
        swap_in(&dir, &fresh, &["index.html".into(), "data/a.csv".into()]).unwrap();
        assert_ne!(ino(&dir), first);
        assert_eq!(fs::read_to_string(dir.join("index.html")).unwrap(), "new");
        assert_eq!(fs::read_to_string(dir.join("notes.txt")).unwrap(), "mine");
    }

    #[cfg(unix)]
    #[test]
    fn a_linked_data_directory_is_never_emptied() {
        let tmp = tempfile::tempdir().unwrap();
        let victim = tmp.path().join("victim");
        fs::create_dir(&victim).unwrap();
        fs::write(victim.join("precious.csv"), "keep").unwrap();
        let dir = tmp.path().join("r");
        fs::create_dir(&dir).unwrap();
        std::os::unix::fs::symlink(&victim, dir.join("data")).unwrap();
        fs::write(dir.join(MANIFEST), "data/precious.csv\n").unwrap();
        report(&dir, &["data/a.csv"]);
        assert_eq!(
            fs::read_to_string(victim.join("precious.csv")).unwrap(),
            "keep"
        );
        assert!(!fs::symlink_metadata(dir.join("data")).unwrap().is_symlink());
    }
}
