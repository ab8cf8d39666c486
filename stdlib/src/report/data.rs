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
    /// Every evaluated design, or a thinned cloud of them (the `pareto`
    /// stage keeps one per plot cell): the plot draws these, the CSV keeps
    /// them, and `report.json` only counts them.
    pub candidates: Vec<Point>,
    /// How many designs were evaluated (architectures × precisions), and of
    /// how many architectures in how many precisions, when known; otherwise
    /// `candidates` is all of them.
    #[serde(default)]
    pub counts: Option<Counts>,
    /// Sizes in binary units (GiB), as the budget writes them.
    #[serde(default)]
    pub binary_sizes: bool,
    /// Non-dominated set per group (precision), any order.
    pub frontiers: Vec<Frontier>,
    pub budgets: Vec<BudgetLine>,
    /// Baseline models at the chosen design's precision.
    #[serde(default)]
    pub baselines: Vec<Marked>,
    /// The first search's answer: the design the plots single out.
    pub chosen: Option<Marked>,
    /// Every reported search, in the report's order; the first one with an
    /// answer is the page's headline.
    #[serde(default)]
    pub searches: Vec<SearchView>,
    /// Closed-form optima of reported `advise` stages.
    #[serde(default)]
    pub advice: Vec<AdviceRow>,
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
    /// The latency's error band (see [`LatencyBand`]), seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub band_s: Option<(f64, f64)>,
}

/// The error band of a design's predicted latencies, seconds: the 10th to
/// 90th percentile of measured / predicted time that leave-one-device-out
/// cross-validation found for its runtime on its hardware's memory class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyBand {
    pub prefill_s: (f64, f64),
    pub decode_s: (f64, f64),
    pub total_s: (f64, f64),
    /// False when the runtime has no calibration data for this hardware:
    /// the band is then the widest of any runtime profile.
    pub calibrated: bool,
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
    /// The error band of its latencies.
    #[serde(default)]
    pub band: Option<LatencyBand>,
    /// Latency headroom under the budget, seconds (budget − latency).
    pub latency_margin_s: Option<f64>,
    /// Loss above the best feasible design (0 for rank 1).
    pub loss_margin: Option<f64>,
}

/// Designs evaluated: `architectures` × `precisions` = `designs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub architectures: u64,
    pub precisions: u64,
    pub designs: u64,
}

/// One `search` stage: what the designs were held to, its answer (or why
/// there is none) and its top designs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchView {
    /// The stage's name.
    pub stage: String,
    /// What latency means here, e.g. "total latency".
    pub objective: String,
    /// "budget `snappy` (latency.total <= 1.5 s, memory <= 4 GiB)", or "as
    /// fast as qwen2.5-0.5b".
    pub limit: String,
    pub headline: Option<Headline>,
    /// Why there is no answer: "no design meets budget `snappy`: the
    /// fastest needs 41 ms".
    pub empty: Option<String>,
    pub top: Vec<TopRow>,
    /// Designs within the limit, of those searched.
    pub feasible: u64,
    pub searched: u64,
    /// What was searched: "the loss–latency frontier of `frontier`", "every
    /// design of `latency`".
    #[serde(default)]
    pub searched_what: String,
}

/// A search's answer: its lowest-loss design within the limit, with its
/// figures, against each baseline in the same precision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    pub design: String,
    /// Precision of the design and of the baselines' figures.
    pub precision: String,
    pub figures: Figures,
    pub baselines: Vec<Compared>,
}

/// Latency (on the search's objective), memory and predicted loss.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    pub latency_s: f64,
    pub memory_bytes: f64,
    pub loss: f64,
    pub ppl: f64,
}

/// A baseline model's figures in the answer's precision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Compared {
    pub name: String,
    pub figures: Figures,
}

/// One closed-form optimum of an `advise` stage (Theorems 5.1–5.3), rounded
/// to a buildable design.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdviceRow {
    pub stage: String,
    pub width: f64,
    /// `prefill`, `decode`, `memory`, or `searched` for the enumerated best.
    pub constraint: String,
    /// Which regime's optimum applies (`prefill latency`, `memory`, ...).
    pub regime: String,
    pub layers: u32,
    pub ffn_ratio: f64,
    pub heads: u32,
    pub kv_heads: u32,
    pub experts: u32,
    pub top_k: u32,
    pub loss: f64,
    /// Stored weight bytes at the optimum, when given.
    pub weight_bytes: Option<f64>,
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
        let marked = self
            .baselines
            .iter()
            .map(|m| ("baseline", m))
            .chain(self.chosen.iter().map(|m| ("chosen", m)));
        for (role, m) in marked {
            positive(|| format!("{role} '{}' latency_s", m.label), m.latency_s)?;
            finite(|| format!("{role} '{}' loss", m.label), m.loss)?;
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
