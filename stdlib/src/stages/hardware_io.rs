//! Hardware as a stage output: what `probe` measures and `calibrate` fits,
//! passed to the stages that take `hardware:` (a `hardware` block or one of
//! these stages).
use rooflaw_engine::{Artifact, StageError};
use serde_json::{Value, json};

use crate::hardware::HardwarePreset;

/// The artifact kind of a hardware description.
pub const KIND: &str = "hardware";

/// A hardware artifact; `extra` is what the producing stage adds for its
/// report (calibrate's validation), ignored by consumers.
// Written by `probe` (rooflaw-neural) and `calibrate`.
pub fn to_artifact(p: &HardwarePreset, extra: Option<Value>) -> Artifact {
    let mut v = json!({ "hardware": p });
    if let Some(extra) = extra {
        v["extra"] = extra;
    }
    Artifact::json(KIND, v)
}

pub fn from_artifact(a: &Artifact) -> Result<HardwarePreset, StageError> {
    let v = a
        .as_json()
        .filter(|_| a.kind == KIND)
        .and_then(|v| v.get("hardware"))
        .ok_or_else(|| {
            StageError::new(format!(
                "expected a hardware description (from `probe` or `calibrate`), got a `{}` artifact",
                a.kind
            ))
        })?;
    serde_json::from_value(v.clone())
        .map_err(|e| StageError::new(format!("invalid hardware artifact: {e}")))
}
