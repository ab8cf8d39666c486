//! Rehashing the whole store.
use std::fs;
use std::path::PathBuf;

use crate::entry::Entry;
use crate::error::IoContext;
use crate::{Error, Hash, Store};

/// An entry output whose object is not (or no longer) in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct MissingOutput {
    pub key: Hash,
    pub stage: String,
    pub output: String,
    pub object: Hash,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct VerifyReport {
    pub objects_checked: usize,
    pub bytes_checked: u64,
    /// Objects whose content did not match their name; moved to quarantine.
    pub corrupt: Vec<Hash>,
    pub missing: Vec<MissingOutput>,
    /// Entry files that cannot be parsed, with the reason.
    pub bad_entries: Vec<(PathBuf, String)>,
    /// Files under objects/ whose names are not hashes (left alone).
    pub strays: Vec<PathBuf>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.corrupt.is_empty() && self.missing.is_empty() && self.bad_entries.is_empty()
    }
}

impl Store {
    /// Rehashes every object (quarantining corrupt ones, so they then read as missing) and
    /// checks that every entry's outputs are present.
    pub fn verify(&self) -> Result<VerifyReport, Error> {
        let mut report = VerifyReport::default();
        for (h, path) in self.object_files(&mut report.strays)? {
            let Some((actual, size)) = Store::hash_object_file(&path)? else {
                continue;
            };
            report.objects_checked += 1;
            report.bytes_checked += size;
            if actual != h {
                self.quarantine(&h)?;
                report.corrupt.push(h);
            }
        }
        for key in self.entry_keys()? {
            let path = self.entry_path(&key);
            let bytes = fs::read(&path).ctx("read", &path)?;
            let entry: Entry = match serde_json::from_slice(&bytes) {
                Ok(e) => e,
                Err(e) => {
                    report.bad_entries.push((path, e.to_string()));
                    continue;
                }
            };
            for (name, h) in &entry.outputs {
                if !self.contains(h) {
                    report.missing.push(MissingOutput {
                        key,
                        stage: entry.stage.clone(),
                        output: name.clone(),
                        object: *h,
                    });
                }
            }
        }
        Ok(report)
    }

    /// Every object file as (hash from its name, path); misnamed files go to `strays`.
    pub(crate) fn object_files(
        &self,
        strays: &mut Vec<PathBuf>,
    ) -> Result<Vec<(Hash, PathBuf)>, Error> {
        let objects = self.root.join("objects");
        let mut out = Vec::new();
        for dir in fs::read_dir(&objects).ctx("list", &objects)? {
            let dir = dir.ctx("list", &objects)?;
            let prefix = dir.file_name().to_string_lossy().into_owned();
            if !dir.path().is_dir() {
                strays.push(dir.path());
                continue;
            }
            for file in fs::read_dir(dir.path()).ctx("list", dir.path())? {
                let file = file.ctx("list", dir.path())?;
                let name = format!("{prefix}{}", file.file_name().to_string_lossy());
                match name.parse() {
                    Ok(h) => out.push((h, file.path())),
                    Err(_) => strays.push(file.path()),
                }
            }
        }
        out.sort();
        Ok(out)
    }
}
