//! The report's input: plain data, independent of the engine, so any stage
//! (or a test) can fill it in and hand it to [`super::write_report`].
//!
//! Units are SI throughout: seconds, bytes, FLOP/s, FLOP per byte.
use serde::{Deserialize, Serialize};

use super::error::ReportError;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportData {
    pub title: String,
    /// Pipeline file or name the report came from.
    pub pipeline: String,
    pub hardware: HardwareInfo,
    /// Free text, e.g. "batch 1, 1024 prompt + 16 generated tokens, fp16".
    pub workload: String,
    /// What latency means on the x axis, e.g. "total latency".
    pub objective: String,
    /// Every evaluated design. May be millions: the plot thins them, the CSV
    /// keeps them all, and `report.json` only counts them.
    pub candidates: Vec<Point>,
    /// Non-dominated set per group (precision), any order.
    pub frontiers: Vec<Frontier>,
    pub budgets: Vec<BudgetLine>,
    pub baseline: Option<Marked>,
    pub chosen: Option<Marked>,
    pub top: Vec<TopRow>,
    pub headline: Option<Headline>,
    /// Operators of the chosen design, for the roofline chart.
    pub roofline_ops: Vec<OpPoint>,
    /// Predicted against measured loss, one view per reported fit.
    #[serde(default)]
    pub fits: Vec<FitView>,
    /// Predicted against measured latency, in seconds.
    pub validation: Option<FitView>,
    /// Latency errors before and after calibration, per split and phase;
    /// drawn as a table under the validation plot.
    #[serde(default)]
    pub calibration: Vec<CalibrationRow>,
    /// Designs a search chose, trained: what was predicted and what was
    /// measured (`train(search)`).
    #[serde(default)]
    pub trained: Vec<TrainedRow>,
    pub notes: Vec<String>,
}

/// One trained design of a search: the baseline or a chosen design.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainedRow {
    /// `baseline`, `best`, `best fp16`...
    pub role: String,
    pub design: String,
    pub params: f64,
    pub tokens: f64,
    pub predicted_latency_s: f64,
    /// Prefill plus decode as `measure` timed it on this machine, when the
    /// same design was measured in a reported stage.
    #[serde(default)]
    pub measured_latency_s: Option<f64>,
    pub predicted_loss: f64,
    pub predicted_ppl: f64,
    pub val_loss: f64,
    pub val_ppl: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HardwareInfo {
    pub name: String,
    /// Datatype the matmuls run in; `peak_flops` is for this one.
    pub compute_dtype: String,
    /// Dense peak, FLOP/s.
    pub peak_flops: f64,
    /// DRAM bandwidth, bytes/s.
    pub bandwidth: f64,
    /// Memory capacity, bytes.
    pub memory: f64,
}

/// One candidate design on the loss–latency plane.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub latency_s: f64,
    pub loss: f64,
    /// Series it belongs to, usually the precision (`fp16`, `int8`).
    pub group: String,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FrontierPoint {
    pub latency_s: f64,
    pub loss: f64,
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frontier {
    pub group: String,
    pub points: Vec<FrontierPoint>,
}

/// A latency budget drawn as a vertical line ("smart home: total < 500 ms").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BudgetLine {
    pub name: String,
    pub latency_s: f64,
}

/// A single highlighted design: the baseline model or the chosen one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Marked {
    pub label: String,
    pub latency_s: f64,
    pub loss: f64,
}

/// One row of the top-designs table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TopRow {
    pub rank: u32,
    pub label: String,
    /// Precision or other group.
    pub group: String,
    pub layers: u32,
    pub width: u32,
    pub heads: u32,
    pub kv_heads: u32,
    pub ffn_ratio: f64,
    pub experts: u32,
    pub top_k: u32,
    /// Total parameter count.
    pub params: f64,
    pub prefill_s: f64,
    pub decode_s: f64,
    pub total_s: f64,
    /// Peak memory, bytes.
    pub memory_bytes: f64,
    pub loss: f64,
    pub ppl: f64,
    /// Latency headroom under the budget, seconds (budget − latency).
    pub latency_margin_s: Option<f64>,
    /// Loss above the best feasible design (0 for rank 1).
    pub loss_margin: Option<f64>,
}

/// The paper's headline: at the baseline's latency, how much better the
/// best design is.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    pub baseline: String,
    pub best: String,
    /// The latency both are compared at, seconds.
    pub latency_s: f64,
    pub loss_base: f64,
    pub loss_best: f64,
    pub ppl_base: f64,
    pub ppl_best: f64,
    /// `(ppl_base − ppl_best) / ppl_base × 100`.
    pub ppl_reduction_pct: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    Memory,
    Compute,
}

impl Bound {
    pub fn name(self) -> &'static str {
        match self {
            Bound::Memory => "memory",
            Bound::Compute => "compute",
        }
    }
}

/// One operator of the chosen design on the roofline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OpPoint {
    /// `prefill` or `decode`.
    pub phase: String,
    pub name: String,
    /// Arithmetic intensity, FLOP per byte of DRAM traffic.
    pub intensity: f64,
    /// FLOP/s the roofline model predicts this operator reaches.
    pub achieved_flops: f64,
    /// Time the operator takes in its phase, seconds (ranks the labels).
    pub time_s: f64,
    pub bound: Bound,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitPoint {
    pub measured: f64,
    pub predicted: f64,
    /// Held out of the fit (validation) rather than trained on.
    pub heldout: bool,
    #[serde(default)]
    pub label: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Coefficient {
    pub name: String,
    pub value: f64,
    /// Bootstrap interval, when the fit computed one.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

/// Predicted against measured values (loss for a fit, seconds for latency
/// validation).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FitView {
    /// The stage it came from; names the plot when there are several.
    #[serde(default)]
    pub name: String,
    pub points: Vec<FitPoint>,
    pub r2_train: Option<f64>,
    pub r2_holdout: Option<f64>,
    pub coefficients: Vec<Coefficient>,
}

/// One line of the calibration table: a split (calibration or held out)
/// and a phase, errors before and after calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CalibrationRow {
    /// `held out` or `calibration`.
    pub split: String,
    /// `prefill`, `decode` or `both`.
    pub phase: String,
    pub n: usize,
    /// Median absolute percentage error, percent.
    pub median_before: f64,
    pub median_after: f64,
    /// Mean absolute percentage error, percent.
    pub mape_before: f64,
    pub mape_after: f64,
    pub spearman_before: Option<f64>,
    pub spearman_after: Option<f64>,
}

fn finite(what: impl FnOnce() -> String, v: f64) -> Result<(), ReportError> {
    if v.is_finite() {
        Ok(())
    } else {
        Err(ReportError::Invalid(format!(
            "{} = {v} is not a finite number",
            what()
        )))
    }
}

fn positive(what: impl FnOnce() -> String, v: f64) -> Result<(), ReportError> {
    if v.is_finite() && v > 0.0 {
        Ok(())
    } else {
        Err(ReportError::Invalid(format!(
            "{} = {v} must be a positive finite number (it is drawn on a log axis)",
            what()
        )))
    }
}

impl ReportData {
    /// Checks every number the plots put on an axis, so bad input is a clear
    /// error naming the offending item rather than a NaN in the SVG.
    pub fn validate(&self) -> Result<(), ReportError> {
        for (i, p) in self.candidates.iter().enumerate() {
            positive(
                || format!("candidate {i} ('{}') latency_s", p.label),
                p.latency_s,
            )?;
            finite(|| format!("candidate {i} ('{}') loss", p.label), p.loss)?;
        }
        for f in &self.frontiers {
            for (i, p) in f.points.iter().enumerate() {
                let at = || format!("frontier '{}' point {i} ('{}')", f.group, p.label);
                positive(|| format!("{} latency_s", at()), p.latency_s)?;
                finite(|| format!("{} loss", at()), p.loss)?;
            }
        }
        for b in &self.budgets {
            positive(|| format!("budget '{}' latency_s", b.name), b.latency_s)?;
        }
        for (role, m) in [("baseline", &self.baseline), ("chosen", &self.chosen)] {
            if let Some(m) = m {
                positive(|| format!("{role} '{}' latency_s", m.label), m.latency_s)?;
                finite(|| format!("{role} '{}' loss", m.label), m.loss)?;
            }
        }
        if !self.roofline_ops.is_empty() {
            positive(|| "hardware peak_flops".into(), self.hardware.peak_flops)?;
            positive(|| "hardware bandwidth".into(), self.hardware.bandwidth)?;
        }
        for op in &self.roofline_ops {
            let at = || format!("operator '{}' ({})", op.name, op.phase);
            positive(|| format!("{} intensity", at()), op.intensity)?;
            positive(|| format!("{} achieved_flops", at()), op.achieved_flops)?;
            finite(|| format!("{} time_s", at()), op.time_s)?;
        }
        for fit in &self.fits {
            for (i, p) in fit.points.iter().enumerate() {
                finite(
                    || format!("fit {} point {i} measured", fit.name),
                    p.measured,
                )?;
                finite(
                    || format!("fit {} point {i} predicted", fit.name),
                    p.predicted,
                )?;
            }
        }
        if let Some(v) = &self.validation {
            for (i, p) in v.points.iter().enumerate() {
                positive(|| format!("validation point {i} measured"), p.measured)?;
                positive(|| format!("validation point {i} predicted"), p.predicted)?;
            }
        }
        Ok(())
    }
}
