//! The public-latency calibration set (`bench/public-latency/data`) as
//! rooflaw samples: each published measurement with the architecture,
//! hardware and workload it was taken on, and the runtime it is fitted into.
use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::BandPhase;
use crate::arch::Architecture;
use crate::hardware::{Hardware, MemoryTechnology};
use crate::precision::{Dtype, Precision};
use crate::workload::Workload;

/// One measurement as the roofline predicts it.
#[derive(Clone, Debug)]
pub struct Sample {
    pub id: String,
    /// The calibration set's group (its source).
    pub group: String,
    /// The runtime preset the row belongs to.
    pub runtime: String,
    /// The device left out together in cross-validation.
    pub device: String,
    pub phase: BandPhase,
    pub arch: Architecture,
    pub hw: Hardware,
    /// `hw` at its FP16-accumulate tensor rate, where that is faster (GeForce
    /// cards), for runtimes that accumulate FP16 GEMMs in FP16.
    pub hw_acc16: Option<Hardware>,
    /// Run by the ideal runtime; a fit puts its own in.
    pub workload: Workload,
    /// Seconds: the whole prefill, or one decode step.
    pub measured: f64,
}

impl Sample {
    /// The predicted seconds of what was measured.
    pub fn predicted(&self, s: &crate::roofline::Summary) -> f64 {
        match self.phase {
            BandPhase::Prefill => s.prefill,
            BandPhase::Decode => s.decode_per_token,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

fn invalid(path: &str, message: impl Into<String>) -> CalibrationError {
    CalibrationError::Invalid {
        path: path.to_string(),
        message: message.into(),
    }
}

#[derive(Deserialize)]
struct Device {
    bandwidth_gbps: f64,
    memory_gb: f64,
    memory_technology: MemoryTechnology,
    #[serde(default)]
    fp16_tflops: Option<f64>,
    /// The FP16 tensor rate with FP16 accumulation, where it differs
    /// (GeForce cards: twice the FP32-accumulate rate).
    #[serde(default)]
    fp16_acc16_tflops: Option<f64>,
    #[serde(default)]
    gpu_cores: Option<f64>,
    #[serde(default)]
    gpu_clock_ghz: Option<f64>,
    #[serde(default)]
    #[allow(dead_code)] // provenance, read by people
    source: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    derived: bool,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ModelEntry {
    Preset {
        preset: String,
        #[allow(dead_code)]
        #[serde(default)]
        note: Option<String>,
    },
    Shapes {
        #[allow(dead_code)]
        source: String,
        arch: Architecture,
    },
}

#[derive(Deserialize)]
struct Row {
    id: String,
    group: String,
    hardware: String,
    model: String,
    precision: String,
    framework: String,
    phase: String,
    #[serde(default)]
    prompt_len: Option<yaml_serde::Value>,
    #[serde(default)]
    gen_len: Option<yaml_serde::Value>,
    #[serde(default)]
    test: Option<String>,
    value: f64,
    unit: String,
}

#[derive(Deserialize)]
struct Set {
    rows: Vec<Row>,
}

fn read(path: &Path) -> Result<String, CalibrationError> {
    rooflaw_cache::files::read_text(path, rooflaw_cache::files::INPUT_LIMIT).map_err(|e| {
        CalibrationError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        }
    })
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, CalibrationError> {
    yaml_serde::from_str(&read(path)?)
        .map_err(|e| invalid(&path.display().to_string(), e.to_string()))
}

/// Decode steps a rate is measured over where the source does not say, and
/// the prompt before them: a short chat turn.
pub const UNSTATED_PROMPT: u32 = 128;
pub const UNSTATED_GENERATE: u32 = 128;

/// The runtime preset a row's framework is: llama.cpp, `TinyChat`'s AWQ
/// kernels or its Hugging Face FP16 baseline, MLC, Qualcomm Genie.
fn runtime_of(framework: &str, precision: &str) -> Option<&'static str> {
    let f = framework.to_ascii_lowercase();
    if f.contains("llama.cpp") {
        Some("llama.cpp")
    } else if f.contains("tinychat") {
        Some(if precision.starts_with("FP16") {
            "transformers"
        } else {
            "tinychat"
        })
    } else if f.contains("mlc") {
        Some("mlc")
    } else if f.contains("qualcomm") || f.contains("qnn") {
        Some("qnn")
    } else {
        None
    }
}

/// The storage format a row names, as a [`Precision`]: what
/// [`Precision::parse`] accepts (llama.cpp's mixes with their exact
/// per-tensor types), else the calibration set's own spellings.
pub fn format(name: &str, model: &str) -> Option<Precision> {
    if let Ok(p) = Precision::parse(name) {
        return Some(p);
    }
    let fp16 = Precision::parse("fp16").ok()?;
    let int4 = |group| Precision {
        weights: Dtype::Int4,
        group_size: group,
        ..fp16
    };
    let n = name.to_ascii_lowercase();
    Some(if n.starts_with("fp16") {
        fp16
    } else if n.starts_with("int4 (mlc") {
        int4(32)
    } else if n.starts_with("w4a16") || n.starts_with("w4 ") {
        int4(if model.starts_with("falcon") { 64 } else { 128 })
    } else {
        return None;
    })
}

fn count(v: Option<&yaml_serde::Value>) -> Option<u32> {
    match v? {
        yaml_serde::Value::Number(n) => n.as_u64().and_then(|n| u32::try_from(n).ok()),
        yaml_serde::Value::String(s) => s.trim_start_matches("<=").trim().parse().ok(),
        _ => None,
    }
}

/// `… history length 512` in a `TinyChat` TTFT row's test.
fn history(test: Option<&str>) -> u32 {
    test.and_then(|t| t.rsplit("history length ").next())
        .and_then(|n| n.trim().parse().ok())
        .filter(|_| test.is_some_and(|t| t.contains("history length")))
        .unwrap_or(0)
}

/// Rows left out of the calibration: (row id, why).
pub type Skipped = Vec<(String, String)>;

/// Every usable row of `dir/calibration.yaml`, and the ids of the rows
/// skipped with why.
pub fn load(dir: &Path) -> Result<(Vec<Sample>, Skipped), CalibrationError> {
    let devices: BTreeMap<String, Device> = parse(&dir.join("devices.yaml"))?;
    let models: BTreeMap<String, Option<ModelEntry>> = parse(&dir.join("models.yaml"))?;
    let set: Set = parse(&dir.join("calibration.yaml"))?;
    let mut samples = Vec::new();
    let mut skipped = Vec::new();
    for row in set.rows {
        let at = format!("calibration.yaml row {}", row.id);
        let Some(entry) = models.get(&row.model) else {
            return Err(invalid(
                &at,
                format!("model `{}` is not in models.yaml", row.model),
            ));
        };
        let Some(entry) = entry else {
            skipped.push((row.id, format!("model size not stated ({})", row.model)));
            continue;
        };
        let arch = match entry {
            ModelEntry::Preset { preset, .. } => {
                crate::models::find(preset)
                    .ok_or_else(|| invalid(&at, format!("unknown model preset `{preset}`")))?
                    .arch
            }
            ModelEntry::Shapes { arch, .. } => arch.clone(),
        };
        let d = devices.get(&row.hardware).ok_or_else(|| {
            invalid(
                &at,
                format!("device `{}` is not in devices.yaml", row.hardware),
            )
        })?;
        let runtime = runtime_of(&row.framework, &row.precision)
            .ok_or_else(|| invalid(&at, format!("no runtime for framework `{}`", row.framework)))?;
        let hw = hardware(&row.hardware, d, false).map_err(|m| invalid(&at, m))?;
        let hw_acc16 = match d.fp16_acc16_tflops {
            Some(_) => Some(hardware(&row.hardware, d, true).map_err(|m| invalid(&at, m))?),
            None => None,
        };
        let precision = format(&row.precision, &row.model)
            .ok_or_else(|| invalid(&at, format!("unknown format `{}`", row.precision)))?;
        let (phase, wl, measured) = timed(&row, &at, runtime, precision)?;
        if !(measured.is_finite() && measured > 0.0) {
            return Err(invalid(
                &at,
                format!("value {} is not a positive time", row.value),
            ));
        }
        samples.push(Sample {
            id: row.id,
            group: row.group,
            runtime: runtime.to_string(),
            device: row.hardware,
            phase,
            arch,
            hw,
            hw_acc16,
            workload: wl,
            measured,
        });
    }
    Ok((samples, skipped))
}

/// A row's phase, the workload it timed, and its time in seconds.
fn timed(
    row: &Row,
    at: &str,
    runtime: &str,
    precision: Precision,
) -> Result<(BandPhase, Workload, f64), CalibrationError> {
    let prompt = count(row.prompt_len.as_ref());
    let generate = count(row.gen_len.as_ref());
    Ok(match (row.phase.as_str(), row.unit.as_str()) {
        ("prefill", "t/s") => {
            let n = prompt
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(at, "prefill without prompt_len"))?;
            (
                BandPhase::Prefill,
                Workload::new(1, n, 1, precision),
                f64::from(n) / row.value,
            )
        }
        ("ttft", "ms") => {
            let n = prompt
                .filter(|n| *n > 0)
                .ok_or_else(|| invalid(at, "ttft without prompt_len"))?;
            // The Hugging Face baseline re-processes the chat history
            // with the question (its TTFT grows with it); New TinyChat
            // keeps it cached.
            let history = if runtime == "transformers" {
                history(row.test.as_deref())
            } else {
                0
            };
            (
                BandPhase::Prefill,
                Workload::new(1, n + history, 1, precision),
                row.value / 1e3,
            )
        }
        ("decode", unit) => {
            let per_token = match unit {
                "t/s" => 1.0 / row.value,
                "ms/token" => row.value / 1e3,
                u => return Err(invalid(at, format!("unknown decode unit `{u}`"))),
            };
            // llama-bench tgN starts from an empty cache: one token of
            // prompt stands for it.
            let wl = match (prompt, generate) {
                (Some(0), Some(g)) if g > 0 => Workload::new(1, 1, g + 1, precision),
                (Some(p), Some(g)) if g > 0 => Workload::new(1, p, g + 1, precision),
                _ => Workload::new(1, UNSTATED_PROMPT, UNSTATED_GENERATE + 1, precision),
            };
            (BandPhase::Decode, wl, per_token)
        }
        (p, u) => return Err(invalid(at, format!("unknown phase/unit `{p}` / `{u}`"))),
    })
}

/// `acc16`: the runtime accumulates FP16 GEMMs in FP16 (llama.cpp's cuBLAS
/// path, `CUBLAS_COMPUTE_16F` under `GGML_PREC_DEFAULT`), so that rate bounds
/// them.
fn hardware(id: &str, d: &Device, acc16: bool) -> Result<Hardware, String> {
    let fast = if acc16 { d.fp16_acc16_tflops } else { None };
    let fp16 = match (fast.or(d.fp16_tflops), d.gpu_cores, d.gpu_clock_ghz) {
        (Some(t), _, _) => t * 1e12,
        // FP32 lanes × FMA × clock; FP16 runs at the same rate.
        (None, Some(cores), Some(ghz)) => cores * 128.0 * 2.0 * ghz * 1e9,
        _ => {
            return Err(format!(
                "device `{id}` needs fp16_tflops or gpu_cores and gpu_clock_ghz"
            ));
        }
    };
    Ok(Hardware {
        id: id.to_string(),
        name: id.to_string(),
        peak: [(Dtype::Fp16, fp16), (Dtype::Bf16, fp16)]
            .into_iter()
            .collect(),
        bandwidth: d.bandwidth_gbps * 1e9,
        memory: d.memory_gb * 1e9,
        efficiency_compute: crate::hardware::DEFAULT_EFFICIENCY_COMPUTE,
        efficiency_memory: crate::hardware::DEFAULT_EFFICIENCY_MEMORY,
        efficiency_vector: None,
        launch: crate::hardware::DEFAULT_LAUNCH,
        memory_technology: Some(d.memory_technology),
    })
}
