//! A hardware description: what the roofline needs to know about a chip.
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::precision::Dtype;

/// Where a number came from. Every preset value carries one, so users can
/// tell a datasheet figure from a derived estimate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    /// URL or document name and section.
    pub source: String,
    /// True when the value is computed from other figures rather than quoted.
    #[serde(default)]
    pub derived: bool,
    /// How it was derived, or any caveat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A value with its provenance, as preset files store it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sourced<T> {
    pub value: T,
    #[serde(flatten)]
    pub source: Source,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hardware {
    /// Preset id (`jetson-agx-orin-64gb`) or the pipeline's name for it.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Dense peak compute in ops/s per datatype (no structured sparsity).
    pub peak: BTreeMap<Dtype, f64>,
    /// Peak DRAM bandwidth, bytes/s.
    pub bandwidth: f64,
    /// Memory capacity, bytes.
    pub memory: f64,
    /// Achievable fraction of peak compute (0, 1].
    pub efficiency_compute: f64,
    /// Achievable fraction of peak bandwidth (0, 1].
    pub efficiency_memory: f64,
    /// Fixed overhead per kernel launch, seconds.
    pub launch: f64,
}
