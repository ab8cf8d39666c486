//! Crash-safe file writing: a reader sees either the old file or the complete new one.
use std::fs::{self, File};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::Error;
use crate::error::IoContext;

/// A file name no other writer (thread or process) will pick.
pub(crate) fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{prefix}{}-{nanos}-{n}", std::process::id())
}

/// Writes `bytes` to `dest` through a temporary file in `tmp_dir` (same filesystem as `dest`):
/// write, fsync, rename, fsync the directory, so a crash never leaves a partial `dest`.
pub(crate) fn write_atomic(tmp_dir: &Path, dest: &Path, bytes: &[u8]) -> Result<(), Error> {
    let tmp = tmp_dir.join(unique_name("w"));
    let result = crate::files::write_new(&tmp, bytes)
        .ctx("write", &tmp)
        .and_then(|()| publish(&tmp, dest));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Renames a complete, synced temporary file into place and syncs the directory entry.
pub(crate) fn publish(tmp: &Path, dest: &Path) -> Result<(), Error> {
    fs::rename(tmp, dest).ctx("rename into", dest)?;
    // A bare file name's parent is "", which means the current directory.
    match dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir)?,
        Some(_) => sync_dir(Path::new("."))?,
        None => {}
    }
    Ok(())
}

/// Makes a rename durable. Directories cannot be opened as files on Windows, where the rename
/// itself is durable enough, so only Unix syncs.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    if cfg!(unix) {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .ctx("fsync directory", dir)?;
    }
    Ok(())
}

/// Removes every plain file directly in `dir`; returns how many.
pub(crate) fn clear_dir(dir: &Path) -> Result<usize, Error> {
    let mut n = 0;
    for item in fs::read_dir(dir).ctx("list", dir)? {
        let path = item.ctx("list", dir)?.path();
        if path.is_file() {
            fs::remove_file(&path).ctx("remove", &path)?;
            n += 1;
        }
    }
    Ok(n)
}
