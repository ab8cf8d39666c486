//! A hardware description: what the roofline needs to know about a chip, and
//! where each of its numbers came from.
//!
//! Hardware comes from three places: the presets compiled into the binary
//! (`stdlib/presets/hardware/*.yaml`), a user's YAML file in the same schema
//! ([`load`]), and a pipeline's `hardware` block ([`from_block`]).
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::precision::Dtype;

mod block;
mod file;
mod memory_technology;
mod write;

pub use block::{from_block, from_block_in};
pub use memory_technology::{MemoryClass, MemoryTechnology};
pub use write::{to_json, to_yaml};

/// Fraction of peak compute assumed for a device without measurements: the
/// Vidur Llama-2-7B A100 profile (0.70 at 4096 tokens, `docs/peers-roofline.md`
/// §4.1). Presets that use it say so in their sources.
pub const DEFAULT_EFFICIENCY_COMPUTE: f64 = 0.70;
/// Fraction of peak bandwidth assumed for a device without measurements: the
/// same Vidur profile's 0.76 at one token, rounded down.
pub const DEFAULT_EFFICIENCY_MEMORY: f64 = 0.75;
/// Launch overhead assumed for a device without measurements: Vidur's A100
/// layernorm at one token (5 µs for a kernel that moves almost nothing).
pub const DEFAULT_LAUNCH: f64 = 5e-6;

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
    /// Achievable fraction of peak bandwidth for the element-wise operators
    /// (norms, `RoPE`, activations, softmax, attention scores), where it
    /// differs from the matmuls': eager CPU frameworks run them on one
    /// thread, and small ones never reach streaming speed. `None` means
    /// [`Hardware::efficiency_memory`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efficiency_vector: Option<f64>,
    /// Fixed overhead per kernel launch, seconds.
    pub launch: f64,
    /// The DRAM behind `bandwidth`, where known; runtime profiles key their
    /// memory efficiency by its class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_technology: Option<MemoryTechnology>,
}

impl Hardware {
    /// The bandwidth efficiency of element-wise operators: their own figure
    /// where the hardware has one, else the matmuls'.
    pub fn vector_efficiency(&self) -> f64 {
        self.efficiency_vector.unwrap_or(self.efficiency_memory)
    }

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
            Dtype::Fp4 => &[Dtype::Fp4, Dtype::Fp8, Dtype::Fp16, Dtype::Bf16],
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
            efficiency_vector: None,
            launch: 0.0,
            memory_technology: None,
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

/// Where each number of a [`Hardware`] came from; `None` where a user file
/// or pipeline gave a bare value, or a default was filled in.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HardwareSources {
    pub peak: BTreeMap<Dtype, Source>,
    pub bandwidth: Option<Source>,
    pub memory: Option<Source>,
    pub efficiency_compute: Option<Source>,
    pub efficiency_memory: Option<Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efficiency_vector: Option<Source>,
    pub launch: Option<Source>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_technology: Option<Source>,
}

impl HardwareSources {
    /// Every field of `hw` that has no source, by its YAML path.
    pub fn missing(&self, hw: &Hardware) -> Vec<String> {
        let mut out: Vec<String> = hw
            .peak
            .keys()
            .filter(|d| !self.peak.contains_key(d))
            .map(|d| format!("peak.{}", d.name()))
            .collect();
        let singles = [
            ("bandwidth", &self.bandwidth, true),
            ("memory", &self.memory, true),
            ("efficiency.compute", &self.efficiency_compute, true),
            ("efficiency.memory", &self.efficiency_memory, true),
            (
                "efficiency.vector",
                &self.efficiency_vector,
                hw.efficiency_vector.is_some(),
            ),
            ("launch", &self.launch, true),
            (
                "memory_technology",
                &self.memory_technology,
                hw.memory_technology.is_some(),
            ),
        ];
        out.extend(
            singles
                .iter()
                .filter(|(_, s, present)| *present && s.is_none())
                .map(|(p, _, _)| (*p).to_string()),
        );
        out
    }
}

/// A hardware description with the provenance of its numbers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HardwarePreset {
    #[serde(flatten)]
    pub hardware: Hardware,
    pub sources: HardwareSources,
}

#[derive(Debug, thiserror::Error)]
pub enum HardwareError {
    #[error("invalid YAML: {0}")]
    Yaml(String),
    #[error("{path}: {message}")]
    Field { path: String, message: String },
    #[error("cannot read {path}: {error}")]
    Io { path: String, error: std::io::Error },
    /// Not a regular file, too large, or not UTF-8.
    #[error("{0}")]
    Input(String),
    #[error("unknown hardware preset `{id}`{}", did_you_mean_suffix(.suggestion.as_deref()))]
    UnknownPreset {
        id: String,
        suggestion: Option<String>,
    },
}

fn did_you_mean_suffix(s: Option<&str>) -> String {
    s.map_or_else(
        || " (`rooflaw presets hardware` lists them)".to_string(),
        |s| format!("; did you mean `{s}`?"),
    )
}

/// Parse a hardware description in the preset schema:
///
/// ```yaml
/// id: my-board
/// name: My board            # optional, defaults to the id
/// peak:                     # dense ops/s per datatype, at least one
///   fp16: 42.5 TFLOPS       # a bare value: a number in SI units or a quantity
///   int8:                   # or a value with its provenance
///     value: 85 TOPS
///     source: vendor data sheet, table 2
///     derived: true         # computed rather than quoted...
///     note: half the sparse figure   # ...and how
/// bandwidth: 204.8 GB/s
/// memory: 64 GB
/// efficiency: {compute: 0.7, memory: 0.75}   # optional; also `vector`
/// launch: 5 us                                # optional
/// memory_technology: lpddr5                   # optional (ddr4/5, lpddr4/4x/5/5x, gddr6/6x/7, hbm2/2e/3/3e)
/// ```
///
/// Efficiencies and launch overhead default to the `DEFAULT_*` constants
/// when absent; `efficiency.vector` defaults to `efficiency.memory`. `peak.fp64` is accepted and ignored.
pub fn from_yaml(text: &str) -> Result<HardwarePreset, HardwareError> {
    file::parse(text)
}

/// Read a user's hardware YAML file (same schema as the presets).
pub fn load(path: &Path) -> Result<HardwarePreset, HardwareError> {
    use rooflaw_cache::files::{INPUT_LIMIT, InputError, read_text};
    let text = read_text(path, INPUT_LIMIT).map_err(|e| match e {
        InputError::Io { source, .. } => HardwareError::Io {
            path: path.display().to_string(),
            error: source,
        },
        other => HardwareError::Input(other.to_string()),
    })?;
    from_yaml(&text).map_err(|e| match e {
        HardwareError::Yaml(m) => HardwareError::Yaml(format!("{}: {m}", path.display())),
        HardwareError::Field {
            path: field,
            message,
        } => HardwareError::Field {
            path: format!("{}: {field}", path.display()),
            message,
        },
        other => other,
    })
}

/// What a command line's `--hardware` names: a `.yaml`/`.yml` file or an
/// existing path is loaded, anything else is looked up as a preset id.
pub fn resolve(arg: &str) -> Result<Hardware, HardwareError> {
    resolve_preset(arg).map(|p| p.hardware)
}

/// [`resolve`], with the sources of the numbers.
pub fn resolve_preset(arg: &str) -> Result<HardwarePreset, HardwareError> {
    if crate::presets::names_a_file(arg) {
        return load(Path::new(arg));
    }
    find(arg)
        .cloned()
        .ok_or_else(|| HardwareError::UnknownPreset {
            id: arg.to_string(),
            suggestion: rooflaw_dsl::did_you_mean(arg, names()).map(str::to_string),
        })
}

/// The preset an id or an alias names.
fn find(name: &str) -> Option<&'static HardwarePreset> {
    let id = crate::presets::HARDWARE_ALIASES
        .iter()
        .find(|(alias, _)| *alias == name)
        .map_or(name, |(_, id)| *id);
    all().iter().find(|p| p.hardware.id == id)
}

fn all() -> &'static [HardwarePreset] {
    static PRESETS: OnceLock<Vec<HardwarePreset>> = OnceLock::new();
    PRESETS.get_or_init(|| {
        crate::presets::parse_all(crate::presets::HARDWARE, "hardware", from_yaml, |p| {
            p.hardware.id.as_str()
        })
    })
}

/// The hardware preset with this id or alias.
pub fn preset(id: &str) -> Option<Hardware> {
    find(id).map(|p| p.hardware.clone())
}

/// Every hardware preset with its sources, in listing order.
pub fn presets() -> Vec<HardwarePreset> {
    all().to_vec()
}

/// Ids of the hardware presets, one per preset file.
pub fn ids() -> Vec<&'static str> {
    crate::presets::HARDWARE.iter().map(|e| e.id).collect()
}

/// Second names of presets, `(alias, id)`: `apple-m2-10c` for `apple-m2`.
pub fn aliases() -> &'static [(&'static str, &'static str)] {
    crate::presets::HARDWARE_ALIASES
}

/// Every name a preset answers to (ids, then aliases), for validation and
/// did-you-mean.
pub fn names() -> Vec<&'static str> {
    let mut out = ids();
    out.extend(aliases().iter().map(|(alias, _)| *alias));
    out
}

/// What a numeric hardware field means, for parsing and range checks shared
/// by YAML files and pipeline blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FieldKind {
    Peak,
    Bandwidth,
    Memory,
    Efficiency,
    Launch,
}

impl FieldKind {
    pub(crate) fn dim(self) -> rooflaw_dsl::Dim {
        use rooflaw_dsl::Dim;
        match self {
            FieldKind::Peak => Dim::COMPUTE,
            FieldKind::Bandwidth => Dim::BANDWIDTH,
            FieldKind::Memory => Dim::BYTES,
            FieldKind::Efficiency => Dim::NONE,
            FieldKind::Launch => Dim::TIME,
        }
    }

    /// Why `v` is not acceptable, if it is not.
    pub(crate) fn check(self, v: f64) -> Result<(), String> {
        if !v.is_finite() {
            return Err(format!("{v} is not a finite number"));
        }
        match self {
            FieldKind::Efficiency if v <= 0.0 || v > 1.0 => {
                Err(format!("an efficiency is a fraction in (0, 1], got {v}"))
            }
            FieldKind::Launch if v < 0.0 => {
                Err(format!("launch overhead cannot be negative, got {v}"))
            }
            FieldKind::Peak | FieldKind::Bandwidth | FieldKind::Memory if v <= 0.0 => {
                Err(format!("must be positive, got {v}"))
            }
            _ => Ok(()),
        }
    }
}

/// The compute datatype a `peak.<dtype>` key names. `fp64` is accepted by
/// the language (datasheets list it) but LLM inference never runs in it, so
/// it has no [`Dtype`] and callers skip it.
pub(crate) fn peak_dtype(key: &str) -> Result<Option<Dtype>, String> {
    if key == "fp64" {
        return Ok(None);
    }
    Dtype::parse(key).map(Some).ok_or_else(|| {
        let names: Vec<&str> = Dtype::ALL.iter().map(|d| d.name()).collect();
        match rooflaw_dsl::did_you_mean(key, names.iter().copied()) {
            Some(s) => format!("unknown datatype `{key}`; did you mean `{s}`?"),
            None => format!(
                "unknown datatype `{key}`; expected one of {}",
                names.join(", ")
            ),
        }
    })
}
