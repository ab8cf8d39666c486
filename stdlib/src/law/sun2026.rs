//! The paper's separable law (arXiv 2602.10377, Eq. 2/14, Table 6):
//!
//! L̂ = `κ_l/l^α_l` + `κ_ρ·ρ^α_ρ/(r^α_r·d^β_1)` + `κ_d/(r^α_r·d^β_2)` + `κ_m/d_m^α_m` + L_∞
//!
//! with l = layers, d = width, r = activated FFN ratio, ρ = K/E and
//! `d_m` = `head_dim` · `kv_heads`. Tokens are fixed (10B) in the paper, so the law
//! has no data term.
use super::range::{Bound, ValidRange};
use super::vars::Var;

pub const COEFFICIENTS: [&str; 11] = [
    "kappa_l",
    "alpha_l",
    "kappa_rho",
    "alpha_rho",
    "beta_1",
    "kappa_d",
    "beta_2",
    "alpha_r",
    "kappa_m",
    "alpha_m",
    "l_inf",
];

/// Table 6 / Eq. 15, as printed (two or three significant digits).
pub const PUBLISHED: [f64; 11] = [
    9.96, 1.63, 0.031, 1.09, -0.33, 500.0, 0.97, 0.17, 0.20, 0.05, 2.53,
];

/// The variables, in the order [`value`] and [`terms`] take them.
pub const VARS: [Var; 5] = [Var::Layers, Var::Width, Var::FfnRatio, Var::Rho, Var::KvDim];

pub const TERMS: [&str; 5] = ["depth", "sparsity", "capacity", "kv", "irreducible"];

/// The five terms, in [`TERMS`] order. `x` = [l, d, r, ρ, `d_m`].
#[inline]
pub fn terms(c: &[f64], x: [f64; 5]) -> [f64; 5] {
    let [l, d, r, rho, dm] = x;
    let r_a = r.powf(c[7]);
    [
        c[0] / l.powf(c[1]),
        c[2] * rho.powf(c[3]) / (r_a * d.powf(c[4])),
        c[5] / (r_a * d.powf(c[6])),
        c[8] / dm.powf(c[9]),
        c[10],
    ]
}

#[inline]
pub fn value(c: &[f64], x: [f64; 5]) -> f64 {
    terms(c, x).iter().sum()
}

/// Table 5's search space. Depth, width and (E, K) are the paper's; the
/// paper lists no FFN ratios and no head dimension, so the r and `d_m` bounds
/// are ours and say so.
pub fn valid_range() -> ValidRange {
    let b = |var, lo, hi, note: &str| Bound {
        var,
        lo,
        hi,
        note: note.to_owned(),
    };
    ValidRange {
        bounds: vec![
            b(Var::Layers, 4.0, 32.0, "Table 5: depth 4-32"),
            b(Var::Width, 768.0, 3072.0, "Table 5: width 768-3072"),
            b(Var::Experts, 1.0, 16.0, "Table 5: E in {1, 8, 16}"),
            b(Var::TopK, 1.0, 2.0, "Table 5: K in {1, 2}"),
            b(
                Var::Rho,
                1.0 / 16.0,
                1.0,
                "Table 5: rho = K/E from 1/16 to 1",
            ),
            b(
                Var::FfnRatio,
                0.25,
                8.0,
                "derived: the paper varies r but lists no values; rooflaw allows 0.25-8 \
                 (optima below 1, convention 4, Qwen2.5-0.5B 5.43)",
            ),
            b(
                Var::KvDim,
                64.0,
                3072.0,
                "derived: d_m = d_h * n_kv with n_kv from 1 to n_h; d_h is not stated, \
                 rooflaw assumes d_h >= 64 and d_m <= width",
            ),
        ],
    }
}

/// Fitting parametrisation: positive scales in log space, exponents as is.
/// θ = [ln `κ_l`, `α_l`, ln `κ_ρ`, `α_ρ`, `β_1`, ln `κ_d`, `β_2`, `α_r`, ln `κ_m`, `α_m`, ln L_∞].
pub(crate) const LOG_SCALED: [bool; 11] = [
    true, false, true, false, false, true, false, false, true, false, true,
];

/// ln L̂ and its gradient with respect to θ, as a log-sum-exp of the five
/// log-terms. `lx` = [ln l, ln d, ln r, ln ρ, ln `d_m`].
#[inline]
pub(crate) fn ln_pred(theta: &[f64], lx: &[f64; 5], grad: Option<&mut [f64]>) -> f64 {
    let [ll, ld, lr, lrho, ldm] = *lx;
    let t = [
        theta[0] - theta[1] * ll,
        theta[2] + theta[3] * lrho - theta[7] * lr - theta[4] * ld,
        theta[5] - theta[7] * lr - theta[6] * ld,
        theta[8] - theta[9] * ldm,
        theta[10],
    ];
    let m = t.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let e = t.map(|ti| (ti - m).exp());
    let s: f64 = e.iter().sum();
    if let Some(g) = grad {
        let w = e.map(|ei| ei / s);
        g[0] = w[0];
        g[1] = -w[0] * ll;
        g[2] = w[1];
        g[3] = w[1] * lrho;
        g[4] = -w[1] * ld;
        g[5] = w[2];
        g[6] = -w[2] * ld;
        g[7] = -(w[1] + w[2]) * lr;
        g[8] = w[3];
        g[9] = -w[3] * ldm;
        g[10] = w[4];
    }
    m + s.ln()
}

/// Start values per coefficient (natural units), spanning the plausible
/// region around Table 6.
pub(crate) fn grid() -> Vec<Vec<f64>> {
    vec![
        vec![1.0, 10.0, 100.0],
        vec![0.5, 1.0, 2.0],
        vec![0.01, 0.1, 1.0],
        vec![0.5, 1.0, 2.0],
        vec![-0.5, 0.0, 0.5],
        vec![10.0, 100.0, 1000.0],
        vec![0.5, 1.0],
        vec![0.0, 0.5],
        vec![0.1, 1.0],
        vec![0.05, 0.5],
        vec![1.0, 2.0, 3.0],
    ]
}
