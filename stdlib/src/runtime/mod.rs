//! How an inference runtime executes a model: its launch model, its
//! attention and mixture-of-experts kernels, the fractions of a chip's peak
//! it reaches per op class and memory class, a fixed cost per forward pass,
//! and the error band its figures were cross-validated to.
//!
//! A runtime comes from a preset (`stdlib/presets/runtimes/*.yaml`) or a
//! user's profile in the same schema (what `rooflaw calibrate -o` writes).
//! `ideal` leaves every figure to the hardware description: today's roofline.
mod band;
pub mod calibration;
mod file;
pub mod fit;
mod handle;
pub mod measured;
pub mod profile;

use std::path::Path;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use crate::hardware::{Hardware, MemoryClass, MemoryTechnology, Source};
use crate::workload::{Attention, Experts};

pub use band::{Band, BandPhase, Bands, COVERAGE, Coverage, Ranges, widest};
pub use file::{RuntimeError, from_yaml, to_yaml};
pub use handle::RuntimeRef;

/// What one kernel launch costs, and what is launched.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LaunchModel {
    /// Every operator is its own launch (eager CUDA, Metal command
    /// encoders): `launch` is charged per kernel.
    #[default]
    PerKernel,
    /// One CUDA graph per forward pass: kernels cost almost nothing each,
    /// the graph launch is part of `per_token`.
    CudaGraph,
    /// A compiled graph dispatched once per token (NPU runtimes):
    /// `per_token` carries the dispatch.
    PerToken,
}

impl LaunchModel {
    pub fn name(self) -> &'static str {
        match self {
            LaunchModel::PerKernel => "per-kernel",
            LaunchModel::CudaGraph => "cuda-graph",
            LaunchModel::PerToken => "per-token",
        }
    }
}

/// One figure per memory class, with a fallback for a class the runtime
/// has no figure for (and for hardware whose memory is not stated).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ByClass {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lpddr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gddr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hbm: Option<f64>,
}

impl ByClass {
    pub const CLASSES: [MemoryClass; 3] = [MemoryClass::Lpddr, MemoryClass::Gddr, MemoryClass::Hbm];

    /// The class's figure, else the default, else `None` (the hardware's).
    pub fn get(&self, class: Option<MemoryClass>) -> Option<f64> {
        class.and_then(|c| self.class(c)).or(self.default)
    }

    pub fn class(&self, c: MemoryClass) -> Option<f64> {
        match c {
            MemoryClass::Lpddr => self.lpddr,
            MemoryClass::Gddr => self.gddr,
            MemoryClass::Hbm => self.hbm,
        }
    }

    pub fn set(&mut self, c: MemoryClass, v: Option<f64>) {
        match c {
            MemoryClass::Lpddr => self.lpddr = v,
            MemoryClass::Gddr => self.gddr = v,
            MemoryClass::Hbm => self.hbm = v,
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == ByClass::default()
    }
}

/// Achieved fractions of peak per op class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Efficiency {
    /// Bandwidth of the weight-streaming matmuls (GEMV in decode).
    #[serde(default, skip_serializing_if = "ByClass::is_empty")]
    pub memory: ByClass,
    /// Compute of large GEMMs (prefill), at full arithmetic intensity.
    #[serde(default, skip_serializing_if = "ByClass::is_empty")]
    pub compute: ByClass,
    /// Bandwidth of element-wise operators and attention; the matmuls'
    /// when absent.
    #[serde(default, skip_serializing_if = "ByClass::is_empty")]
    pub vector: ByClass,
    /// Tokens per pass at which a GEMM reaches half its compute efficiency:
    /// the efficiency of `t` tokens is `compute · t / (t + gemm_half_tokens)`
    /// (small GEMMs cannot fill the chip). `None`: independent of shape.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gemm_half_tokens: Option<f64>,
}

/// A runtime's execution model and figures. This is what predictions
/// depend on (and what cache keys hash); provenance lives in
/// [`RuntimePreset`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Runtime {
    pub id: String,
    pub name: String,
    /// Formats the runtime stores weights in, as it names them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub formats: Vec<String>,
    /// The format a workload without a precision gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_format: Option<String>,
    #[serde(default)]
    pub launch_model: LaunchModel,
    /// Seconds per kernel launch; `None`: the hardware's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch: Option<f64>,
    /// Fixed seconds per forward pass (sampling, graph or NPU dispatch,
    /// host synchronisation), paid once by prefill and once per decode step.
    #[serde(default)]
    pub per_token: f64,
    /// The attention kernels it runs; `None`: the workload's choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention: Option<Attention>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experts: Option<Experts>,
    /// Unfused attention broadcasts K and V to every query head (ggml's
    /// batched `mul_mat`, `repeat_kv`), so under grouped-query attention
    /// the cache is read once per query head, not once per KV head.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub kv_per_query_head: bool,
    /// FP16 GEMMs accumulate in FP16 (llama.cpp's cuBLAS path), so they run
    /// at the FP16-accumulate tensor rate: on GeForce cards twice the
    /// FP32-accumulate `peak.fp16` that hardware presets list. The fit used
    /// that rate; a hardware file for such a card should give it as
    /// `peak.fp16` when predicting this runtime.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fp16_accumulate: bool,
    #[serde(default)]
    pub efficiency: Efficiency,
    /// Cross-validated ranges of measured / predicted time.
    #[serde(default)]
    pub bands: Bands,
}

/// The rates a runtime gives one chip: what the roofline evaluates with.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Figures {
    pub compute: f64,
    pub memory: f64,
    pub vector: f64,
    pub launch: f64,
    pub per_token: f64,
    pub gemm_half_tokens: Option<f64>,
    pub kv_per_query_head: bool,
}

impl Runtime {
    /// The runtime that adds nothing to the hardware description: every
    /// efficiency and the launch cost are the hardware's, no fixed cost.
    pub fn ideal() -> Runtime {
        Runtime {
            id: IDEAL.into(),
            name: "ideal (the hardware description's efficiencies)".into(),
            formats: Vec::new(),
            default_format: None,
            launch_model: LaunchModel::PerKernel,
            launch: None,
            per_token: 0.0,
            attention: None,
            experts: None,
            kv_per_query_head: false,
            fp16_accumulate: false,
            efficiency: Efficiency::default(),
            bands: Bands::default(),
        }
    }

    /// Whether it predicts exactly as [`Runtime::ideal`] does (its bands
    /// and name aside).
    pub fn is_ideal(&self) -> bool {
        let bare = Runtime::ideal();
        self.id == bare.id
            && self.launch.is_none()
            && self.per_token == 0.0
            && self.attention.is_none()
            && self.experts.is_none()
            && !self.kv_per_query_head
            && !self.fp16_accumulate
            && self.efficiency == bare.efficiency
    }

    /// This runtime's figures on `hw`: per memory class where it has them,
    /// the hardware's own where it does not.
    pub(crate) fn figures(&self, hw: &Hardware) -> Figures {
        let class = hw.memory_technology.map(MemoryTechnology::class);
        let e = &self.efficiency;
        let memory = e.memory.get(class);
        Figures {
            compute: e.compute.get(class).unwrap_or(hw.efficiency_compute),
            memory: memory.unwrap_or(hw.efficiency_memory),
            vector: e
                .vector
                .get(class)
                .or(memory)
                .unwrap_or_else(|| hw.vector_efficiency()),
            launch: self.launch.unwrap_or(hw.launch),
            per_token: self.per_token,
            gemm_half_tokens: e.gemm_half_tokens,
            kv_per_query_head: self.kv_per_query_head,
        }
    }
}

impl Runtime {
    /// The band a prediction of `phase` on `hw` carries: this runtime's
    /// cross-validated one, or, without calibration data for it, the widest
    /// band of any shipped profile.
    pub fn coverage(&self, hw: &Hardware, phase: BandPhase) -> Coverage {
        let all = all();
        let w = widest(all.iter().flat_map(|p| p.runtime.bands.0.iter()), phase);
        self.bands.lookup(hw, phase, w)
    }
}

/// The id of the runtime that is today's roofline.
pub const IDEAL: &str = "ideal";

/// A runtime with where its figures come from, keyed by YAML path
/// (`efficiency.memory.gddr`, `per_token`).
#[derive(Clone, Debug, PartialEq)]
pub struct RuntimePreset {
    pub runtime: Runtime,
    /// Version range or build the figures describe.
    pub version: Option<String>,
    /// The runtime's home page or repository.
    pub source: Option<String>,
    pub sources: std::collections::BTreeMap<String, Source>,
}

impl RuntimePreset {
    /// Every figure of the runtime that has no source, by YAML path.
    pub fn missing_sources(&self) -> Vec<String> {
        file::figure_paths(&self.runtime)
            .into_iter()
            .filter(|p| !self.sources.contains_key(p))
            .collect()
    }
}

fn all() -> &'static [RuntimePreset] {
    static PRESETS: OnceLock<Vec<RuntimePreset>> = OnceLock::new();
    PRESETS.get_or_init(|| {
        crate::presets::parse_all(crate::presets::RUNTIMES, "runtime", from_yaml, |p| {
            p.runtime.id.as_str()
        })
    })
}

/// Every runtime preset with its sources, in listing order.
pub fn presets() -> Vec<RuntimePreset> {
    all().to_vec()
}

/// Ids of the runtime presets.
pub fn ids() -> Vec<&'static str> {
    crate::presets::RUNTIMES.iter().map(|e| e.id).collect()
}

/// Spellings users write for a runtime id: case, `.`, `-` and `_` do not
/// matter (`llama_cpp`, `LlamaCpp`, `TensorRT-LLM`), so the language can
/// name them as bare words.
fn normalise(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '.' | '-' | '_' | ' '))
        .flat_map(char::to_lowercase)
        .collect()
}

/// The preset with this id (or spelling of it).
pub fn preset(name: &str) -> Option<RuntimePreset> {
    let want = normalise(name);
    all()
        .iter()
        .find(|p| normalise(&p.runtime.id) == want)
        .cloned()
}

/// Read a runtime profile file.
pub fn load(path: &Path) -> Result<RuntimePreset, RuntimeError> {
    // Bounded, regular files only, like every other input rooflaw reads.
    let text =
        rooflaw_cache::files::read_text(path, rooflaw_cache::files::INPUT_LIMIT).map_err(|e| {
            RuntimeError::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            }
        })?;
    from_yaml(&text).map_err(|e| e.in_file(path))
}

/// What `--runtime` and `runtime =` name: a `.yaml`/`.yml` file or an
/// existing path is loaded, anything else is a preset id.
pub fn resolve(arg: &str) -> Result<RuntimePreset, RuntimeError> {
    if crate::presets::names_a_file(arg) {
        return load(Path::new(arg));
    }
    preset(arg).ok_or_else(|| RuntimeError::Unknown {
        name: arg.to_string(),
        suggestion: rooflaw_dsl::did_you_mean(arg, ids()).map(str::to_string),
    })
}

#[cfg(test)]
mod tests;
