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
    /// Objects that cannot be read at all (a directory in place of one, no
    /// permission), with the reason.
    pub unreadable: Vec<(PathBuf, String)>,
    /// What `--repair` moved to quarantine (unreadable objects, bad
    /// entries); the next run recomputes them.
    pub repaired: Vec<PathBuf>,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.corrupt.is_empty()
            && self.missing.is_empty()
            && self.bad_entries.is_empty()
            && self.unreadable.is_empty()
    }
}

impl Store {
    /// Rehashes every object (quarantining corrupt ones, so they then read as missing) and
    /// checks that every entry's outputs are present.
    pub fn verify(&self) -> Result<VerifyReport, Error> {
        self.verify_with(false)
    }

    /// [`Store::verify`], and moves to quarantine what cannot be read:
    /// objects that are directories or unreadable, entries that do not
    /// parse. Nothing else is needed for the next run to recompute them.
    pub fn verify_repair(&self) -> Result<VerifyReport, Error> {
        self.verify_with(true)
    }

    fn verify_with(&self, repair: bool) -> Result<VerifyReport, Error> {
        let mut report = VerifyReport::default();
        for (h, path) in self.object_files(&mut report.strays)? {
            let (actual, size) = match Store::hash_object_file(&path) {
                Ok(Some(x)) => x,
                Ok(None) => continue,
                Err(Error::Io { source, .. }) => {
                    if repair {
                        self.move_aside(&path, &format!("unreadable ({source})"))?;
                        report.repaired.push(path.clone());
                    }
                    report.unreadable.push((path, source.to_string()));
                    continue;
                }
                Err(e) => return Err(e),
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
            let parsed = fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Entry>(&b).map_err(|e| e.to_string()));
            let entry: Entry = match parsed {
                Ok(e) => e,
                Err(e) => {
                    if repair {
                        self.move_aside(&path, "an unreadable entry")?;
                        report.repaired.push(path.clone());
                    }
                    report.bad_entries.push((path, e));
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
