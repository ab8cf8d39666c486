//! The paper's closed-form co-design rules (§5, Theorems 5.1–5.3, §5.4,
//! Appendices E–L): optimal MoE activation ρ*, depth l*, FFN ratio r* and
//! GQA factor gqa* at a given width d, for each constraint regime, and the
//! regime test.
//!
//! Notation follows the paper: α_attn = 2 + 2/gqa, ξ_F = 2α_attn + 6r
//! (prefill FLOPs per layer per token / d²), ξ_W^dec = α_attn + 3r (decode
//! weight bytes per layer / (d² b_w)), ξ_W^all = α_attn + 3r/ρ (stored
//! weights), S̄ = S_in + (S_out + 1)/2, Γ = ξ_W^dec d² b_w + 2 S̄ d b_kv/gqa,
//! F̄_p = T_pre π_H/(B S_in), M̄_d = T_dec β_H/S_out.
//!
//! Where the paper's worked examples disagree with its own coefficients we
//! follow the formulas: Eq. 9 with Table 6 gives ρ* ≈ 0.40 at d = 1024 and
//! 0.17 at d = 2048, not the text's 0.25 (or 0.20) and 0.15.
//!
//! r* and gqa* depend on ξ, which depends on r and gqa, so each regime is
//! solved by damped fixed-point iteration (a contraction for the published
//! exponents: r* ∝ ξ^−0.54). gqa* is clamped to [1, n_h] and ρ* to
//! [ρ_min, 1], the physically meaningful ranges.
// The docs here are mathematics (ξ_W^dec, S_in); backticks would make them unreadable.
#![allow(clippy::doc_markdown)]

use rooflaw_dsl::spec::CmpOp;
use serde::{Deserialize, Serialize};

use crate::budget::{Budget, Limit, Metric};

/// The 11 coefficients of the paper's separable loss law (Eq. 2).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SunCoefficients {
    pub kappa_l: f64,
    pub alpha_l: f64,
    pub kappa_rho: f64,
    pub alpha_rho: f64,
    pub beta_1: f64,
    pub kappa_d: f64,
    pub beta_2: f64,
    pub alpha_r: f64,
    pub kappa_m: f64,
    pub alpha_m: f64,
    pub l_inf: f64,
}

impl SunCoefficients {
    /// Table 6 / Eq. 15 of arXiv 2602.10377.
    pub const PAPER: Self = Self {
        kappa_l: 9.96,
        alpha_l: 1.63,
        kappa_rho: 0.031,
        alpha_rho: 1.09,
        beta_1: -0.33,
        kappa_d: 500.0,
        beta_2: 0.97,
        alpha_r: 0.17,
        kappa_m: 0.20,
        alpha_m: 0.05,
        l_inf: 2.53,
    };

    /// In the order of `law::sun2026::COEFFICIENTS`.
    pub fn values(&self) -> [f64; 11] {
        [
            self.kappa_l,
            self.alpha_l,
            self.kappa_rho,
            self.alpha_rho,
            self.beta_1,
            self.kappa_d,
            self.beta_2,
            self.alpha_r,
            self.kappa_m,
            self.alpha_m,
            self.l_inf,
        ]
    }

    /// From 11 values in `law::sun2026::COEFFICIENTS` order; `None` for any
    /// other length.
    pub fn from_values(v: &[f64]) -> Option<Self> {
        let &[
            kappa_l,
            alpha_l,
            kappa_rho,
            alpha_rho,
            beta_1,
            kappa_d,
            beta_2,
            alpha_r,
            kappa_m,
            alpha_m,
            l_inf,
        ] = v
        else {
            return None;
        };
        Some(Self {
            kappa_l,
            alpha_l,
            kappa_rho,
            alpha_rho,
            beta_1,
            kappa_d,
            beta_2,
            alpha_r,
            kappa_m,
            alpha_m,
            l_inf,
        })
    }

    /// The coefficients of a `sun2026`-form law, published or fitted;
    /// `None` when the law has another form.
    pub fn from_law(law: &crate::law::Law) -> Option<Self> {
        let v: Option<Vec<f64>> = crate::law::sun2026::COEFFICIENTS
            .iter()
            .map(|n| law.coefficient(n))
            .collect();
        Self::from_values(&v?)
    }

    /// L̂ at depth l, width d, FFN ratio r, activation ρ and GQA factor gqa
    /// (KV dimension d_m = d/gqa), the same form as the `sun2026` law.
    pub fn loss(&self, l: f64, d: f64, r: f64, rho: f64, gqa: f64) -> f64 {
        self.kappa_l / l.powf(self.alpha_l)
            + self.d_tilde(rho, d) / (r.powf(self.alpha_r) * d.powf(self.beta_2))
            + self.kappa_m * (gqa / d).powf(self.alpha_m)
            + self.l_inf
    }

    /// D̃ = κ_ρ ρ^α_ρ d^(β_2−β_1) + κ_d: the width/FFN terms share r^−α_r d^−β_2.
    fn d_tilde(&self, rho: f64, d: f64) -> f64 {
        self.kappa_rho * rho.powf(self.alpha_rho) * d.powf(self.beta_2 - self.beta_1) + self.kappa_d
    }

    /// Theorem 5.2 (Eq. 9): the memory-constrained ρ*, before clamping.
    /// `None` when α_ρ ≤ α_r, where the theorem does not apply.
    pub fn rho_memory(&self, d: f64) -> Option<f64> {
        if self.alpha_rho <= self.alpha_r {
            return None;
        }
        let c = self.alpha_r * self.kappa_d / ((self.alpha_rho - self.alpha_r) * self.kappa_rho);
        Some(c.powf(1.0 / self.alpha_rho) * d.powf((self.beta_1 - self.beta_2) / self.alpha_rho))
    }
}

/// Everything the closed forms need, in SI units.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdviseInput {
    /// Peak compute π_H at the chosen precision, ops/s.
    pub peak: f64,
    /// Sustained bandwidth β_H, bytes/s.
    pub bandwidth: f64,
    /// Memory budget for weights M_budget, bytes.
    pub memory: f64,
    /// Batch B.
    pub batch: f64,
    /// Prompt tokens S_in.
    pub prompt: f64,
    /// Generated tokens S_out.
    pub generate: f64,
    /// Bytes per weight b_w.
    pub bytes_weight: f64,
    /// Bytes per KV-cache element b_kv.
    pub bytes_kv: f64,
    /// Prefill latency budget T_lat^pre, seconds.
    pub prefill_s: Option<f64>,
    /// Whole-decode latency budget T_lat^dec, seconds.
    pub decode_s: Option<f64>,
    /// Width d (the paper treats it as given, §5.5.2).
    pub width: f64,
    /// Smallest activation rate allowed (1/E_max): ρ_min.
    pub rho_min: f64,
    /// Query heads n_h, for rounding gqa to a divisor (default d/64).
    pub heads: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Regime {
    /// P1: prefill latency binds, memory slack (Theorem 5.1).
    PrefillLatency,
    /// D1: decode latency binds, memory slack (Theorem 5.1).
    DecodeLatency,
    /// P2/D2: memory binds, latency slack (Theorem 5.2).
    Memory,
    /// P3: prefill latency and memory both bind (Theorem 5.3a).
    PrefillDual,
    /// D3: decode latency and memory both bind (Theorem 5.3b).
    DecodeDual,
}

/// Discrete design nearest the continuous optimum.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rounded {
    /// ⌊l*⌋ (at least 1), so the binding constraint still holds.
    pub layers: u32,
    /// r* to the nearest 1/8 (at least 1/8).
    pub ffn_ratio: f64,
    pub heads: u32,
    /// n_h / gqa, with gqa the divisor of n_h nearest gqa* in log scale.
    pub kv_heads: u32,
    pub gqa: u32,
    /// (K, E) with E a power of two ≤ 256 and K ∈ {1, 2, 4, 8}, nearest ρ*
    /// in log scale, never below ρ_min; ties go to fewer experts.
    pub experts: u32,
    pub top_k: u32,
    pub loss: f64,
}

/// A regime's continuous optimum and its rounding.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Optimum {
    pub regime: Regime,
    pub rho: f64,
    pub layers: f64,
    pub ffn_ratio: f64,
    pub gqa: f64,
    /// L̂ at the continuous optimum.
    pub loss: f64,
    /// Stored weight bytes l ξ_W^all d² b_w.
    pub memory: f64,
    /// Whether the fixed-point iteration settled.
    pub converged: bool,
    pub rounded: Rounded,
}

pub use crate::phase::Phase;

/// One latency-constrained phase: the three candidate regimes and which one
/// the constraints select.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhaseAdvice {
    pub phase: Phase,
    /// The paper's regime indicator: η_p = F̄_p/M_budget (prefill) or
    /// η = M̄_d/M_budget (decode); ≪ 1 suggests memory-bound, ≫ 1 latency.
    pub eta: f64,
    pub latency: Optimum,
    pub memory: Optimum,
    /// `None` when Theorem 5.3 has no solution (η_p b_w ≥ 2, or ρ* ∉ (0, 1]).
    pub dual: Option<Optimum>,
    /// The regime whose optimum is feasible: latency if its optimum fits in
    /// memory, else memory if its optimum meets the latency budget, else
    /// dual. This decides directly what the η test estimates.
    pub applies: Regime,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Advice {
    /// F̄_p, FLOPs per token, when a prefill budget is given.
    pub f_bar_p: Option<f64>,
    /// M̄_d, bytes per decode step, when a decode budget is given.
    pub m_bar_d: Option<f64>,
    pub s_bar: f64,
    pub prefill: Option<PhaseAdvice>,
    pub decode: Option<PhaseAdvice>,
    /// The memory-only optimum (always defined).
    pub memory: Optimum,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AdviseError {
    #[error("`{0}` must be a positive finite number, got {1}")]
    NotPositive(&'static str, f64),
    #[error("ρ_min must be in (0, 1], got {0}")]
    RhoMin(f64),
    #[error("Theorem 5.2 needs α_ρ > α_r (got α_ρ = {0}, α_r = {1})")]
    Exponents(f64, f64),
}

struct Ctx<'a> {
    c: &'a SunCoefficients,
    i: &'a AdviseInput,
    d: f64,
    heads: f64,
    s_bar: f64,
    f_bar: f64,
    m_bar: f64,
}

fn alpha_attn(gqa: f64) -> f64 {
    2.0 + 2.0 / gqa
}

impl Ctx<'_> {
    fn xi_f(r: f64, gqa: f64) -> f64 {
        2.0 * alpha_attn(gqa) + 6.0 * r
    }
    fn xi_dec(r: f64, gqa: f64) -> f64 {
        alpha_attn(gqa) + 3.0 * r
    }
    fn xi_all(r: f64, gqa: f64, rho: f64) -> f64 {
        alpha_attn(gqa) + 3.0 * r / rho
    }
    fn gamma(&self, r: f64, gqa: f64) -> f64 {
        let (d, bw, bkv) = (self.d, self.i.bytes_weight, self.i.bytes_kv);
        Self::xi_dec(r, gqa) * d * d * bw + 2.0 * self.s_bar * d * bkv / gqa
    }
    fn memory(&self, l: f64, r: f64, gqa: f64, rho: f64) -> f64 {
        l * Self::xi_all(r, gqa, rho) * self.d * self.d * self.i.bytes_weight
    }

    /// ρ for a regime at the current (r, gqa); `None` if it has none.
    fn rho(&self, regime: Regime, r: f64, gqa: f64) -> Option<f64> {
        let bw = self.i.bytes_weight;
        let rho = match regime {
            Regime::PrefillLatency | Regime::DecodeLatency => self.i.rho_min,
            Regime::Memory => self.c.rho_memory(self.d)?,
            Regime::PrefillDual => {
                let eta_p = self.f_bar / self.i.memory;
                if eta_p * bw >= 2.0 {
                    return None;
                }
                3.0 * eta_p * bw * r / (alpha_attn(gqa) * (2.0 - eta_p * bw) + 6.0 * r)
            }
            Regime::DecodeDual => {
                // Theorem 5.3(b) as published. (Equating Table 20's two
                // constraints directly gives the linear ξ = (ξ_dec + δ)/η;
                // the two agree as δ → 0.)
                let eta = self.m_bar / self.i.memory;
                let a = Self::xi_dec(r, gqa);
                let delta = 2.0 * self.s_bar * self.i.bytes_kv / (gqa * self.d * bw);
                let xi_m = (a + (a * a + 4.0 * eta * delta).sqrt()) / (2.0 * eta);
                3.0 * r / (xi_m - alpha_attn(gqa))
            }
        };
        if !(rho.is_finite() && rho > 0.0 && rho <= 1.0 + 1e-12) && regime != Regime::Memory {
            return None;
        }
        Some(rho.clamp(self.i.rho_min, 1.0))
    }

    /// Depth that saturates the regime's binding constraint.
    fn layers(&self, regime: Regime, r: f64, gqa: f64, rho: f64) -> f64 {
        let d2 = self.d * self.d;
        match regime {
            Regime::PrefillLatency | Regime::PrefillDual => self.f_bar / (Self::xi_f(r, gqa) * d2),
            Regime::DecodeLatency | Regime::DecodeDual => self.m_bar / self.gamma(r, gqa),
            Regime::Memory => {
                self.i.memory / (Self::xi_all(r, gqa, rho) * d2 * self.i.bytes_weight)
            }
        }
    }

    /// One fixed-point step: (r*, gqa*) given the current ξ (Eqs. 12–13,
    /// 68, 70, and the memory row of Table 4). The dual regimes keep the
    /// latency phase's stationarity conditions (the paper gives only ρ*).
    fn step(&self, regime: Regime, r: f64, gqa: f64, rho: f64) -> (f64, f64) {
        let c = self.c;
        let (d, bw, bkv) = (self.d, self.i.bytes_weight, self.i.bytes_kv);
        let dt = c.d_tilde(rho, d);
        let al = c.alpha_l;
        let (r_new, g_new) = match regime {
            Regime::PrefillLatency | Regime::PrefillDual => {
                let xi = Self::xi_f(r, gqa);
                let f = self.f_bar;
                let r_new = (c.alpha_r * dt / (6.0 * al * c.kappa_l) * f.powf(al)
                    / (xi.powf(al - 1.0) * d.powf(2.0 * al + c.beta_2)))
                .powf(1.0 / (c.alpha_r + 1.0));
                let g_new = (4.0 * al * c.kappa_l / (c.alpha_m * c.kappa_m)
                    * xi.powf(al - 1.0)
                    * d.powf(2.0 * al + c.alpha_m)
                    / f.powf(al))
                .powf(1.0 / (c.alpha_m + 1.0));
                (r_new, g_new)
            }
            Regime::DecodeLatency | Regime::DecodeDual => {
                let g = self.gamma(r, gqa);
                let m = self.m_bar;
                let r_new = (c.alpha_r * dt / (3.0 * al * c.kappa_l) * m.powf(al)
                    / (g.powf(al - 1.0) * d.powf(2.0 + c.beta_2) * bw))
                    .powf(1.0 / (c.alpha_r + 1.0));
                let g_new = (2.0 * al * c.kappa_l / (c.alpha_m * c.kappa_m)
                    * g.powf(al - 1.0)
                    * d.powf(c.alpha_m)
                    / m.powf(al)
                    * (d * d * bw + self.s_bar * d * bkv))
                    .powf(1.0 / (c.alpha_m + 1.0));
                (r_new, g_new)
            }
            Regime::Memory => {
                let xi = Self::xi_all(r, gqa, rho);
                let m = self.i.memory;
                let r_new = (c.alpha_r * dt * rho / (3.0 * al * c.kappa_l) * m.powf(al)
                    / (xi.powf(al - 1.0) * d.powf(2.0 * al + c.beta_2) * bw.powf(al)))
                .powf(1.0 / (c.alpha_r + 1.0));
                let g_new = (2.0 * al * c.kappa_l / (c.alpha_m * c.kappa_m)
                    * xi.powf(al - 1.0)
                    * d.powf(2.0 * al + c.alpha_m)
                    * bw.powf(al)
                    / m.powf(al))
                .powf(1.0 / (c.alpha_m + 1.0));
                (r_new, g_new)
            }
        };
        (r_new, g_new.clamp(1.0, self.heads))
    }

    fn solve(&self, regime: Regime) -> Option<Optimum> {
        let (mut r, mut gqa) = (1.0_f64, 1.0_f64);
        let mut converged = false;
        for _ in 0..500 {
            let rho = self.rho(regime, r, gqa)?;
            let (rn, gn) = self.step(regime, r, gqa, rho);
            if !(rn.is_finite() && rn > 0.0 && gn.is_finite()) {
                return None;
            }
            // Damped in log space: geometric mean of old and new.
            let (r2, g2) = ((r * rn).sqrt(), (gqa * gn).sqrt());
            let done = ((r2 - r) / r).abs() < 1e-12 && ((g2 - gqa) / gqa).abs() < 1e-12;
            (r, gqa) = (r2, g2);
            if done {
                converged = true;
                break;
            }
        }
        let rho = self.rho(regime, r, gqa)?;
        let layers = self.layers(regime, r, gqa, rho);
        Some(Optimum {
            regime,
            rho,
            layers,
            ffn_ratio: r,
            gqa,
            loss: self.c.loss(layers, self.d, r, rho, gqa),
            memory: self.memory(layers, r, gqa, rho),
            converged,
            rounded: self.round(layers, r, gqa, rho),
        })
    }

    fn round(&self, l: f64, r: f64, gqa: f64, rho: f64) -> Rounded {
        let layers = (l.floor().max(1.0)).min(f64::from(u32::MAX)) as u32;
        let ffn_ratio = ((r * 8.0).round() / 8.0).max(0.125);
        let heads = self.heads as u32;
        let g = (1..=heads)
            .filter(|k| heads.is_multiple_of(*k))
            .min_by(|a, b| {
                let da = (f64::from(*a).ln() - gqa.ln()).abs();
                let db = (f64::from(*b).ln() - gqa.ln()).abs();
                da.total_cmp(&db)
            })
            .unwrap_or(1);
        let mut best = (1_u32, 1_u32, f64::INFINITY);
        for e in (0..=8).map(|p| 1_u32 << p) {
            for k in [1_u32, 2, 4, 8].into_iter().filter(|k| *k <= e) {
                let q = f64::from(k) / f64::from(e);
                if q < self.i.rho_min * (1.0 - 1e-9) {
                    continue;
                }
                let dist = (q.ln() - rho.ln()).abs();
                if dist < best.2 - 1e-12 {
                    best = (k, e, dist);
                }
            }
        }
        let (top_k, experts) = (best.0, best.1);
        let rho_r = f64::from(top_k) / f64::from(experts);
        Rounded {
            layers,
            ffn_ratio,
            heads,
            kv_heads: heads / g,
            gqa: g,
            experts,
            top_k,
            loss: self
                .c
                .loss(f64::from(layers), self.d, ffn_ratio, rho_r, f64::from(g)),
        }
    }

    fn phase(&self, phase: Phase) -> Option<PhaseAdvice> {
        let (lat_regime, dual_regime, eta) = match phase {
            Phase::Prefill => (
                Regime::PrefillLatency,
                Regime::PrefillDual,
                self.f_bar / self.i.memory,
            ),
            Phase::Decode => (
                Regime::DecodeLatency,
                Regime::DecodeDual,
                self.m_bar / self.i.memory,
            ),
        };
        let latency = self.solve(lat_regime)?;
        let memory = self.solve(Regime::Memory)?;
        let dual = self.solve(dual_regime);
        let d2 = self.d * self.d;
        let memory_meets_latency = match phase {
            Phase::Prefill => {
                memory.layers * Self::xi_f(memory.ffn_ratio, memory.gqa) * d2
                    <= self.f_bar * (1.0 + 1e-9)
            }
            Phase::Decode => {
                memory.layers * self.gamma(memory.ffn_ratio, memory.gqa)
                    <= self.m_bar * (1.0 + 1e-9)
            }
        };
        let applies = if latency.memory <= self.i.memory * (1.0 + 1e-9) {
            lat_regime
        } else if memory_meets_latency {
            Regime::Memory
        } else {
            dual_regime
        };
        Some(PhaseAdvice {
            phase,
            eta,
            latency,
            memory,
            dual,
            applies,
        })
    }
}

/// Closed-form advice for every regime the budgets define. Prefill advice
/// needs `prefill_s`, decode advice `decode_s`; the memory-only optimum is
/// always given.
pub fn advise(input: &AdviseInput, coeffs: &SunCoefficients) -> Result<Advice, AdviseError> {
    let positive = [
        ("peak", input.peak),
        ("bandwidth", input.bandwidth),
        ("memory", input.memory),
        ("batch", input.batch),
        ("prompt", input.prompt),
        ("generate", input.generate),
        ("bytes_weight", input.bytes_weight),
        ("bytes_kv", input.bytes_kv),
        ("width", input.width),
    ];
    for (name, v) in positive.into_iter().chain(
        [("prefill_s", input.prefill_s), ("decode_s", input.decode_s)]
            .into_iter()
            .filter_map(|(n, v)| v.map(|v| (n, v))),
    ) {
        if !(v.is_finite() && v > 0.0) {
            return Err(AdviseError::NotPositive(name, v));
        }
    }
    if !(input.rho_min > 0.0 && input.rho_min <= 1.0) {
        return Err(AdviseError::RhoMin(input.rho_min));
    }
    if coeffs.alpha_rho <= coeffs.alpha_r {
        return Err(AdviseError::Exponents(coeffs.alpha_rho, coeffs.alpha_r));
    }
    let heads = f64::from(
        input
            .heads
            .unwrap_or(((input.width / 64.0).round() as u32).max(1)),
    );
    let f_bar_p = input
        .prefill_s
        .map(|t| t * input.peak / (input.batch * input.prompt));
    let m_bar_d = input.decode_s.map(|t| t * input.bandwidth / input.generate);
    let mut ctx = Ctx {
        c: coeffs,
        i: input,
        d: input.width,
        heads,
        s_bar: input.prompt + f64::midpoint(input.generate, 1.0),
        f_bar: f_bar_p.unwrap_or(f64::NAN),
        m_bar: m_bar_d.unwrap_or(f64::NAN),
    };
    let prefill = if f_bar_p.is_some() {
        ctx.phase(Phase::Prefill)
    } else {
        None
    };
    let decode = if m_bar_d.is_some() {
        ctx.phase(Phase::Decode)
    } else {
        None
    };
    ctx.f_bar = f64::NAN;
    let memory = ctx
        .solve(Regime::Memory)
        .ok_or(AdviseError::Exponents(coeffs.alpha_rho, coeffs.alpha_r))?;
    Ok(Advice {
        f_bar_p,
        m_bar_d,
        s_bar: ctx.s_bar,
        prefill,
        decode,
        memory,
    })
}

/// The phase budgets a [`Budget`] implies for the closed forms.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Targets {
    /// Tightest upper bound on `latency.prefill` or `latency.ttft`.
    pub prefill_s: Option<f64>,
    /// Tightest upper bound on `latency.decode`, or `latency.per_token`
    /// times the generated tokens.
    pub decode_s: Option<f64>,
    /// Upper bound on `memory`.
    pub memory: Option<f64>,
    /// Limits the closed forms cannot use: `latency.total` (the theorems
    /// treat prefill and decode separately, and splitting a total between
    /// them is a choice the paper does not make), parameter counts,
    /// throughput and lower bounds. Report these next to the advice.
    pub unused: Vec<Limit>,
}

/// Read the closed forms' targets off a budget. A confident budget bound to
/// a runtime ([`Budget::under`]) asks the prediction for less by the slow
/// end of each phase's band, so the real time meets the limit.
pub fn targets(budget: &Budget, generate: f64) -> Targets {
    let mut t = Targets::default();
    let tighten = |slot: &mut Option<f64>, v: f64| *slot = Some(slot.map_or(v, |s| s.min(v)));
    let (p, d) = budget
        .spread
        .map_or((1.0, 1.0), |s| (s.prefill.slow, s.decode.slow));
    for l in &budget.limits {
        if !matches!(l.op, CmpOp::Lt | CmpOp::Le) {
            t.unused.push(*l);
            continue;
        }
        match l.metric {
            Metric::Prefill | Metric::Ttft => tighten(&mut t.prefill_s, l.bound / p),
            Metric::Decode => tighten(&mut t.decode_s, l.bound / d),
            Metric::PerToken => tighten(&mut t.decode_s, l.bound * generate / d),
            Metric::Memory => tighten(&mut t.memory, l.bound),
            Metric::Total | Metric::Params | Metric::ParamsActive | Metric::Throughput => {
                t.unused.push(*l);
            }
        }
    }
    t
}
