//! Garbage collection: keep what the roots reach, delete the rest.
use std::collections::BTreeSet;
use std::fs::{self, TryLockError};

use crate::entry::Entry;
use crate::error::IoContext;
use crate::{Error, Hash, Store};

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GcReport {
    pub dry_run: bool,
    pub entries_kept: usize,
    pub entries_removed: usize,
    pub objects_kept: usize,
    pub objects_removed: usize,
    /// Bytes of removed objects, quarantined files and unreadable entries (would be, on a dry
    /// run).
    pub bytes_freed: u64,
    pub refs_removed: usize,
    /// Roots that name no entry (already collected, or never committed).
    pub roots_missing: usize,
}

impl Store {
    /// Keeps the entries named by `roots` and the objects they reference; deletes every other
    /// entry, object, quarantined file, dangling ref and leftover lock or temporary file.
    ///
    /// Takes the store's exclusive lock, failing with `Error::Busy` instead of waiting if another
    /// process has the store open. `&mut self` keeps this process's own claims out meanwhile. A
    /// dry run only reads, under the shared lock, and deletes nothing.
    pub fn gc(&mut self, roots: &[Hash], dry_run: bool) -> Result<GcReport, Error> {
        if dry_run {
            return self.collect(roots, true);
        }
        let lock_path = self.root.join("lock");
        self.lock.unlock().ctx("unlock", &lock_path)?;
        let exclusive = self.lock.try_lock();
        let result = match exclusive {
            Ok(()) => self.collect(roots, false),
            Err(TryLockError::WouldBlock) => Err(Error::Busy {
                root: self.root.clone(),
            }),
            Err(TryLockError::Error(e)) => Err(e).ctx("lock", &lock_path),
        };
        // Back to a shared lock: unlock is a no-op if the exclusive lock was not taken.
        self.lock.unlock().ctx("unlock", &lock_path)?;
        self.lock.lock_shared().ctx("lock", &lock_path)?;
        result
    }

    fn collect(&self, roots: &[Hash], dry_run: bool) -> Result<GcReport, Error> {
        let mut report = GcReport {
            dry_run,
            ..GcReport::default()
        };
        let roots: BTreeSet<Hash> = roots.iter().copied().collect();
        let mut live_objects = BTreeSet::new();
        let mut removed_entries = BTreeSet::new();
        let existing: BTreeSet<Hash> = self.entry_keys()?.into_iter().collect();
        report.roots_missing = roots.difference(&existing).count();
        for key in &existing {
            let path = self.entry_path(key);
            let parsed: Option<Entry> = fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice(&b).ok());
            match parsed {
                Some(entry) if roots.contains(key) => {
                    report.entries_kept += 1;
                    live_objects.extend(entry.outputs.values().copied());
                }
                _ => {
                    report.entries_removed += 1;
                    report.bytes_freed += fs::metadata(&path).map_or(0, |m| m.len());
                    removed_entries.insert(*key);
                    if !dry_run {
                        fs::remove_file(&path).ctx("remove", &path)?;
                    }
                }
            }
        }
        let mut strays = Vec::new();
        for (h, path) in self.object_files(&mut strays)? {
            if live_objects.contains(&h) {
                report.objects_kept += 1;
                continue;
            }
            report.objects_removed += 1;
            report.bytes_freed += fs::metadata(&path).map_or(0, |m| m.len());
            if !dry_run {
                fs::remove_file(&path).ctx("remove", &path)?;
                // Only succeeds once the prefix directory is empty, which is the point.
                let _ = path.parent().map(fs::remove_dir);
            }
        }
        for (name, key) in self.refs()? {
            if removed_entries.contains(&key) || !existing.contains(&key) {
                report.refs_removed += 1;
                if !dry_run {
                    self.remove_ref(&name)?;
                }
            }
        }
        for dir in ["quarantine", "locks", "tmp"] {
            let dir = self.root.join(dir);
            for item in fs::read_dir(&dir).ctx("list", &dir)? {
                let path = item.ctx("list", &dir)?.path();
                if dir.ends_with("quarantine") {
                    report.bytes_freed += fs::metadata(&path).map_or(0, |m| m.len());
                }
                if !dry_run && path.is_file() {
                    fs::remove_file(&path).ctx("remove", &path)?;
                }
            }
        }
        Ok(report)
    }
}
