//! Chinchilla's parametric loss (Hoffmann et al. 2022, Approach 3):
//! L = E + A/N^α + B/D^β.
//!
//! N counts *all* parameters, embeddings included: Hoffmann et al. count
//! total parameters where Kaplan et al. (2020) count non-embedding ones, and
//! the difference explains much of the gap between the two laws (Pearce &
//! Song 2024, "Reconciling Kaplan and Chinchilla scaling laws",
//! arXiv 2406.12907). So N = `params` (= `Architecture::params_total`). The
//! form was fitted on dense models only; for an `MoE` the total count
//! overstates what one token uses, and the law knows nothing of that.
use super::range::{Bound, ValidRange};
use super::vars::Var;

/// Coefficient order. Note `e` is the irreducible loss E.
pub const COEFFICIENTS: [&str; 5] = ["e", "a", "b", "alpha", "beta"];

pub const VARS: [Var; 2] = [Var::Params, Var::Tokens];

pub const TERMS: [&str; 3] = ["irreducible", "params", "tokens"];

/// Hoffmann et al. 2022, §3.3 (rounded as printed there).
pub const HOFFMANN2022: [f64; 5] = [1.69, 406.4, 410.7, 0.34, 0.28];

/// Besiroglu et al. 2024 (Epoch AI), Table 1.
pub const BESIROGLU2024: [f64; 5] = [1.8172, 482.01, 2085.43, 0.3478, 0.3658];

#[inline]
pub fn terms(c: &[f64], n: f64, d: f64) -> [f64; 3] {
    [c[0], c[1] / n.powf(c[3]), c[2] / d.powf(c[4])]
}

/// Hoffmann et al.: "over 400 language models ranging from 70 million to
/// over 16 billion parameters on 5 to 500 billion tokens".
pub fn hoffmann_range() -> ValidRange {
    ValidRange {
        bounds: vec![
            Bound {
                var: Var::Params,
                lo: 7e7,
                hi: 1.7e10,
                note: "Hoffmann et al. 2022: 70M to over 16B".into(),
            },
            Bound {
                var: Var::Tokens,
                lo: 5e9,
                hi: 5e11,
                note: "Hoffmann et al. 2022: 5B to 500B tokens".into(),
            },
        ],
    }
}

/// The span of the 245 digitised runs Epoch fitted (derived from their CSV:
/// N 5.7e7-1.6e10, D = FLOP / 6N 2.5e8-3.2e11), rounded outwards.
pub fn besiroglu_range() -> ValidRange {
    ValidRange {
        bounds: vec![
            Bound {
                var: Var::Params,
                lo: 5e7,
                hi: 1.7e10,
                note: "derived: span of Epoch's data".into(),
            },
            Bound {
                var: Var::Tokens,
                lo: 2e8,
                hi: 3.5e11,
                note: "derived: span of Epoch's data".into(),
            },
        ],
    }
}

/// Fitting parametrisation of Hoffmann et al. and Epoch:
/// θ = [e, a, b, α, β] with E = eᵉ, A = eᵃ, B = eᵇ. (Coefficient order
/// is E, A, B, so θ[0] is ln E.)
pub(crate) const LOG_SCALED: [bool; 5] = [true, true, true, false, false];

/// ln L̂ = LSE(e, a − α ln N, b − β ln D) and its gradient. `lx` = [ln N, ln D].
#[inline]
pub(crate) fn ln_pred(theta: &[f64], lx: &[f64; 2], grad: Option<&mut [f64]>) -> f64 {
    let t = [
        theta[0],
        theta[1] - theta[3] * lx[0],
        theta[2] - theta[4] * lx[1],
    ];
    let m = t[0].max(t[1]).max(t[2]);
    let e = t.map(|ti| (ti - m).exp());
    let s = e[0] + e[1] + e[2];
    if let Some(g) = grad {
        let w = e.map(|ei| ei / s);
        g[0] = w[0];
        g[1] = w[1];
        g[2] = w[2];
        g[3] = -w[1] * lx[0];
        g[4] = -w[2] * lx[1];
    }
    m + s.ln()
}

/// Epoch's notebook grid, in θ: e ∈ {−1, −0.5, …, 1}, a, b ∈ {0, 5, …, 25},
/// α, β ∈ {0, 0.5, …, 2}: 5·6·6·5·5 = 4,500 starts.
pub(crate) fn grid_theta() -> Vec<Vec<f64>> {
    let steps =
        |lo: f64, step: f64, n: usize| (0..n).map(|i| lo + step * i as f64).collect::<Vec<_>>();
    vec![
        steps(-1.0, 0.5, 5),
        steps(0.0, 5.0, 6),
        steps(0.0, 5.0, 6),
        steps(0.0, 0.5, 5),
        steps(0.0, 0.5, 5),
    ]
}
