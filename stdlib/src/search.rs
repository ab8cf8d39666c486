//! Choosing designs: the lowest-loss feasible ones under a budget, the
//! paper's headline comparison against a baseline model, and the paper's
//! adaptive frontier refinement (§4.3.1) for spaces too large to enumerate.
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};
use std::hash::Hash;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::arch::Architecture;
use crate::budget::{Budget, Check, Feasibility, Metrics, Objective};
use crate::pareto::{frontier, hypervolume};

/// Something with figures and a predicted loss.
pub trait Evaluated {
    fn metrics(&self) -> &Metrics;
    /// Predicted validation loss (nats per token).
    fn loss(&self) -> f64;
}

impl<T: Evaluated> Evaluated for &T {
    fn metrics(&self) -> &Metrics {
        (*self).metrics()
    }
    fn loss(&self) -> f64 {
        (*self).loss()
    }
}

/// An evaluated candidate: the architecture, its figures, its loss.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Design {
    pub arch: Architecture,
    pub metrics: Metrics,
    pub loss: f64,
}

impl Evaluated for Design {
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    fn loss(&self) -> f64 {
        self.loss
    }
}

/// One chosen design.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pick {
    /// Index into the searched items (or the ordinal pushed into [`TopK`]).
    pub index: usize,
    pub loss: f64,
    /// exp(loss).
    pub perplexity: f64,
    pub metrics: Metrics,
    /// Margins to every limit of the budget.
    pub feasibility: Feasibility,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Lowest loss first; ties by index.
    pub top: Vec<Pick>,
    /// Designs meeting every limit (and with a finite loss).
    pub feasible: u64,
    pub total: u64,
}

/// Orders (loss, index) pairs; losses are never NaN here.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Entry {
    loss: f64,
    index: usize,
    metrics: Metrics,
}

impl Eq for Entry {}

impl Ord for Entry {
    fn cmp(&self, o: &Self) -> Ordering {
        self.loss.total_cmp(&o.loss).then(self.index.cmp(&o.index))
    }
}

impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}

/// A streaming top-k of feasible designs: push designs one at a time (from
/// an enumerator, say) and keep O(k) memory.
#[derive(Clone, Debug)]
pub struct TopK<'b> {
    budget: &'b Budget,
    k: usize,
    /// Max-heap: the worst kept design on top.
    heap: BinaryHeap<Entry>,
    feasible: u64,
    total: u64,
}

impl<'b> TopK<'b> {
    pub fn new(budget: &'b Budget, k: usize) -> Self {
        Self {
            budget,
            k,
            heap: BinaryHeap::with_capacity(k + 1),
            feasible: 0,
            total: 0,
        }
    }

    pub fn push(&mut self, index: usize, metrics: &Metrics, loss: f64) {
        self.total += 1;
        if loss.is_nan() || !self.budget.admits(metrics) {
            return;
        }
        self.feasible += 1;
        if self.k == 0 {
            return;
        }
        let e = Entry {
            loss,
            index,
            metrics: *metrics,
        };
        if self.heap.len() < self.k {
            self.heap.push(e);
        } else if self.heap.peek().is_some_and(|w| e < *w) {
            self.heap.pop();
            self.heap.push(e);
        }
    }

    /// Combine two partial searches over disjoint items.
    #[must_use]
    pub fn merge(mut self, other: Self) -> Self {
        self.feasible += other.feasible;
        self.total += other.total;
        for e in other.heap {
            if self.heap.len() < self.k {
                self.heap.push(e);
            } else if self.heap.peek().is_some_and(|w| e < *w) {
                self.heap.pop();
                self.heap.push(e);
            }
        }
        self
    }

    pub fn finish(self) -> SearchResult {
        let budget = self.budget;
        let top = self
            .heap
            .into_sorted_vec()
            .into_iter()
            .map(|e| Pick {
                index: e.index,
                loss: e.loss,
                perplexity: e.loss.exp(),
                metrics: e.metrics,
                feasibility: budget.check(&e.metrics),
            })
            .collect();
        SearchResult {
            top,
            feasible: self.feasible,
            total: self.total,
        }
    }
}

/// The `k` lowest-loss designs that meet `budget`, in parallel.
pub fn search<T: Evaluated + Sync>(items: &[T], budget: &Budget, k: usize) -> SearchResult {
    items
        .par_iter()
        .enumerate()
        .fold(
            || TopK::new(budget, k),
            |mut acc, (i, t)| {
                acc.push(i, t.metrics(), t.loss());
                acc
            },
        )
        .reduce(|| TopK::new(budget, k), TopK::merge)
        .finish()
}

/// How close the designs come to each limit of a budget: per limit, the
/// figure of the design with the most slack on it (the fastest for a latency
/// limit, the smallest for a memory one), ignoring the other limits. Says why
/// a search found nothing: "the fastest needs 41 ms". Designs without a loss
/// do not count; `None` per limit when there are none.
pub fn closest<T: Evaluated + Sync>(items: &[T], budget: &Budget) -> Vec<Option<Check>> {
    budget
        .limits
        .iter()
        .map(|l| {
            let one = Budget {
                limits: vec![*l],
                ..budget.clone()
            };
            items
                .par_iter()
                .filter(|t| !t.loss().is_nan() && !t.metrics().get(l.metric).is_nan())
                .map(|t| one.check(t.metrics()).checks[0])
                .max_by(|a, b| a.margin.total_cmp(&b.margin))
        })
        .collect()
}

/// The paper's headline comparison (§4.3.5): the lowest-loss design no
/// slower than the baseline on the chosen objective.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Headline {
    pub objective: Objective,
    pub best: usize,
    pub best_loss: f64,
    pub best_perplexity: f64,
    pub best_latency: f64,
    pub baseline_loss: f64,
    pub baseline_perplexity: f64,
    pub baseline_latency: f64,
    /// 1 − `best_perplexity / baseline_perplexity` (the paper's 19.42% is this, as a fraction).
    pub perplexity_reduction: f64,
    /// 1 − `best_loss / baseline_loss`.
    pub loss_reduction: f64,
}

/// `None` when no design (meeting `budget`, if given) is at most as slow as
/// the baseline. Ties in loss go to the faster design, then the lower index.
pub fn headline<T: Evaluated + Sync>(
    items: &[T],
    baseline: &Metrics,
    baseline_loss: f64,
    objective: Objective,
    budget: Option<&Budget>,
) -> Option<Headline> {
    let limit = baseline.objective(objective);
    let best = items
        .par_iter()
        .enumerate()
        .filter(|(_, t)| {
            let lat = t.metrics().objective(objective);
            !t.loss().is_nan() && lat <= limit && budget.is_none_or(|b| b.admits(t.metrics()))
        })
        .min_by(|(i, a), (j, b)| {
            a.loss()
                .total_cmp(&b.loss())
                .then(
                    a.metrics()
                        .objective(objective)
                        .total_cmp(&b.metrics().objective(objective)),
                )
                .then(i.cmp(j))
        })?;
    let (i, t) = best;
    let (bl, pl) = (t.loss(), baseline_loss);
    Some(Headline {
        objective,
        best: i,
        best_loss: bl,
        best_perplexity: bl.exp(),
        best_latency: t.metrics().objective(objective),
        baseline_loss: pl,
        baseline_perplexity: pl.exp(),
        baseline_latency: limit,
        perplexity_reduction: 1.0 - (bl - pl).exp(),
        loss_reduction: 1.0 - bl / pl,
    })
}

/// Knobs of [`refine`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefineOptions {
    /// Most new evaluations per round.
    pub per_round: usize,
    pub max_rounds: usize,
    /// Stop when the hypervolume's relative change stays below this…
    pub tol: f64,
    /// …for this many rounds in a row.
    pub patience: usize,
    /// How many of the widest frontier gaps to fill per round.
    pub gaps: usize,
}

impl Default for RefineOptions {
    fn default() -> Self {
        Self {
            per_round: 256,
            max_rounds: 100,
            tol: 1e-3,
            patience: 2,
            gaps: 8,
        }
    }
}

/// What [`refine`] found.
#[derive(Clone, Debug)]
pub struct Refined<P> {
    /// Every point evaluated successfully, with (latency, loss).
    pub evaluated: Vec<(P, f64, f64)>,
    /// Indices into `evaluated`, ascending latency.
    pub frontier: Vec<usize>,
    /// The reference point the hypervolumes are measured against, fixed
    /// from the starting sample: its worst latency and loss plus 10% of
    /// their spans.
    pub reference: (f64, f64),
    /// Hypervolume after the start and after each round.
    pub hypervolumes: Vec<f64>,
    /// True when the frontier stopped moving (hypervolume within `tol`, or
    /// nothing left to propose) before `max_rounds`.
    pub converged: bool,
    /// Evaluation attempts, including those that returned `None`.
    pub attempts: usize,
}

/// The paper's adaptive frontier search (§4.3.1): start from `start` (a
/// Latin-hypercube sample, say), compute the frontier, then repeatedly
/// evaluate points in the widest gaps between neighbouring frontier points
/// (`between`) and in the neighbourhoods of frontier points (`neighbours`),
/// until the frontier's hypervolume stops changing.
///
/// `evaluate` returns (latency, loss), or `None` for a point that cannot be
/// scored (invalid, outside the law's range); `key` identifies points so
/// none is evaluated twice. With [`crate::space::CompiledSpace`], use
/// `Candidate::key`, `CompiledSpace::neighbours` and `CompiledSpace::nearest`
/// on the midpoint for `between`.
pub fn refine<P, K: Hash + Eq>(
    start: Vec<P>,
    key: impl Fn(&P) -> K,
    mut evaluate: impl FnMut(&P) -> Option<(f64, f64)>,
    mut neighbours: impl FnMut(&P) -> Vec<P>,
    mut between: impl FnMut(&P, &P) -> Option<P>,
    opts: &RefineOptions,
) -> Refined<P> {
    let mut seen: HashSet<K> = HashSet::new();
    let mut evaluated: Vec<(P, f64, f64)> = Vec::new();
    let mut attempts = 0;
    let mut try_eval = |p: P, seen: &mut HashSet<K>, evaluated: &mut Vec<(P, f64, f64)>| {
        if !seen.insert(key(&p)) {
            return false;
        }
        attempts += 1;
        if let Some((lat, loss)) = evaluate(&p).filter(|(a, b)| a.is_finite() && b.is_finite()) {
            evaluated.push((p, lat, loss));
        }
        true
    };
    for p in start {
        try_eval(p, &mut seen, &mut evaluated);
    }
    let points = |ev: &[(P, f64, f64)]| ev.iter().map(|e| (e.1, e.2)).collect::<Vec<_>>();
    if evaluated.is_empty() {
        // Nothing scored: no frontier to refine, and no reference point.
        let reference = (f64::NAN, f64::NAN);
        return Refined {
            evaluated,
            frontier: Vec::new(),
            reference,
            hypervolumes: Vec::new(),
            converged: false,
            attempts,
        };
    }
    let reference = {
        let pts = points(&evaluated);
        let span = |f: fn(&(f64, f64)) -> f64| {
            let lo = pts.iter().map(f).fold(f64::INFINITY, f64::min);
            let hi = pts.iter().map(f).fold(f64::NEG_INFINITY, f64::max);
            hi + 0.1 * (hi - lo).max(hi.abs() * 1e-9)
        };
        (span(|p| p.0), span(|p| p.1))
    };
    let mut hypervolumes = vec![hypervolume(&points(&evaluated), reference)];
    let mut converged = false;
    let mut still = 0;
    for _ in 0..opts.max_rounds {
        let pts = points(&evaluated);
        let front = frontier(&pts);
        let mut proposals: Vec<P> = Vec::new();
        // Widest gaps first, measured on range-normalised coordinates.
        let (sx, sy) = (reference.0.abs().max(1e-300), reference.1.abs().max(1e-300));
        let mut gaps: Vec<(f64, usize)> = front
            .windows(2)
            .enumerate()
            .map(|(g, w)| {
                let (a, b) = (pts[w[0]], pts[w[1]]);
                (((b.0 - a.0) / sx).hypot((a.1 - b.1) / sy), g)
            })
            .collect();
        gaps.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, g) in gaps.iter().take(opts.gaps) {
            if let Some(p) = between(&evaluated[front[g]].0, &evaluated[front[g + 1]].0) {
                proposals.push(p);
            }
        }
        for &f in &front {
            proposals.extend(neighbours(&evaluated[f].0));
        }
        let mut fresh = 0;
        for p in proposals {
            if fresh >= opts.per_round {
                break;
            }
            if try_eval(p, &mut seen, &mut evaluated) {
                fresh += 1;
            }
        }
        let hv = hypervolume(&points(&evaluated), reference);
        let prev = *hypervolumes.last().unwrap_or(&0.0);
        hypervolumes.push(hv);
        if fresh == 0 {
            converged = true;
            break;
        }
        let change = if prev > 0.0 {
            (hv - prev).abs() / prev
        } else {
            f64::INFINITY
        };
        still = if change < opts.tol { still + 1 } else { 0 };
        if still >= opts.patience {
            converged = true;
            break;
        }
    }
    let front = frontier(&points(&evaluated));
    Refined {
        evaluated,
        frontier: front,
        reference,
        hypervolumes,
        converged,
        attempts,
    }
}
