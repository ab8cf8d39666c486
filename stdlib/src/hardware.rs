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

impl Hardware {
    /// The dense peak (ops/s) for matmuls in `dtype`, and the datatype whose
    /// peak was used. A chip without units for `dtype` runs it on the next
    /// wider units it has: int4 → int8 → fp16, fp8 → fp16, bf16 ↔ fp16,
    /// tf32 → fp32 (operands are widened, never narrowed). `None` when no
    /// unit in the chain is listed.
    pub fn peak_for(&self, dtype: Dtype) -> Option<(Dtype, f64)> {
        let chain: &[Dtype] = match dtype {
            Dtype::Int4 => &[Dtype::Int4, Dtype::Int8, Dtype::Fp16, Dtype::Bf16],
            Dtype::Int8 => &[Dtype::Int8, Dtype::Fp16, Dtype::Bf16],
            Dtype::Fp8 => &[Dtype::Fp8, Dtype::Fp16, Dtype::Bf16],
            Dtype::Fp16 => &[Dtype::Fp16, Dtype::Bf16],
            Dtype::Bf16 => &[Dtype::Bf16, Dtype::Fp16],
            Dtype::Tf32 => &[Dtype::Tf32, Dtype::Fp32],
            Dtype::Fp32 => &[Dtype::Fp32],
        };
        chain
            .iter()
            .find_map(|d| self.peak.get(d).filter(|p| **p > 0.0).map(|p| (*d, *p)))
    }
}

#[cfg(test)]
mod peak_tests {
    use super::*;

    fn chip(peaks: &[(Dtype, f64)]) -> Hardware {
        Hardware {
            id: "t".into(),
            name: "t".into(),
            peak: peaks.iter().copied().collect(),
            bandwidth: 1e12,
            memory: 1e10,
            efficiency_compute: 1.0,
            efficiency_memory: 1.0,
            launch: 0.0,
        }
    }

    #[test]
    fn missing_units_fall_back_to_wider_ones() {
        let hw = chip(&[
            (Dtype::Fp16, 100.0),
            (Dtype::Int8, 200.0),
            (Dtype::Fp32, 50.0),
        ]);
        assert_eq!(hw.peak_for(Dtype::Int4), Some((Dtype::Int8, 200.0)));
        assert_eq!(hw.peak_for(Dtype::Fp8), Some((Dtype::Fp16, 100.0)));
        assert_eq!(hw.peak_for(Dtype::Bf16), Some((Dtype::Fp16, 100.0)));
        assert_eq!(hw.peak_for(Dtype::Tf32), Some((Dtype::Fp32, 50.0)));
        assert_eq!(chip(&[(Dtype::Fp16, 1.0)]).peak_for(Dtype::Fp32), None);
    }
}
