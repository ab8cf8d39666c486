//! Goodness of fit on the loss scale (not the log scale the fit minimises),
//! as the paper and Epoch report it.
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub n: usize,
    /// 1 − `SS_res` / `SS_tot`.
    pub r2: f64,
    pub rmse: f64,
    /// Mean absolute percentage error, in percent.
    pub mape: f64,
}

impl Stats {
    /// `pairs` = (predicted, measured).
    pub fn of(pairs: &[(f64, f64)]) -> Self {
        let n = pairs.len();
        let nf = n as f64;
        let mean = pairs.iter().map(|p| p.1).sum::<f64>() / nf;
        let ss_res: f64 = pairs.iter().map(|(p, m)| (p - m).powi(2)).sum();
        let ss_tot: f64 = pairs.iter().map(|(_, m)| (m - mean).powi(2)).sum();
        Self {
            n,
            r2: 1.0 - ss_res / ss_tot,
            rmse: (ss_res / nf).sqrt(),
            mape: 100.0 * pairs.iter().map(|(p, m)| ((p - m) / m).abs()).sum::<f64>() / nf,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn textbook_values() {
        // measured 1, 2, 3 (mean 2, SS_tot 2); predicted 1, 2, 4 (SS_res 1).
        let s = Stats::of(&[(1.0, 1.0), (2.0, 2.0), (4.0, 3.0)]);
        assert_eq!(s.n, 3);
        assert!((s.r2 - 0.5).abs() < 1e-15);
        assert!((s.rmse - (1.0f64 / 3.0).sqrt()).abs() < 1e-15);
        assert!((s.mape - 100.0 / 9.0).abs() < 1e-12);
    }
}
