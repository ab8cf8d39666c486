//! Claiming a key before computing it: a per-key lock so concurrent runs compute each key once,
//! and an in-progress marker so a killed run is recognised and cleaned up on the next open.
//!
//! Staleness is decided by the per-key lock, not by probing the pid in the marker: the OS drops a
//! dead process's file locks, whereas pids are reused. The pid is kept for humans.
use std::fs::{self, File, OpenOptions, TryLockError};
use std::path::PathBuf;

use crate::entry::{Entry, Lookup, unix_now};
use crate::error::IoContext;
use crate::{Error, Hash, Store};

/// The outcome of `Store::begin`.
pub enum Claim<'a> {
    /// Committed and intact (possibly by a concurrent run we waited for).
    Cached(Entry),
    /// Ours to compute; `commit` or drop the guard.
    Compute(InProgress<'a>),
}

/// Holds the per-key lock and the in-progress marker until committed or dropped (an error or a
/// panic in the stage drops it, which aborts cleanly).
pub struct InProgress<'a> {
    store: &'a Store,
    key: Hash,
    marker: PathBuf,
    _key_lock: File,
    /// Whether the key had a broken entry (outputs missing or corrupt) when claimed.
    pub was_broken: bool,
}

impl Store {
    fn key_lock(&self, key: &Hash) -> Result<File, Error> {
        let path = self.root.join("locks").join(format!("{key}.lock"));
        OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .ctx("open", &path)
    }

    fn marker_path(&self, key: &Hash) -> PathBuf {
        self.root.join("runs/inprogress").join(key.to_hex())
    }

    /// Claims `key`: waits while another thread or process computes it, then returns the entry
    /// if that produced one, else a guard to compute it under.
    pub fn begin(&self, key: &Hash) -> Result<Claim<'_>, Error> {
        let lock = self.key_lock(key)?;
        lock.lock().ctx("lock key", self.marker_path(key))?;
        let was_broken = match self.lookup(key)? {
            Lookup::Hit(entry) => return Ok(Claim::Cached(entry)),
            Lookup::Miss => false,
            Lookup::Broken(_) => true,
        };
        let marker = self.marker_path(key);
        let note = format!("pid={}\nstarted={}\n", std::process::id(), unix_now());
        fs::write(&marker, note).ctx("write", &marker)?;
        Ok(Claim::Compute(InProgress {
            store: self,
            key: *key,
            marker,
            _key_lock: lock,
            was_broken,
        }))
    }

    /// Removes markers whose key lock is free: their process died mid-computation.
    pub(crate) fn clean_stale_markers(&self) -> Result<usize, Error> {
        let dir = self.root.join("runs/inprogress");
        let mut stale = 0;
        for item in fs::read_dir(&dir).ctx("list", &dir)? {
            let path = item.ctx("list", &dir)?.path();
            let key: Option<Hash> = path.file_name().and_then(|n| n.to_str()?.parse().ok());
            let Some(key) = key else {
                fs::remove_file(&path).ctx("remove", &path)?;
                continue;
            };
            let lock = self.key_lock(&key)?;
            match lock.try_lock() {
                Ok(()) => {
                    // Re-check under the lock: the owner may have finished in between.
                    if path.exists() {
                        fs::remove_file(&path).ctx("remove", &path)?;
                        stale += 1;
                    }
                }
                Err(TryLockError::WouldBlock) => {}
                Err(TryLockError::Error(e)) => return Err(e).ctx("lock key", &path),
            }
        }
        Ok(stale)
    }

    /// Keys some live process is computing right now.
    pub fn in_progress(&self) -> Result<Vec<Hash>, Error> {
        let dir = self.root.join("runs/inprogress");
        let mut keys = Vec::new();
        for item in fs::read_dir(&dir).ctx("list", &dir)? {
            let name = item.ctx("list", &dir)?.file_name();
            if let Some(key) = name.to_str().and_then(|n| n.parse().ok()) {
                keys.push(key);
            }
        }
        Ok(keys)
    }
}

impl InProgress<'_> {
    pub fn key(&self) -> &Hash {
        &self.key
    }

    /// Commits the entry (its outputs must already be stored) and releases the key.
    pub fn commit(self, entry: &Entry) -> Result<(), Error> {
        self.store.put_entry(&self.key, entry)
    }

    /// Gives up the key without an entry; same as dropping the guard.
    pub fn abort(self) {}
}

impl Drop for InProgress<'_> {
    fn drop(&mut self) {
        // Marker first, lock second (when the File drops), so an unlocked key never has a live
        // marker. A failed removal leaves a marker the next open treats as stale.
        let _ = fs::remove_file(&self.marker);
    }
}
