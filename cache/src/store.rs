//! The store root, its layout and lifetime lock, and immutable content-addressed objects.
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::IoContext;
use crate::fsutil::{clear_dir, publish, sync_dir, unique_name};
use crate::{Error, Hash};

/// Environment variable that overrides the default cache location.
pub const CACHE_ENV: &str = "ROOFLAW_CACHE";

/// Bytes read per step when streaming a file through blake3.
const CHUNK: usize = 1 << 20;

/// What `Store::open` cleaned up after earlier processes that died mid-run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Recovered {
    /// Half-written temporary files removed (only when no other process had the store open).
    pub tmp_files: usize,
    /// In-progress markers whose owner is gone.
    pub stale_runs: usize,
}

impl Recovered {
    pub fn any(&self) -> bool {
        self.tmp_files + self.stale_runs > 0
    }
}

/// A content-addressed store rooted at one directory:
///
/// ```text
/// lock                     shared by runs for the Store's lifetime, exclusive for gc
/// objects/ab/cdef…         immutable blobs named by the blake3 of their content
/// entries/<key>.json       committed entries, each with its manifest
/// refs/<name>              the last key of a named thing (e.g. one stage of one pipeline)
/// runs/inprogress/<key>    marker of a key being computed (pid, start time)
/// runs/records/*.json      the keys of recent runs, roots for gc
/// locks/<key>.lock         per-key lock: one computer per key at a time
/// tmp/                     files being written; renamed into place when complete
/// quarantine/              corrupt objects moved aside
/// ```
pub struct Store {
    pub(crate) root: PathBuf,
    /// Held shared while the Store lives; `gc` swaps it for an exclusive lock.
    pub(crate) lock: File,
    pub(crate) warnings: Mutex<Vec<String>>,
    pub(crate) recovered: Recovered,
    /// Opened without write permission: lookups work, writes fail.
    pub(crate) read_only: bool,
}

pub(crate) const DIRS: [&str; 8] = [
    "objects",
    "entries",
    "refs",
    "runs/inprogress",
    "runs/records",
    "locks",
    "tmp",
    "quarantine",
];

impl Store {
    /// Opens (creating if needed) the store at `root`, takes the shared run lock and cleans up
    /// after dead processes: stale in-progress markers always, temporary files only when no other
    /// process has the store open (they could be its writes in flight).
    pub fn open(root: &Path) -> Result<Store, Error> {
        for dir in DIRS {
            let path = root.join(dir);
            fs::create_dir_all(&path).ctx("create directory", &path)?;
        }
        let lock_path = root.join("lock");
        let mut read_only = false;
        let lock = match OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
        {
            Ok(f) => f,
            // A cache one may not write (read-only mount, `chattr +i`, another
            // user's): still readable, so `ls`, `plan` and `verify` work.
            Err(e) if e.kind() == ErrorKind::PermissionDenied || e.raw_os_error() == Some(30) => {
                read_only = true;
                File::open(&lock_path).ctx("open", &lock_path)?
            }
            Err(e) => return Err(e).ctx("open", &lock_path),
        };
        let mut recovered = Recovered::default();
        match lock.try_lock() {
            Ok(()) => {
                if !read_only {
                    recovered.tmp_files = clear_dir(&root.join("tmp"))?;
                }
                lock.unlock().ctx("unlock", &lock_path)?;
            }
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Error(e)) => return Err(e).ctx("lock", &lock_path),
        }
        // Blocks only while a gc holds the exclusive lock.
        lock.lock_shared().ctx("lock", &lock_path)?;
        let mut store = Store {
            root: root.to_path_buf(),
            lock,
            warnings: Mutex::new(Vec::new()),
            recovered,
            read_only,
        };
        if !read_only {
            store.recovered.stale_runs = store.clean_stale_markers()?;
        }
        Ok(store)
    }

    /// `.rooflaw/` next to the pipeline file, unless `ROOFLAW_CACHE` is set.
    pub fn default_root(pipeline_file: &Path) -> PathBuf {
        match std::env::var_os(CACHE_ENV) {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => pipeline_file
                .parent()
                .unwrap_or(Path::new("."))
                .join(".rooflaw"),
        }
    }

    /// Whether the store could only be opened for reading.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// What opening the store recovered from earlier crashes.
    pub fn recovered(&self) -> Recovered {
        self.recovered
    }

    /// Warnings recorded so far (corrupt objects moved to quarantine), oldest first.
    pub fn warnings(&self) -> Vec<String> {
        self.warnings.lock().map(|w| w.clone()).unwrap_or_default()
    }

    pub(crate) fn warn(&self, message: String) {
        if let Ok(mut w) = self.warnings.lock() {
            w.push(message);
        }
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn object_path(&self, h: &Hash) -> PathBuf {
        let hex = h.to_hex();
        self.root.join("objects").join(&hex[..2]).join(&hex[2..])
    }

    /// Whether the object file exists (no content check).
    pub fn contains(&self, h: &Hash) -> bool {
        self.object_path(h).is_file()
    }

    /// Stores `bytes` and returns their hash; a no-op when the object is already present.
    pub fn put(&self, bytes: &[u8]) -> Result<Hash, Error> {
        let h = Hash::of(bytes);
        // A same-named object of the wrong size is damaged (e.g. truncated): rewrite it. Equal
        // sizes are trusted here; content is checked on every `get`.
        if fs::metadata(self.object_path(&h)).is_ok_and(|m| m.len() == bytes.len() as u64) {
            return Ok(h);
        }
        let tmp = self.tmp_dir().join(unique_name("o"));
        let result = (|| {
            let mut f = File::create(&tmp).ctx("create", &tmp)?;
            f.write_all(bytes).ctx("write", &tmp)?;
            f.sync_all().ctx("fsync", &tmp)?;
            drop(f);
            self.install(&tmp, &h)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result.map(|()| h)
    }

    /// Stores the file at `path`, hashing while copying so a large checkpoint is read once.
    pub fn put_file(&self, path: &Path) -> Result<Hash, Error> {
        let mut src = File::open(path).ctx("open", path)?;
        let tmp = self.tmp_dir().join(unique_name("f"));
        let result = (|| {
            let mut dst = File::create(&tmp).ctx("create", &tmp)?;
            let mut hasher = blake3::Hasher::new();
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = match src.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e).ctx("read", path),
                };
                hasher.update(&buf[..n]);
                dst.write_all(&buf[..n]).ctx("write", &tmp)?;
            }
            dst.sync_all().ctx("fsync", &tmp)?;
            drop(dst);
            let h = Hash::from(hasher.finalize());
            if self.contains(&h) {
                fs::remove_file(&tmp).ctx("remove", &tmp)?;
            } else {
                self.install(&tmp, &h)?;
            }
            Ok(h)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    /// Moves a complete temporary file to the object path of `h`. Two writers of the same
    /// content may race here; both renames carry identical bytes, so either winning is fine.
    fn install(&self, tmp: &Path, h: &Hash) -> Result<(), Error> {
        let dest = self.object_path(h);
        self.clear_non_file(&dest)?;
        let dir = dest.parent().expect("object paths have a parent");
        if !dir.is_dir() {
            fs::create_dir_all(dir).ctx("create directory", dir)?;
            sync_dir(&self.root.join("objects"))?;
        }
        publish(tmp, &dest)
    }

    /// The object's bytes, verified against its hash. A missing object is `Ok(None)`; so is a
    /// corrupt one, which is also moved to `quarantine/` and recorded in `warnings()`.
    pub fn get(&self, h: &Hash) -> Result<Option<Vec<u8>>, Error> {
        let path = self.object_path(h);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            // A directory or an unreadable file in its place: move it aside
            // so the object is recomputed instead of blocking every run.
            Err(e) => {
                self.move_aside(&path, &format!("unreadable ({e})"))?;
                return Ok(None);
            }
        };
        if Hash::from(hash_bytes(&bytes)) == *h {
            Ok(Some(bytes))
        } else {
            self.quarantine(h)?;
            Ok(None)
        }
    }

    /// Rehashes the object from disk without keeping it in memory. `Ok(false)` when missing or
    /// corrupt (a corrupt one is quarantined, as in `get`).
    pub fn check_object(&self, h: &Hash) -> Result<bool, Error> {
        let path = self.object_path(h);
        let hashed = match Store::hash_object_file(&path) {
            Ok(x) => x,
            Err(Error::Io { source, .. }) => {
                self.move_aside(&path, &format!("unreadable ({source})"))?;
                return Ok(false);
            }
            Err(e) => return Err(e),
        };
        match hashed {
            None => Ok(false),
            Some((actual, _)) if actual == *h => Ok(true),
            Some(_) => {
                self.quarantine(h)?;
                Ok(false)
            }
        }
    }

    /// Streams a file through blake3: `None` when it does not exist, else (hash, size).
    pub(crate) fn hash_object_file(path: &Path) -> Result<Option<(Hash, u64)>, Error> {
        let mut f = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).ctx("open", path),
        };
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; CHUNK];
        let mut size = 0u64;
        loop {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    size += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e).ctx("read", path),
            }
        }
        Ok(Some((hasher.finalize().into(), size)))
    }

    /// Moves whatever is at `path` (a file, a directory, a link) into
    /// `quarantine/`, with a warning saying why.
    pub(crate) fn move_aside(&self, path: &Path, why: &str) -> Result<(), Error> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let to = self
            .root
            .join("quarantine")
            .join(unique_name(&format!("{name}-")));
        match fs::rename(path, &to) {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).ctx("quarantine", path),
        }
        self.warn(format!(
            "{} was {why}; moved to {} and treated as missing",
            path.display(),
            to.display()
        ));
        Ok(())
    }

    /// Something other than a regular file where a file is to be written
    /// (a directory left by hand, a link) is moved aside first, so the
    /// write succeeds and never goes through a link.
    pub(crate) fn clear_non_file(&self, dest: &Path) -> Result<(), Error> {
        match fs::symlink_metadata(dest) {
            Ok(m) if !m.is_file() => self.move_aside(dest, "not a regular file"),
            _ => Ok(()),
        }
    }

    /// Moves a corrupt object aside (kept for inspection, removed by gc) and records a warning.
    pub(crate) fn quarantine(&self, h: &Hash) -> Result<(), Error> {
        let from = self.object_path(h);
        let to = self
            .root
            .join("quarantine")
            .join(unique_name(&format!("{h}-")));
        match fs::rename(&from, &to) {
            Ok(()) => {}
            // Another reader quarantined it first.
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e).ctx("quarantine", &from),
        }
        self.warn(format!(
            "object {} was corrupt (content does not match its hash); moved to {} and treated as missing",
            h.short(),
            to.display()
        ));
        Ok(())
    }
}

/// blake3 of an in-memory buffer, single-threaded SIMD. On the 2-core dev machine a 100 MB
/// `get` took 168 ms, of which hashing was 47 ms and reading the rest, so `update_rayon` could
/// save at most ~25 ms there and is not worth a rayon dependency in this crate.
pub(crate) fn hash_bytes(bytes: &[u8]) -> blake3::Hash {
    blake3::hash(bytes)
}
