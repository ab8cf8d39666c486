//! Choosing n of N candidates, deterministically from a seed.
//!
//! The generator is the stdlib's own [`SplitMix64`](crate::rng::SplitMix64),
//! so a sample is reproducible from its seed forever.

pub use crate::rng::SplitMix64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Evenly spaced in enumeration order.
    Grid,
    /// Uniform without replacement.
    Random,
    /// Stratified per numeric field, snapped to existing candidates.
    LatinHypercube,
}

impl Method {
    pub const NAMES: &[&str] = &["grid", "random", "latin_hypercube"];

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "grid" => Some(Self::Grid),
            "random" => Some(Self::Random),
            "latin_hypercube" => Some(Self::LatinHypercube),
            _ => None,
        }
    }
}

/// Ordinals (sorted, distinct) of `n` of `total` items for the methods that
/// need only the count, so the caller can pick them from a stream.
/// `n >= total` picks everything. Latin hypercube needs coordinates: use
/// [`latin_hypercube`].
pub fn ordinals(total: u64, n: u64, method: Method, seed: u64) -> Vec<u64> {
    if n >= total {
        return (0..total).collect();
    }
    match method {
        // Centre of each of n equal strata, so both ends are treated alike.
        Method::Grid | Method::LatinHypercube => (0..n)
            .map(|i| ((2 * u128::from(i) + 1) * u128::from(total) / (2 * u128::from(n))) as u64)
            .collect(),
        Method::Random => {
            // Floyd's algorithm: n draws, O(n) memory, whatever `total` is.
            let mut rng = SplitMix64::new(seed);
            let mut chosen = std::collections::BTreeSet::new();
            for j in (total - n)..total {
                let t = rng.below(j + 1);
                if !chosen.insert(t) {
                    chosen.insert(j);
                }
            }
            chosen.into_iter().collect()
        }
    }
}

/// The items at `ordinals` (sorted, as [`ordinals`] returns them) from a
/// stream, in one pass: how a grid or random sample is drawn from an
/// enumerator without collecting it.
pub fn pick<T>(items: impl IntoIterator<Item = T>, ordinals: &[u64]) -> Vec<T> {
    let mut want = ordinals.iter().copied().peekable();
    let mut out = Vec::with_capacity(ordinals.len());
    for (i, item) in (0u64..).zip(items) {
        let Some(&next) = want.peek() else { break };
        if i == next {
            out.push(item);
            want.next();
        }
    }
    out
}

/// Latin-hypercube sample of `n` rows of `coords` (one numeric vector per
/// candidate, equal lengths). Each coordinate's observed range is split into
/// n equal bins; a random permutation per coordinate puts one target in each
/// bin, jittered within it; each target takes the not-yet-chosen candidate
/// that shares its bin on the most coordinates, the nearest such by
/// Euclidean distance on range-normalised coordinates (constant coordinates
/// are ignored). On a discrete space a bin may hold no candidate, so the
/// strata are kept where the space allows, not always. Returns indices in target order.
/// O(n · N · dims), fine for choosing training runs from a few million rows.
pub fn latin_hypercube(coords: &[Vec<f64>], n: usize, seed: u64) -> Vec<usize> {
    let total = coords.len();
    if n >= total {
        return (0..total).collect();
    }
    let dims = coords.first().map_or(0, Vec::len);
    let mut lo = vec![f64::INFINITY; dims];
    let mut hi = vec![f64::NEG_INFINITY; dims];
    for row in coords {
        for (k, &v) in row.iter().enumerate().take(dims) {
            lo[k] = lo[k].min(v);
            hi[k] = hi[k].max(v);
        }
    }
    let live: Vec<usize> = (0..dims).filter(|&k| hi[k] > lo[k]).collect();
    let mut rng = SplitMix64::new(seed);
    let perms: Vec<Vec<usize>> = live
        .iter()
        .map(|_| {
            let mut p: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut p);
            p
        })
        .collect();
    let mut used = vec![false; total];
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let target: Vec<f64> = perms
            .iter()
            .map(|p| (p[i] as f64 + rng.next_f64()) / n as f64)
            .collect();
        let bins: Vec<usize> = perms.iter().map(|p| p[i]).collect();
        // Lexicographic: strata missed first, then distance, so each
        // coordinate keeps its stratum whenever some unused candidate can.
        let mut best: Option<((usize, f64), usize)> = None;
        for (j, row) in coords.iter().enumerate() {
            if used[j] {
                continue;
            }
            let mut missed = 0;
            let mut d = 0.0;
            for ((&k, t), &b) in live.iter().zip(&target).zip(&bins) {
                let x = (row.get(k).copied().unwrap_or(lo[k]) - lo[k]) / (hi[k] - lo[k]);
                missed += usize::from(((x * n as f64) as usize).min(n - 1) != b);
                d += (x - t) * (x - t);
            }
            let score = (missed, d);
            if best.is_none_or(|(bs, _)| score.0 < bs.0 || (score.0 == bs.0 && score.1 < bs.1)) {
                best = Some((score, j));
            }
        }
        if let Some((_, j)) = best {
            used[j] = true;
            out.push(j);
        }
    }
    out
}

/// Sample `n` indices of `coords` by any method (sorted for grid and
/// random, in target order for Latin hypercube).
pub fn sample(coords: &[Vec<f64>], n: usize, method: Method, seed: u64) -> Vec<usize> {
    match method {
        Method::LatinHypercube => latin_hypercube(coords, n, seed),
        _ => ordinals(coords.len() as u64, n as u64, method, seed)
            .into_iter()
            .map(|i| i as usize)
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_matches_the_reference_sequence() {
        // First outputs for seed 1234567 from the reference C implementation.
        let mut r = SplitMix64::new(1_234_567);
        assert_eq!(r.next_u64(), 6_457_827_717_110_365_317);
        assert_eq!(r.next_u64(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn grid_spreads_evenly() {
        assert_eq!(ordinals(10, 5, Method::Grid, 0), vec![1, 3, 5, 7, 9]);
        assert_eq!(ordinals(3, 5, Method::Grid, 0), vec![0, 1, 2]);
    }
}
