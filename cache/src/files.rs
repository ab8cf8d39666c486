//! Every file rooflaw reads as input or writes as output goes through here:
//! inputs must be regular files under a size limit (a pipeline naming
//! `/dev/zero` or a FIFO fails at once instead of eating memory or hanging),
//! and outputs are written to a fresh, uniquely named temporary file beside
//! the destination, synced, then renamed over it, so a reader (or a crash)
//! sees either the old file or the whole new one, and a symbolic link planted
//! at the destination or at a temporary name is replaced, never written
//! through.
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::fsutil::{sync_dir, unique_name};

/// The largest input file rooflaw reads (pipelines, imports, CSV, YAML).
pub const INPUT_LIMIT: u64 = 64 << 20;

/// Why an input file was not read.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{} is {kind}, not a regular file; rooflaw reads inputs only from regular files", path.display())]
    NotRegular { path: PathBuf, kind: &'static str },
    #[error("{} is {size} bytes, over the {limit}-byte limit for input files", path.display())]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{} is not UTF-8 text: invalid byte at line {line}, column {column}", path.display())]
    NotUtf8 {
        path: PathBuf,
        line: usize,
        column: usize,
    },
}

/// What kind of file a non-regular file is, for messages.
fn kind_of(ft: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() {
        "a directory"
    } else {
        "a special file"
    }
}

/// The bytes of a regular file of at most `limit` bytes. The type is checked
/// before opening (opening a FIFO would block) and again on the open handle;
/// at most `limit + 1` bytes are ever read, so a file growing meanwhile is
/// still refused.
pub fn read_input(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let io = |source| InputError::Io {
        path: path.to_path_buf(),
        source,
    };
    let check = |meta: &fs::Metadata| {
        if !meta.is_file() {
            return Err(InputError::NotRegular {
                path: path.to_path_buf(),
                kind: kind_of(meta.file_type()),
            });
        }
        if meta.len() > limit {
            return Err(InputError::TooLarge {
                path: path.to_path_buf(),
                size: meta.len(),
                limit,
            });
        }
        Ok(())
    };
    check(&fs::metadata(path).map_err(io)?)?;
    let file = File::open(path).map_err(io)?;
    check(&file.metadata().map_err(io)?)?;
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// [`read_input`] as UTF-8 text, a leading byte order mark dropped.
pub fn read_text(path: &Path, limit: u64) -> Result<String, InputError> {
    text_from_bytes(path, read_input(path, limit)?)
}

/// `bytes` as UTF-8 text without a leading byte order mark; invalid UTF-8 is
/// an error naming the line and column of the first bad byte.
pub fn text_from_bytes(path: &Path, mut bytes: Vec<u8>) -> Result<String, InputError> {
    if bytes.starts_with(b"\xEF\xBB\xBF") {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let good = &bytes[..e.utf8_error().valid_up_to()];
        // Everything before the bad byte is valid UTF-8.
        let before = std::str::from_utf8(good).unwrap_or_default();
        InputError::NotUtf8 {
            path: path.to_path_buf(),
            line: before.matches('\n').count() + 1,
            column: before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1,
        }
    })
}

/// Writes `bytes` to a new file at `tmp` (which must not exist: a link
/// planted there makes this fail rather than be followed) and syncs it.
pub(crate) fn write_new(tmp: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = OpenOptions::new().write(true).create_new(true).open(tmp)?;
    f.write_all(bytes)?;
    f.sync_all()
}

/// Writes a file into a directory that only this run writes and that is
/// published whole later (a report being staged): no temporary name and no
/// sync per file, since nobody reads the directory before
/// [`sync_tree`] makes it durable and it is renamed into place. An
/// existing file or link at `dest` is replaced, never written through.
pub fn write_staged(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    match fs::remove_file(dest) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)?
        .write_all(bytes)
}

/// Makes the files `rel` under `root`, written with [`write_staged`], and
/// the directories holding them durable: one sync per file and per
/// directory, instead of a temporary file and two syncs per file.
pub fn sync_tree(root: &Path, rel: &[String]) -> io::Result<()> {
    let mut dirs = std::collections::BTreeSet::new();
    dirs.insert(root.to_path_buf());
    for r in rel {
        let path = root.join(r);
        File::open(&path)?.sync_all()?;
        if let Some(parent) = path.parent() {
            dirs.insert(parent.to_path_buf());
        }
    }
    for dir in dirs {
        if cfg!(unix) {
            File::open(&dir)?.sync_all()?;
        }
    }
    Ok(())
}

/// A fresh hidden name beside `dest` for a file that will be renamed to it.
pub fn temp_beside(dest: &Path) -> PathBuf {
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dest.with_file_name(format!(".{name}.{}.tmp", unique_name("")))
}

/// Replaces `dest` with `bytes` atomically: a fresh temporary file beside it,
/// fsync, rename, fsync of the directory. On any failure (a full disk) the
/// temporary file is removed and `dest` is unchanged.
pub fn write_atomic(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = temp_beside(dest);
    let result = write_new(&tmp, bytes).and_then(|()| fs::rename(&tmp, dest));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
        return result;
    }
    match dest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => sync_dir(Path::new(".")),
    }
    .map_err(|e| match e {
        crate::Error::Io { source, .. } => source,
        other => io::Error::other(other.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_files_and_big_files_are_refused_at_once() {
        let err = read_input(Path::new("/dev/zero"), INPUT_LIMIT).unwrap_err();
        assert!(matches!(err, InputError::NotRegular { .. }), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        fs::write(&big, vec![b'x'; 11]).unwrap();
        let err = read_input(&big, 10).unwrap_err();
        assert!(err.to_string().contains("11 bytes"), "{err}");
        let err = read_input(dir.path(), 10).unwrap_err();
        assert!(err.to_string().contains("a directory"), "{err}");
    }

    #[test]
    fn text_drops_a_bom_and_locates_bad_bytes() {
        let p = Path::new("x");
        assert_eq!(
            text_from_bytes(p, b"\xEF\xBB\xBFab".to_vec()).unwrap(),
            "ab"
        );
        let err = text_from_bytes(p, b"ok\nab\xFFc".to_vec()).unwrap_err();
        assert!(err.to_string().contains("line 2, column 3"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn an_atomic_write_replaces_a_planted_link_instead_of_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let dest = dir.path().join("out.csv");
        std::os::unix::fs::symlink(&victim, &dest).unwrap();
        write_atomic(&dest, b"new").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(&dest).unwrap(), "new");
        assert!(!fs::symlink_metadata(&dest).unwrap().is_symlink());
        let leftovers = fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 2, "no temporary file is left");
    }
}
