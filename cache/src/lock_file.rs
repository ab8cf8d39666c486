//! `FILE.lock`: the key and output hashes of every stage of one pipeline, in YAML beside it,
//! so `run --locked` can refuse to change anything and an experiment can be shared exactly.
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::IoContext;
use crate::{Error, Hash};

/// The lock file format version this crate reads and writes.
pub const LOCK_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockFile {
    pub version: u32,
    pub pipeline: String,
    pub stages: BTreeMap<String, LockedStage>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockedStage {
    pub kind: String,
    pub key: Hash,
    pub outputs: BTreeMap<String, Hash>,
}

impl LockFile {
    pub fn new(pipeline: impl Into<String>) -> LockFile {
        LockFile {
            version: LOCK_VERSION,
            pipeline: pipeline.into(),
            stages: BTreeMap::new(),
        }
    }

    /// `FILE.lock` beside `FILE` (the full name plus `.lock`, e.g. `sweep.rl.lock`).
    pub fn path_for(pipeline_file: &Path) -> PathBuf {
        let mut name = pipeline_file.file_name().unwrap_or_default().to_os_string();
        name.push(".lock");
        pipeline_file.with_file_name(name)
    }

    /// Reads a lock file; `Ok(None)` when it does not exist.
    pub fn read(path: &Path) -> Result<Option<LockFile>, Error> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).ctx("read", path),
        };
        let lock: LockFile = yaml_serde::from_str(&text).map_err(|source| Error::Yaml {
            path: path.to_path_buf(),
            source,
        })?;
        if lock.version != LOCK_VERSION {
            return Err(Error::LockVersion {
                path: path.to_path_buf(),
                found: lock.version,
                expected: LOCK_VERSION,
            });
        }
        Ok(Some(lock))
    }

    /// Writes atomically (temporary file in the same directory, fsync, rename).
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let text = yaml_serde::to_string(self).expect("a LockFile always serialises");
        let text = format!("# Written by rooflaw; commit it to pin results. Do not edit.\n{text}");
        // Rewriting an identical lock would cost a cached rerun two syncs.
        let same_len = std::fs::metadata(path).is_ok_and(|m| m.len() == text.len() as u64);
        if same_len && std::fs::read(path).is_ok_and(|old| old == text.as_bytes()) {
            return Ok(());
        }
        crate::files::write_atomic(path, text.as_bytes()).ctx("write", path)
    }

    /// Human-readable differences from `self` (the locked state) to `other` (what a run would
    /// write); empty when identical.
    pub fn diff(&self, other: &LockFile) -> Vec<String> {
        let mut out = Vec::new();
        // Older lock files hold the path as typed; the lock sits beside its
        // pipeline, so only the file name says which pipeline it pins, and
        // a run from another directory must agree.
        let name = |p: &str| Path::new(p).file_name().map(std::ffi::OsStr::to_os_string);
        if name(&self.pipeline) != name(&other.pipeline) {
            out.push(format!(
                "pipeline changed from `{}` to `{}`",
                self.pipeline, other.pipeline
            ));
        }
        for (name, old) in &self.stages {
            let Some(new) = other.stages.get(name) else {
                out.push(format!("stage `{name}` removed"));
                continue;
            };
            if old.kind != new.kind {
                out.push(format!(
                    "stage `{name}`: kind changed from `{}` to `{}`",
                    old.kind, new.kind
                ));
            }
            if old.key != new.key {
                out.push(format!(
                    "stage `{name}`: key changed from {} to {}",
                    old.key.short(),
                    new.key.short()
                ));
            }
            for (output, h) in &old.outputs {
                match new.outputs.get(output) {
                    None => out.push(format!("stage `{name}`: output `{output}` removed")),
                    Some(n) if n != h => out.push(format!(
                        "stage `{name}`: output `{output}` changed from {} to {}",
                        h.short(),
                        n.short()
                    )),
                    Some(_) => {}
                }
            }
            for output in new.outputs.keys().filter(|o| !old.outputs.contains_key(*o)) {
                out.push(format!("stage `{name}`: output `{output}` added"));
            }
        }
        for name in other
            .stages
            .keys()
            .filter(|n| !self.stages.contains_key(*n))
        {
            out.push(format!("stage `{name}` added"));
        }
        out
    }

    /// Every stage key: gc roots.
    pub fn keys(&self) -> Vec<Hash> {
        self.stages.values().map(|s| s.key).collect()
    }
}
