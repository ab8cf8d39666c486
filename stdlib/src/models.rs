//! Published models as [`Architecture`]s, with where their shapes and
//! parameter counts come from.
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::arch::Architecture;

/// A model preset: its shape and the provenance of its numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPreset {
    /// `qwen2.5-0.5b`
    pub id: String,
    /// `Qwen2.5-0.5B`
    pub name: String,
    /// Hugging Face repository id, `Qwen/Qwen2.5-0.5B`.
    pub hf_repo: String,
    /// Where the shape was read (the repository's `config.json`).
    pub config_source: String,
    /// The published total parameter count.
    pub params: PublishedCount,
    pub arch: Architecture,
}

/// A parameter count as its publisher states it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishedCount {
    pub total: u64,
    /// 0 when `total` is exact; otherwise the unit the publisher truncated
    /// to (100000 for "345.3M"), for models whose exact count is unpublished.
    #[serde(default)]
    pub truncated_to: u64,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

impl PublishedCount {
    /// Whether a computed count agrees with this one at its precision.
    pub fn matches(&self, count: u64) -> bool {
        match count.checked_div(self.truncated_to) {
            Some(units) => units * self.truncated_to == self.total,
            None => count == self.total,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid model preset: {0}")]
pub struct ModelError(String);

/// Parse one model preset file.
pub fn from_yaml(text: &str) -> Result<ModelPreset, ModelError> {
    let p: ModelPreset = yaml_serde::from_str(text).map_err(|e| ModelError(e.to_string()))?;
    p.arch
        .validate()
        .map_err(|e| ModelError(format!("{}: arch: {e}", p.id)))?;
    Ok(p)
}

fn all() -> &'static [ModelPreset] {
    static PRESETS: OnceLock<Vec<ModelPreset>> = OnceLock::new();
    PRESETS.get_or_init(|| {
        crate::presets::MODELS
            .iter()
            .map(|e| {
                let p = from_yaml(e.text).unwrap_or_else(|err| {
                    // Embedded files are checked by stdlib/tests/presets.rs.
                    panic!("embedded model preset {} is invalid: {err}", e.id)
                });
                assert_eq!(p.id, e.id, "embedded model preset id mismatch");
                p
            })
            .collect()
    })
}

/// The architecture of the model preset with this id.
pub fn preset(id: &str) -> Option<Architecture> {
    find(id).map(|p| p.arch)
}

/// The whole model preset with this id.
pub fn find(id: &str) -> Option<ModelPreset> {
    all().iter().find(|p| p.id == id).cloned()
}

/// Every model preset, in listing order.
pub fn presets() -> Vec<ModelPreset> {
    all().to_vec()
}

/// Ids of the model presets, for validation and did-you-mean.
pub fn ids() -> Vec<&'static str> {
    crate::presets::MODELS.iter().map(|e| e.id).collect()
}
