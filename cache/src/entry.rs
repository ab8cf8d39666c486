//! What one stage (or one item of a map stage) produced under one cache key.
use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Hash;

/// A committed result. The manifest is stored with it so a later run can diff its own manifest
/// against this one field by field and say why a stage reruns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub manifest: Value,
    /// Output name → object hash; every object is in the store before the entry is written.
    pub outputs: BTreeMap<String, Hash>,
    /// Unix seconds.
    pub created: u64,
    pub duration_ms: u64,
    pub stage: String,
    pub kind: String,
}

impl Entry {
    /// An entry created now.
    pub fn new(
        stage: impl Into<String>,
        kind: impl Into<String>,
        manifest: Value,
        outputs: BTreeMap<String, Hash>,
        duration_ms: u64,
    ) -> Entry {
        Entry {
            manifest,
            outputs,
            created: unix_now(),
            duration_ms,
            stage: stage.into(),
            kind: kind.into(),
        }
    }
}

/// The answer to "is this key cached?". `Broken` is distinct from `Miss` so the engine can say
/// "output missing or corrupt" instead of "never run".
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    Hit(Entry),
    Miss,
    Broken(String),
}

/// One row of `Store::ls`.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryInfo {
    pub key: Hash,
    pub stage: String,
    pub kind: String,
    /// Total bytes of the outputs that are present.
    pub size: u64,
    pub created: u64,
    pub duration_ms: u64,
    pub outputs: usize,
    pub missing_outputs: usize,
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
