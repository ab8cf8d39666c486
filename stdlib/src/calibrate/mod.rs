//! Holding the roofline to measurements: predicted against measured prefill
//! and decode latency per architecture (error per point, median and mean
//! absolute percentage error, Spearman's ρ), and calibration — fitting the
//! hardware's `efficiency_compute`, `efficiency_memory`, `efficiency_vector`
//! and `launch` to a calibration half of the measurements and reporting the other half's
//! errors before and after.
//!
//! The fit minimises the squared log error over both phases (L-BFGS from a
//! grid of starts, shared with [`crate::fit`]); the split is seeded and
//! stratified by dense/MoE so both kinds land on both sides.
mod objective;
mod stats;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::arch::Architecture;
use crate::fit::{Stop, lbfgs, split_stratified, starts};
use crate::hardware::{Hardware, HardwarePreset, Source};
use crate::roofline::{RooflineError, evaluate};
use crate::workload::Workload;

pub use stats::{Metrics, error_pct, spearman};

/// One measured run: an architecture under a workload, and its latencies.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Names the point in tables and plots.
    pub label: String,
    pub arch: Architecture,
    pub workload: Workload,
    /// Measured prefill, seconds.
    pub prefill: f64,
    /// Measured decode, all steps (output tokens 2..=generate), seconds;
    /// ignored when the workload has no decode step.
    pub decode: f64,
}

impl Sample {
    fn has_decode(&self) -> bool {
        self.workload.decode_steps() > 0
    }
}

/// The roofline's (prefill, decode) for a sample on `hw`, seconds; decode
/// covers the same steps as [`Sample::decode`].
pub fn predict(hw: &Hardware, s: &Sample) -> Result<(f64, f64), RooflineError> {
    let r = evaluate(&s.arch, hw, &s.workload)?;
    Ok((r.prefill, r.decode))
}

pub use crate::phase::Phase;

/// One phase of one sample, predicted before and after calibration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Index of the sample.
    pub sample: usize,
    pub label: String,
    pub phase: Phase,
    /// Seconds.
    pub measured: f64,
    pub before: f64,
    pub after: f64,
    /// In the evaluation half, not the calibration half.
    pub heldout: bool,
}

/// Metrics of prefill, decode, and both pooled.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseMetrics {
    pub prefill: Metrics,
    pub decode: Metrics,
    pub overall: Metrics,
}

impl PhaseMetrics {
    /// Metrics of `points` (filtered by the caller), reading the prediction
    /// with `pred`.
    pub fn of<'a>(points: impl Iterator<Item = &'a Point>, pred: impl Fn(&Point) -> f64) -> Self {
        let (mut p, mut d) = (Vec::new(), Vec::new());
        for pt in points {
            let pair = (pred(pt), pt.measured);
            match pt.phase {
                Phase::Prefill => p.push(pair),
                Phase::Decode => d.push(pair),
            }
        }
        let all: Vec<(f64, f64)> = p.iter().chain(&d).copied().collect();
        PhaseMetrics {
            prefill: Metrics::of(&p),
            decode: Metrics::of(&d),
            overall: Metrics::of(&all),
        }
    }
}

/// Metrics of one side of the split, before and after calibration.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BeforeAfter {
    pub before: PhaseMetrics,
    pub after: PhaseMetrics,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Options {
    /// Fraction of samples held out of the fit and used to judge it, in
    /// [0, 1); 0 fits and judges on all of them.
    pub holdout: f64,
    pub seed: u64,
    /// L-BFGS iteration cap per start.
    pub max_iters: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            holdout: 0.5,
            seed: 0,
            max_iters: 200,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// The input hardware with the fitted efficiencies and launch overhead.
    pub hardware: Hardware,
    /// How many samples (runs) there were.
    pub samples: usize,
    pub points: Vec<Point>,
    /// Sample indices the fit used, and those it was judged on.
    pub train: Vec<usize>,
    pub heldout: Vec<usize>,
    pub on_train: BeforeAfter,
    /// `None` when nothing was held out.
    pub on_heldout: Option<BeforeAfter>,
    /// Σ squared log error of the calibration points at the optimum.
    pub objective: f64,
    pub converged: bool,
    pub starts: usize,
    pub options: Options,
}

impl Calibration {
    /// What the calibration is judged by: the held-out half, or the
    /// training points when nothing was held out.
    pub fn judged(&self) -> &BeforeAfter {
        self.on_heldout.as_ref().unwrap_or(&self.on_train)
    }

    /// `base` with the calibrated figures and their provenance; `date` is
    /// `YYYY-MM-DD`, `device` names where the measurements ran.
    pub fn preset(&self, base: &HardwarePreset, date: &str, device: &str) -> HardwarePreset {
        let j = self.judged();
        let side = if self.on_heldout.is_some() {
            "held-out"
        } else {
            "in-sample"
        };
        let source = Source {
            source: format!(
                "calibrated by rooflaw on {} measurements ({date}); {side} median error before {:.1}% after {:.1}%",
                self.samples, j.before.overall.median_ape, j.after.overall.median_ape,
            ),
            derived: true,
            note: Some(format!(
                "least squares on log prefill and decode latency of {} calibration runs{}, L-BFGS from {} starts, seed {}; {} held out",
                self.train.len(),
                if device.is_empty() {
                    String::new()
                } else {
                    format!(" on {device}")
                },
                self.starts,
                self.options.seed,
                self.heldout.len(),
            )),
        };
        let mut out = base.clone();
        out.hardware.efficiency_compute = self.hardware.efficiency_compute;
        out.hardware.efficiency_memory = self.hardware.efficiency_memory;
        out.hardware.launch = self.hardware.launch;
        out.hardware.efficiency_vector = self.hardware.efficiency_vector;
        out.sources.efficiency_vector = Some(source.clone());
        out.sources.efficiency_compute = Some(source.clone());
        out.sources.efficiency_memory = Some(source.clone());
        out.sources.launch = Some(source);
        out
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CalibrateError {
    #[error("measurement {index} ({label}): {message}")]
    BadSample {
        index: usize,
        label: String,
        message: String,
    },
    #[error(
        "calibration fits {n} figures and needs at least {n} calibration runs, got {0} (lower `holdout` or measure more architectures)",
        n = objective::FIGURES
    )]
    TooFew(usize),
    #[error("invalid option: {0}")]
    BadOption(String),
    #[error("no start converged to a finite error (of {0} tried)")]
    NoSolution(usize),
    #[error("cancelled")]
    Cancelled,
}

fn check(samples: &[Sample], hw: &Hardware) -> Result<Vec<(f64, f64)>, CalibrateError> {
    samples
        .iter()
        .enumerate()
        .map(|(index, s)| {
            let bad = |message: String| CalibrateError::BadSample {
                index,
                label: s.label.clone(),
                message,
            };
            let ok = |v: f64| v > 0.0 && v.is_finite();
            if !ok(s.prefill) {
                return Err(bad(format!(
                    "measured prefill must be positive, got {} s",
                    s.prefill
                )));
            }
            if s.has_decode() && !ok(s.decode) {
                return Err(bad(format!(
                    "measured decode must be positive with {} decode steps, got {} s",
                    s.workload.decode_steps(),
                    s.decode
                )));
            }
            predict(hw, s).map_err(|e| bad(e.to_string()))
        })
        .collect()
}

/// Predicted against measured on `hw` with no fitting: every sample, both
/// phases (`before` = `after`, nothing held out).
pub fn validate(samples: &[Sample], hw: &Hardware) -> Result<Vec<Point>, CalibrateError> {
    let pred = check(samples, hw)?;
    Ok(points(samples, &pred, &pred, &[]))
}

fn points(
    samples: &[Sample],
    before: &[(f64, f64)],
    after: &[(f64, f64)],
    heldout: &[usize],
) -> Vec<Point> {
    let mut out = Vec::new();
    for (i, s) in samples.iter().enumerate() {
        let held = heldout.binary_search(&i).is_ok();
        let point = |phase, measured, b, a| Point {
            sample: i,
            label: s.label.clone(),
            phase,
            measured,
            before: b,
            after: a,
            heldout: held,
        };
        out.push(point(Phase::Prefill, s.prefill, before[i].0, after[i].0));
        if s.has_decode() {
            out.push(point(Phase::Decode, s.decode, before[i].1, after[i].1));
        }
    }
    out
}

/// Fits `hw`'s efficiencies and launch overhead to a seeded, dense/MoE
/// stratified calibration subset of `samples` and judges the result on the
/// rest.
pub fn calibrate(
    samples: &[Sample],
    hw: &Hardware,
    opts: &Options,
) -> Result<Calibration, CalibrateError> {
    calibrate_cancellable(samples, hw, opts, &|| false)
}

/// [`calibrate`], ending with [`CalibrateError::Cancelled`] within one
/// objective evaluation of `stop` saying so.
pub fn calibrate_cancellable(
    samples: &[Sample],
    hw: &Hardware,
    opts: &Options,
    stop: Stop<'_>,
) -> Result<Calibration, CalibrateError> {
    if !(0.0..1.0).contains(&opts.holdout) {
        return Err(CalibrateError::BadOption(format!(
            "holdout must be a fraction in [0, 1), got {}",
            opts.holdout
        )));
    }
    if opts.max_iters == 0 {
        return Err(CalibrateError::BadOption(
            "max_iters must be at least 1".into(),
        ));
    }
    let before = check(samples, hw)?;
    let strata: Vec<usize> = samples
        .iter()
        .map(|s| usize::from(s.arch.is_moe()))
        .collect();
    let (train, heldout) = split_stratified(&strata, opts.holdout, opts.seed);
    if train.len() < objective::FIGURES {
        return Err(CalibrateError::TooFew(train.len()));
    }

    let problem = objective::Problem {
        base: hw,
        samples,
        idx: &train,
    };
    // The grid of starts plus the hardware's own figures.
    let mut inits = starts(&objective::levels(), usize::MAX, opts.seed);
    inits.push(objective::theta_of(hw));
    let results: Vec<_> = inits
        .par_iter()
        .filter_map(|t| {
            let p = objective::Problem { ..problem };
            lbfgs(p, t.clone(), opts.max_iters, stop)
        })
        .collect();
    if stop() {
        return Err(CalibrateError::Cancelled);
    }
    let best = results
        .into_iter()
        .filter(|o| o.cost.is_finite())
        .min_by(|a, b| a.cost.total_cmp(&b.cost))
        .ok_or(CalibrateError::NoSolution(inits.len()))?;

    let fitted = objective::apply(hw, &best.theta);
    // θ keeps the hardware valid, so every sample still evaluates.
    let after = check(samples, &fitted)?;
    let points = points(samples, &before, &after, &heldout);
    let side = |held: bool| {
        let on = || points.iter().filter(move |p| p.heldout == held);
        BeforeAfter {
            before: PhaseMetrics::of(on(), |p| p.before),
            after: PhaseMetrics::of(on(), |p| p.after),
        }
    };
    Ok(Calibration {
        hardware: fitted,
        samples: samples.len(),
        on_train: side(false),
        on_heldout: (!heldout.is_empty()).then(|| side(true)),
        points,
        train,
        heldout,
        objective: best.cost,
        converged: best.converged,
        starts: inits.len(),
        options: opts.clone(),
    })
}

#[cfg(test)]
mod tests;
