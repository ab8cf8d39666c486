//! How far predicted latencies are from measured ones: the per-point
//! relative error, its median and mean (in percent), and the Spearman rank
//! correlation — what matters for a search, which only needs the ranking.
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub n: usize,
    /// Median of |predicted − measured| / measured, in percent.
    pub median_ape: f64,
    /// Mean of the same (MAPE), in percent.
    pub mape: f64,
    /// Spearman's ρ of predicted against measured; `None` with fewer than
    /// two points or when either side is constant.
    pub spearman: Option<f64>,
}

impl Metrics {
    /// `pairs` = (predicted, measured), measured > 0.
    pub fn of(pairs: &[(f64, f64)]) -> Metrics {
        let mut ape: Vec<f64> = pairs
            .iter()
            .map(|(p, m)| 100.0 * ((p - m) / m).abs())
            .collect();
        let n = ape.len();
        let mape = if n == 0 {
            f64::NAN
        } else {
            ape.iter().sum::<f64>() / n as f64
        };
        ape.sort_by(f64::total_cmp);
        let (pred, meas): (Vec<f64>, Vec<f64>) = pairs.iter().copied().unzip();
        Metrics {
            n,
            median_ape: median(&ape),
            mape,
            spearman: spearman(&pred, &meas),
        }
    }
}

/// Signed relative error of one point, in percent (positive: predicted too
/// slow).
pub fn error_pct(predicted: f64, measured: f64) -> f64 {
    100.0 * (predicted - measured) / measured
}

/// The median of sorted values (mean of the middle two for an even count).
fn median(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => 0.5 * (sorted[n / 2 - 1] + sorted[n / 2]),
    }
}

/// Ranks 1..=n, ties sharing the mean of the ranks they span. Ties are
/// exact: nearly equal values rank apart.
#[allow(clippy::float_cmp)]
pub(crate) fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        // Positions i..=j (0-based) hold ranks i+1..=j+1; their mean:
        let mean = (i + j) as f64 / 2.0 + 1.0;
        for &k in &order[i..=j] {
            r[k] = mean;
        }
        i = j + 1;
    }
    r
}

/// Spearman's ρ: Pearson's correlation of the (tie-averaged) ranks, which
/// is exact with ties where the 1 − 6Σd²/(n(n²−1)) shortcut is not.
pub fn spearman(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(&rb) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    (saa > 0.0 && sbb > 0.0).then(|| sab / (saa * sbb).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(
            ranks(&[10.0, 20.0, 20.0, 5.0, 20.0]),
            vec![2.0, 4.0, 4.0, 1.0, 4.0]
        );
    }

    #[test]
    fn spearman_with_ties_matches_hand_computation() {
        // a = [1, 2, 2, 3] → ranks [1, 2.5, 2.5, 4]
        // b = [1, 3, 2, 2] → ranks [1, 4, 2.5, 2.5]
        // Both rank vectors have mean 2.5; centred: a' = [-1.5, 0, 0, 1.5],
        // b' = [-1.5, 1.5, 0, 0]; Σa'b' = 2.25, Σa'² = Σb'² = 4.5, so ρ = 0.5.
        let r = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 2.0]).unwrap();
        assert!((r - 0.5).abs() < 1e-12, "{r}");
        // Monotone but not linear: ρ = 1; reversed: −1.
        let x = [1.0, 2.0, 3.0, 4.0, 5.0];
        let y = [1.0, 8.0, 27.0, 64.0, 125.0];
        assert!((spearman(&x, &y).unwrap() - 1.0).abs() < 1e-12);
        let rev: Vec<f64> = y.iter().rev().copied().collect();
        assert!((spearman(&x, &rev).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]), None);
        assert_eq!(spearman(&[1.0], &[1.0]), None);
    }

    #[test]
    fn metrics_by_hand() {
        // Errors 10%, 50%, 20%, 0% → median 15%, mean 20%.
        let m = Metrics::of(&[(1.1, 1.0), (3.0, 2.0), (2.4, 3.0), (4.0, 4.0)]);
        assert_eq!(m.n, 4);
        assert!((m.median_ape - 15.0).abs() < 1e-9, "{m:?}");
        assert!((m.mape - 20.0).abs() < 1e-9, "{m:?}");
        // Predicted ranks [1, 3, 2, 4] against measured [1, 2, 3, 4]: ρ = 0.8.
        assert!((m.spearman.unwrap() - 0.8).abs() < 1e-12);
        assert!((error_pct(0.9, 1.0) + 10.0).abs() < 1e-9);
    }
}
