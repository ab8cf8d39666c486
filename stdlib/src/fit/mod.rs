//! Fitting a loss law to measured losses: log-space Huber objective
//! (Hoffmann et al. 2022; Besiroglu et al. 2024), L-BFGS from a grid of
//! starts in parallel, the best by objective; a deterministic holdout split
//! and bootstrap intervals.
mod model;
pub(crate) mod rng;
pub mod runs;
mod stats;

use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason, TerminationStatus};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::law::{Bound, Form, Law, LawError, ValidRange, Vars};
use model::{Model, Objective};
use rng::Rng;

pub use stats::Stats;

/// One measured model: its law variables and its loss.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    pub vars: Vars,
    pub loss: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitOptions {
    /// Huber δ on ln-loss residuals; 1e-3 as Hoffmann et al. and Epoch.
    pub huber_delta: f64,
    /// How many L-BFGS starts: the form's whole grid when it has at most
    /// this many points, else this many points Latin-hypercube-picked from it.
    pub starts: usize,
    /// Fraction of points held out (0 = none).
    pub holdout: f64,
    /// Bootstrap resamples for the 95% intervals (0 = none).
    pub bootstrap: usize,
    pub seed: u64,
    /// L-BFGS iteration cap per start.
    pub max_iters: u64,
}

impl Default for FitOptions {
    fn default() -> Self {
        Self {
            huber_delta: 1e-3,
            starts: 4500,
            holdout: 0.0,
            bootstrap: 0,
            seed: 0,
            max_iters: 1000,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FitResult {
    /// The fitted law; its range is the span of the training points.
    pub law: Law,
    pub train: Stats,
    pub holdout: Option<Stats>,
    /// Indices of the points held out of the fit (ascending).
    #[serde(default)]
    pub heldout: Vec<usize>,
    /// Per coefficient, the 2.5th and 97.5th bootstrap percentiles.
    pub intervals: Option<Vec<(f64, f64)>>,
    /// The best start stopped on its own tolerances, not on the iteration cap.
    pub converged: bool,
    /// |∇| of the objective (in the fitting parametrisation) at the optimum.
    pub gradient_norm: f64,
    /// The objective at the optimum.
    pub objective: f64,
    /// Starts that ran to completion (a start can fail in the line search).
    pub starts_run: usize,
    /// What makes the fit doubtful: a coefficient on a bound of its range,
    /// a held-out R² below 0 (worse than predicting the mean).
    #[serde(default)]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("point {index}: {message}")]
    BadPoint { index: usize, message: String },
    #[error(
        "{form} has {coefficients} coefficients; fitting needs at least that many training points, got {got}"
    )]
    TooFewPoints {
        form: &'static str,
        coefficients: usize,
        got: usize,
    },
    #[error("invalid option: {0}")]
    BadOption(String),
    #[error("no start converged to a finite objective (of {0} tried)")]
    NoSolution(usize),
    #[error("cancelled")]
    Cancelled,
}

/// Asked between and inside the L-BFGS runs of a fit or a calibration
/// whether to stop (the run's cancel flag, on Ctrl-C): once it says yes,
/// every run stops at its next objective evaluation.
pub type Stop<'a> = &'a (dyn Fn() -> bool + Sync);

/// A problem that fails its next evaluation once `stop` says so, which
/// ends argmin's run there.
struct Stoppable<'a, P> {
    problem: P,
    stop: Stop<'a>,
}

impl<P> Stoppable<'_, P> {
    fn check(&self) -> Result<(), argmin::core::Error> {
        if (self.stop)() {
            Err(argmin::core::Error::msg("cancelled"))
        } else {
            Ok(())
        }
    }
}

impl<P: CostFunction> CostFunction for Stoppable<'_, P> {
    type Param = P::Param;
    type Output = P::Output;
    fn cost(&self, p: &Self::Param) -> Result<Self::Output, argmin::core::Error> {
        self.check()?;
        self.problem.cost(p)
    }
}

impl<P: Gradient> Gradient for Stoppable<'_, P> {
    type Param = P::Param;
    type Gradient = P::Gradient;
    fn gradient(&self, p: &Self::Param) -> Result<Self::Gradient, argmin::core::Error> {
        self.check()?;
        self.problem.gradient(p)
    }
}

/// The end of one L-BFGS run (shared with `calibrate`).
pub(crate) struct Optimum {
    pub(crate) theta: Vec<f64>,
    pub(crate) cost: f64,
    pub(crate) converged: bool,
}

pub fn fit(points: &[Point], form: &Form, opts: &FitOptions) -> Result<FitResult, FitError> {
    fit_cancellable(points, form, opts, &|| false)
}

/// [`fit`], ending with [`FitError::Cancelled`] within one objective
/// evaluation (milliseconds) of `stop` saying so, in the starts or in the
/// bootstrap.
pub fn fit_cancellable(
    points: &[Point],
    form: &Form,
    opts: &FitOptions,
    stop: Stop<'_>,
) -> Result<FitResult, FitError> {
    check_options(opts)?;
    check_size(points.len(), opts)?;
    let name = format!("fit:{}", form.name());
    for (index, p) in points.iter().enumerate() {
        form.check_vars(&name, &p.vars)
            .map_err(|e| BadPoint(index, &e))?;
        if !(p.loss > 0.0 && p.loss.is_finite()) {
            return Err(FitError::BadPoint {
                index,
                message: format!("loss must be positive, got {}", p.loss),
            });
        }
    }
    let vars: Vec<Vars> = points.iter().map(|p| p.vars).collect();
    let ln_loss: Vec<f64> = points.iter().map(|p| p.loss.ln()).collect();
    let model = Model::new(form, &vars);

    let (train, hold) = split(points.len(), opts.holdout, opts.seed);
    if train.len() < model.dim() {
        return Err(FitError::TooFewPoints {
            form: form.name(),
            coefficients: model.dim(),
            got: train.len(),
        });
    }

    let starts = starts(&model.grid(), opts.starts, opts.seed);
    let objective = Objective {
        model: &model,
        ln_loss: &ln_loss,
        idx: &train,
        delta: opts.huber_delta,
    };
    let results: Vec<Optimum> = starts
        .par_iter()
        .filter_map(|s| lbfgs(Objective { ..objective }, s.clone(), opts.max_iters, stop))
        .collect();
    if stop() {
        return Err(FitError::Cancelled);
    }
    let starts_run = results.len();
    let best = results
        .into_iter()
        .min_by(|a, b| a.cost.total_cmp(&b.cost))
        .filter(|b| b.cost.is_finite())
        .ok_or(FitError::NoSolution(starts.len()))?;

    let gradient_norm = objective
        .gradient(&best.theta)
        .iter()
        .map(|g| g * g)
        .sum::<f64>()
        .sqrt();
    let stats_of = |idx: &[usize]| {
        Stats::of(
            &idx.iter()
                .map(|&i| (model.predict(&best.theta, i), points[i].loss))
                .collect::<Vec<_>>(),
        )
    };
    let train_stats = stats_of(&train);
    let hold_stats = (!hold.is_empty()).then(|| stats_of(&hold));

    let intervals = (opts.bootstrap > 0)
        .then(|| bootstrap(&model, &ln_loss, &train, &best.theta, &starts, opts, stop));
    if stop() {
        return Err(FitError::Cancelled);
    }

    let coefs = model.coefficients(&best.theta);
    let at_bounds = model.at_bounds(&coefs);
    let mut law = Law::new(&name, form.clone(), coefs).map_err(|e| BadPoint(0, &e))?;
    let warnings = warnings(&law, &at_bounds, hold_stats.as_ref());
    law.intervals.clone_from(&intervals);
    law.range = Some(span_of(form, &vars, &train));
    law.source = format!(
        "log-space Huber (delta {}) fit of {} points, L-BFGS from {} starts, seed {}",
        opts.huber_delta,
        train.len(),
        starts.len(),
        opts.seed
    );
    Ok(FitResult {
        law,
        train: train_stats,
        holdout: hold_stats,
        heldout: hold,
        intervals,
        converged: best.converged,
        gradient_norm,
        objective: best.cost,
        starts_run,
        warnings,
    })
}

/// What makes a fit doubtful: coefficients on a bound of their range, a
/// held-out R² below 0.
fn warnings(law: &Law, at_bounds: &[usize], holdout: Option<&Stats>) -> Vec<String> {
    let mut warnings: Vec<String> = law
        .coefficients()
        .enumerate()
        .filter(|(i, _)| at_bounds.contains(i))
        .map(|(_, (c, v))| {
            format!("coefficient `{c}` = {v:.4e} sits at a bound of its range: the data does not pin it down (widen the range, or drop the term)")
        })
        .collect();
    if let Some(h) = holdout.filter(|h| h.r2 < 0.0) {
        warnings.push(format!(
            "held-out R² is {:.3}: the law predicts the {} held-out runs worse than their mean loss",
            h.r2, h.n
        ));
    }
    warnings
}

#[allow(non_snake_case)]
fn BadPoint(index: usize, e: &LawError) -> FitError {
    FitError::BadPoint {
        index,
        message: e.to_string(),
    }
}

fn check_options(o: &FitOptions) -> Result<(), FitError> {
    if !(o.huber_delta > 0.0 && o.huber_delta.is_finite()) {
        return Err(FitError::BadOption(format!(
            "huber delta must be positive, got {}",
            o.huber_delta
        )));
    }
    if o.starts == 0 {
        return Err(FitError::BadOption("starts must be at least 1".into()));
    }
    if !(0.0..1.0).contains(&o.holdout) {
        return Err(FitError::BadOption(format!(
            "holdout must be in [0, 1), got {}",
            o.holdout
        )));
    }
    if o.max_iters == 0 {
        return Err(FitError::BadOption("max_iters must be at least 1".into()));
    }
    Ok(())
}

/// The most points a fit takes: loss laws are fitted to tens to thousands
/// of runs; a million rows is a wrong file, and would run for hours.
pub const MAX_FIT_POINTS: usize = 100_000;
/// The most bootstrap resamples: 95% intervals settle within a few thousand.
pub const MAX_BOOTSTRAP: usize = 10_000;
/// Point-evaluations one fit may cost (points × (starts + resamples)),
/// about ten minutes of CPU.
const MAX_FIT_WORK: u128 = 2_000_000_000;

/// Refuses, before any work, a fit whose size would run for hours.
fn check_size(points: usize, o: &FitOptions) -> Result<(), FitError> {
    if points > MAX_FIT_POINTS {
        return Err(FitError::BadOption(format!(
            "{points} points, more than the {MAX_FIT_POINTS} a fit takes; fit a sample of them"
        )));
    }
    if o.bootstrap > MAX_BOOTSTRAP {
        return Err(FitError::BadOption(format!(
            "{} bootstrap resamples, more than the limit of {MAX_BOOTSTRAP}",
            o.bootstrap
        )));
    }
    let work = points as u128 * (o.starts as u128 + o.bootstrap as u128);
    if work > MAX_FIT_WORK {
        return Err(FitError::BadOption(format!(
            "{points} points × ({} starts + {} resamples) is {work} evaluations, more than the limit of {MAX_FIT_WORK}; use fewer starts or resamples",
            o.starts, o.bootstrap
        )));
    }
    Ok(())
}

/// (train, holdout) indices: a seeded shuffle, the last ⌊n·f⌉ held out.
fn split(n: usize, holdout: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    split_stratified(&vec![0; n], holdout, seed)
}

/// (train, holdout) indices, split within each stratum (`strata[i]` is point
/// i's group) so every group lands on both sides: per group in order of
/// first appearance, a shuffle from one seeded stream and the last
/// ⌊`n_g`·f⌉ held out. With one group this is exactly [`split`]'s shuffle, so
/// published fit seeds keep their splits.
pub(crate) fn split_stratified(
    strata: &[usize],
    holdout: f64,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
    for (i, &g) in strata.iter().enumerate() {
        match groups.iter_mut().find(|(k, _)| *k == g) {
            Some((_, v)) => v.push(i),
            None => groups.push((g, vec![i])),
        }
    }
    let mut rng = Rng::new(seed);
    let (mut train, mut hold) = (Vec::new(), Vec::new());
    for (_, mut idx) in groups {
        let n_hold = (idx.len() as f64 * holdout).round() as usize;
        if n_hold > 0 {
            rng.shuffle(&mut idx);
            hold.extend(idx.split_off(idx.len() - n_hold));
        }
        train.extend(idx);
    }
    train.sort_unstable();
    hold.sort_unstable();
    (train, hold)
}

/// The full grid when it is small enough, else `want` points with each
/// coordinate's levels spread evenly over the picks (a Latin hypercube on the
/// grid's levels), shuffled independently per coordinate by the seed.
pub(crate) fn starts(levels: &[Vec<f64>], want: usize, seed: u64) -> Vec<Vec<f64>> {
    let total = levels
        .iter()
        .try_fold(1usize, |acc, l| acc.checked_mul(l.len()));
    if let Some(total) = total.filter(|&t| t <= want) {
        return (0..total)
            .map(|mut k| {
                levels
                    .iter()
                    .rev()
                    .map(|l| {
                        let v = l[k % l.len()];
                        k /= l.len();
                        v
                    })
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect()
            })
            .collect();
    }
    let mut rng = Rng::new(seed ^ 0x5EED_57A7);
    let columns: Vec<Vec<f64>> = levels
        .iter()
        .map(|l| {
            let mut col: Vec<f64> = (0..want).map(|j| l[j * l.len() / want]).collect();
            rng.shuffle(&mut col);
            col
        })
        .collect();
    (0..want)
        .map(|j| columns.iter().map(|c| c[j]).collect())
        .collect()
}

/// One L-BFGS run of `problem` from `init`; `None` when the solver fails
/// (a line search that finds no descent, a non-finite cost at the start)
/// or `stop` says to.
pub(crate) fn lbfgs<P>(
    problem: P,
    init: Vec<f64>,
    max_iters: u64,
    stop: Stop<'_>,
) -> Option<Optimum>
where
    P: CostFunction<Param = Vec<f64>, Output = f64>
        + Gradient<Param = Vec<f64>, Gradient = Vec<f64>>,
{
    // Tight tolerances: Besiroglu et al. attribute part of the original
    // Chinchilla fit's error to stopping early.
    let solver = LBFGS::new(MoreThuenteLineSearch::new(), 10)
        .with_tolerance_grad(1e-12)
        .ok()?
        .with_tolerance_cost(1e-15)
        .ok()?;
    let res = Executor::new(Stoppable { problem, stop }, solver)
        .configure(|s| s.param(init).max_iters(max_iters))
        .run()
        .ok()?;
    // A stop inside a line search ends argmin's run as if it had finished,
    // with the best point so far: no optimum.
    if stop() {
        return None;
    }
    let st = res.state();
    let converged = matches!(
        st.get_termination_status(),
        TerminationStatus::Terminated(
            TerminationReason::SolverConverged | TerminationReason::TargetCostReached
        )
    );
    Some(Optimum {
        theta: st.get_best_param()?.clone(),
        cost: st.get_best_cost(),
        converged,
    })
}

/// Percentile intervals from refits on resampled training points. Each
/// resample refits from the full-data optimum plus a few grid starts, in
/// parallel, one seeded stream per resample.
fn bootstrap(
    model: &Model,
    ln_loss: &[f64],
    train: &[usize],
    best: &[f64],
    grid: &[Vec<f64>],
    opts: &FitOptions,
    stop: Stop<'_>,
) -> Vec<(f64, f64)> {
    const EXTRA_STARTS: usize = 4;
    let fits: Vec<Vec<f64>> = (0..opts.bootstrap)
        .into_par_iter()
        .filter_map(|b| {
            if stop() {
                return None;
            }
            let mut rng = Rng::stream(opts.seed, b as u64 + 1);
            let idx: Vec<usize> = (0..train.len())
                .map(|_| train[rng.below(train.len())])
                .collect();
            let objective = Objective {
                model,
                ln_loss,
                idx: &idx,
                delta: opts.huber_delta,
            };
            let mut inits = vec![best.to_vec()];
            inits.extend(
                (0..EXTRA_STARTS.min(grid.len())).map(|_| grid[rng.below(grid.len())].clone()),
            );
            inits
                .into_iter()
                .filter_map(|s| lbfgs(Objective { ..objective }, s, opts.max_iters, stop))
                .filter(|o| o.cost.is_finite())
                .min_by(|a, b| a.cost.total_cmp(&b.cost))
                .map(|o| model.coefficients(&o.theta))
        })
        .collect();
    (0..model.dim())
        .map(|k| {
            let mut v: Vec<f64> = fits.iter().map(|c| c[k]).collect();
            v.sort_by(f64::total_cmp);
            (percentile(&v, 0.025), percentile(&v, 0.975))
        })
        .collect()
}

/// Linear interpolation between order statistics (numpy's default).
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The box the training points span in the form's variables: a fitted law
/// is trusted there and nowhere else by default.
fn span_of(form: &Form, vars: &[Vars], train: &[usize]) -> ValidRange {
    ValidRange {
        bounds: form
            .vars()
            .into_iter()
            .map(|var| {
                let vals = train.iter().filter_map(|&i| vars[i].get(var));
                let (lo, hi) = vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
                    (lo.min(x), hi.max(x))
                });
                Bound {
                    var,
                    lo,
                    hi,
                    note: "span of the fitted points".into(),
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_grid_when_small_and_latin_hypercube_when_not() {
        let levels = vec![vec![0.0, 1.0], vec![10.0, 20.0, 30.0]];
        let all = starts(&levels, 6, 0);
        assert_eq!(all.len(), 6);
        assert_eq!(all[0], vec![0.0, 10.0]);
        assert_eq!(all[1], vec![0.0, 20.0]);
        assert_eq!(all[5], vec![1.0, 30.0]);
        let some = starts(&levels, 4, 3);
        assert_eq!(some.len(), 4);
        // Each level of the first coordinate is used equally often.
        assert_eq!(some.iter().filter(|s| s[0] == 0.0).count(), 2);
        assert_eq!(starts(&levels, 4, 3), some, "deterministic");
    }

    #[test]
    fn split_is_deterministic_and_disjoint() {
        let (t, h) = split(10, 0.3, 42);
        assert_eq!(h.len(), 3);
        assert_eq!(t.len(), 7);
        assert!(h.iter().all(|i| !t.contains(i)));
        assert_eq!(split(10, 0.3, 42), (t, h));
        assert_eq!(split(10, 0.0, 42).1.len(), 0);
    }

    #[test]
    fn stratified_split_puts_every_group_on_both_sides() {
        let strata = [0, 0, 0, 0, 1, 1, 1, 1, 1, 1];
        let (t, h) = split_stratified(&strata, 0.5, 3);
        assert_eq!(h.iter().filter(|&&i| strata[i] == 0).count(), 2);
        assert_eq!(h.iter().filter(|&&i| strata[i] == 1).count(), 3);
        assert_eq!(t.len() + h.len(), 10);
        assert!(h.iter().all(|i| !t.contains(i)));
        assert_eq!(split_stratified(&strata, 0.5, 3), (t, h));
    }

    /// Rosenbrock's valley, counting the evaluations that do work.
    struct Counted<'a>(&'a std::sync::atomic::AtomicUsize);

    impl CostFunction for Counted<'_> {
        type Param = Vec<f64>;
        type Output = f64;
        fn cost(&self, p: &Vec<f64>) -> Result<f64, argmin::core::Error> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok((1.0 - p[0]).powi(2) + 100.0 * (p[1] - p[0] * p[0]).powi(2))
        }
    }

    impl Gradient for Counted<'_> {
        type Param = Vec<f64>;
        type Gradient = Vec<f64>;
        fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let t = p[1] - p[0] * p[0];
            Ok(vec![-2.0 * (1.0 - p[0]) - 400.0 * p[0] * t, 200.0 * t])
        }
    }

    #[test]
    fn a_run_stops_at_its_next_evaluation_once_told() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let evals = AtomicUsize::new(0);
        let full = lbfgs(Counted(&evals), vec![-1.2, 1.0], 1000, &|| false);
        assert!(full.is_some_and(|o| o.cost < 1e-10));
        let needed = evals.swap(0, Ordering::SeqCst);
        assert!(needed > 20, "{needed}");
        let stopped = lbfgs(Counted(&evals), vec![-1.2, 1.0], 1000, &|| {
            evals.load(Ordering::SeqCst) >= 7
        });
        assert!(stopped.is_none());
        assert_eq!(evals.load(Ordering::SeqCst), 7);
    }

    #[test]
    fn percentiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert!((percentile(&v, 0.5) - 3.0).abs() < 1e-15);
        assert!((percentile(&v, 0.025) - 1.1).abs() < 1e-12);
    }
}
