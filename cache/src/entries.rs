//! Committing and looking up entries, and listing them.
use std::fs;
use std::io::ErrorKind;
use std::path::PathBuf;

use crate::entry::{Entry, EntryInfo, Lookup};
use crate::error::IoContext;
use crate::fsutil::write_atomic;
use crate::{Error, Hash, Store};

impl Store {
    pub(crate) fn entry_path(&self, key: &Hash) -> PathBuf {
        self.root.join("entries").join(format!("{key}.json"))
    }

    /// Commits `entry` under `key`. This is the crash-safe commit point: it refuses an entry
    /// whose outputs are not all stored yet, and the write is atomic.
    pub fn put_entry(&self, key: &Hash, entry: &Entry) -> Result<(), Error> {
        if let Some((name, h)) = entry.outputs.iter().find(|(_, h)| !self.contains(h)) {
            return Err(Error::MissingOutput {
                key: *key,
                output: name.clone(),
                object: *h,
            });
        }
        let json = serde_json::to_vec(entry).expect("an Entry always serialises");
        self.clear_non_file(&self.entry_path(key))?;
        write_atomic(&self.tmp_dir(), &self.entry_path(key), &json)
    }

    /// The entry file parsed, without looking at its outputs.
    fn read_entry(&self, key: &Hash) -> Option<Result<Entry, String>> {
        let path = self.entry_path(key);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return None,
            // Broken, so recomputed (and replaced when committed).
            Err(e) => return Some(Err(format!("entry file is unreadable: {e}"))),
        };
        Some(serde_json::from_slice(&bytes).map_err(|e| format!("entry file is unreadable: {e}")))
    }

    /// Whether `key` is cached, checking that every output object exists (a `stat` each, so a
    /// fully cached pipeline is planned without reading its artifacts). Content is verified when
    /// an output is read with `get`, or up front with `lookup_verified`.
    pub fn lookup(&self, key: &Hash) -> Result<Lookup, Error> {
        self.lookup_with(key, |h| Ok(self.contains(h)))
    }

    /// Like `lookup`, but rehashes every output; a corrupt one is quarantined and the entry
    /// reported `Broken`.
    pub fn lookup_verified(&self, key: &Hash) -> Result<Lookup, Error> {
        self.lookup_with(key, |h| self.check_object(h))
    }

    fn lookup_with(
        &self,
        key: &Hash,
        present: impl Fn(&Hash) -> Result<bool, Error>,
    ) -> Result<Lookup, Error> {
        let entry = match self.read_entry(key) {
            None => return Ok(Lookup::Miss),
            Some(Err(reason)) => return Ok(Lookup::Broken(reason)),
            Some(Ok(entry)) => entry,
        };
        // Check every output, not just up to the first bad one: verifying
        // quarantines a corrupt object, and one left in place would survive
        // the recompute, since `put` keeps an object that is already there.
        let mut broken = Vec::new();
        for (name, h) in &entry.outputs {
            if !present(h)? {
                broken.push(format!(
                    "output `{name}` (object {}) is missing or corrupt",
                    h.short()
                ));
            }
        }
        Ok(if broken.is_empty() {
            Lookup::Hit(entry)
        } else {
            Lookup::Broken(broken.join("; "))
        })
    }

    /// The entry if it is a hit; `None` for both never-run and broken (use `lookup` to tell
    /// them apart).
    pub fn get_entry(&self, key: &Hash) -> Result<Option<Entry>, Error> {
        Ok(match self.lookup(key)? {
            Lookup::Hit(e) => Some(e),
            Lookup::Miss | Lookup::Broken(_) => None,
        })
    }

    /// The stored entry even when its outputs are gone: its manifest still explains a rerun.
    pub fn get_manifest(&self, key: &Hash) -> Result<Option<serde_json::Value>, Error> {
        Ok(self
            .read_entry(key)
            .and_then(Result::ok)
            .map(|e| e.manifest))
    }

    /// Every readable entry, oldest first. Unreadable entry files are skipped (`verify` lists
    /// them).
    pub fn ls(&self) -> Result<Vec<EntryInfo>, Error> {
        let mut out = Vec::new();
        for key in self.entry_keys()? {
            let Some(Ok(entry)) = self.read_entry(&key) else {
                continue;
            };
            let mut size = 0;
            let mut missing = 0;
            for h in entry.outputs.values() {
                match fs::metadata(self.object_path(h)) {
                    Ok(m) => size += m.len(),
                    Err(_) => missing += 1,
                }
            }
            out.push(EntryInfo {
                key,
                stage: entry.stage,
                kind: entry.kind,
                size,
                created: entry.created,
                duration_ms: entry.duration_ms,
                outputs: entry.outputs.len(),
                missing_outputs: missing,
            });
        }
        out.sort_by(|a, b| (a.created, &a.stage, a.key).cmp(&(b.created, &b.stage, b.key)));
        Ok(out)
    }

    /// Keys of all entry files whose names are valid keys.
    pub(crate) fn entry_keys(&self) -> Result<Vec<Hash>, Error> {
        let dir = self.root.join("entries");
        let mut keys = Vec::new();
        for item in fs::read_dir(&dir).ctx("list", &dir)? {
            let name = item.ctx("list", &dir)?.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".json")) else {
                continue;
            };
            if let Ok(key) = stem.parse() {
                keys.push(key);
            }
        }
        keys.sort_unstable();
        Ok(keys)
    }
}
