//! Fitting a runtime's figures to measurements, and leave-one-device-out
//! cross-validation of the fit.
//!
//! A fit sets few, interpretable figures: a bandwidth efficiency and a GEMM
//! compute efficiency (pooled, then per memory class where the data has the
//! class), a fixed cost per forward pass, and the tokens at which a GEMM
//! reaches half its efficiency. Each is switched by [`Physics`], so an
//! ablation shows what each one buys. The loss is the squared log ratio of
//! predicted to measured time, minimised one figure at a time by golden-
//! section search (the figures are nearly separable: decode rows pin the
//! bandwidth figures, prefill rows the compute ones).
use std::collections::{BTreeMap, BTreeSet};

use super::band::QUANTILES;
use super::calibration::Sample;
use super::{Band, BandPhase, Bands, Efficiency, Runtime};
use crate::hardware::{MemoryClass, MemoryTechnology};

/// A change of variable for the search (log or identity) and its inverse.
type Map = fn(f64) -> f64;
use crate::roofline;

/// Which figures a fit may set.
// The switches are independent ablation axes.
#[allow(clippy::struct_excessive_bools)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Physics {
    /// One bandwidth and one compute efficiency for the runtime.
    pub efficiency: bool,
    /// Those efficiencies per memory class (LPDDR, GDDR, HBM).
    pub by_memory_class: bool,
    /// The runtime's own attention kernels (unfused where it does not fuse,
    /// reading the cache per query head where it broadcasts K and V) at
    /// their own bandwidth efficiency, instead of fused everywhere.
    pub runtime_attention: bool,
    /// A fixed cost per forward pass.
    pub per_token: bool,
    /// GEMM efficiency that grows with the tokens in a pass.
    pub gemm_shape: bool,
    /// GEMMs at the FP16-accumulate rate where the runtime accumulates in
    /// FP16 (GeForce cards run FP32 accumulation at half that rate).
    pub fp16_accumulate: bool,
}

impl Physics {
    /// Today's roofline: nothing fitted.
    pub const IDEAL: Physics = Physics {
        efficiency: false,
        by_memory_class: false,
        runtime_attention: false,
        per_token: false,
        gemm_shape: false,
        fp16_accumulate: false,
    };
    pub const FULL: Physics = Physics {
        efficiency: true,
        by_memory_class: true,
        runtime_attention: true,
        per_token: true,
        gemm_shape: false,
        fp16_accumulate: true,
    };

    /// The ablation's steps, each adding one figure to the last, and the
    /// name of what it adds.
    pub fn steps() -> Vec<(&'static str, Physics)> {
        let mut p = Physics::IDEAL;
        let mut out = vec![("today (ideal runtime)", p)];
        p.efficiency = true;
        out.push(("+ one bandwidth and compute efficiency per runtime", p));
        p.by_memory_class = true;
        out.push(("+ efficiencies by memory class", p));
        p.fp16_accumulate = true;
        out.push((
            "+ FP16-accumulate GEMM rate (GeForce) where the runtime uses it",
            p,
        ));
        p.runtime_attention = true;
        out.push(("+ unfused attention where the runtime does not fuse", p));
        p.per_token = true;
        out.push(("+ fixed cost per token", p));
        out
    }

    /// The full model without one figure each, named by what is left out.
    pub fn drop_one() -> Vec<(&'static str, Physics)> {
        let f = Physics::FULL;
        vec![
            (
                "full − by memory class",
                Physics {
                    by_memory_class: false,
                    ..f
                },
            ),
            (
                "full − FP16-accumulate rate",
                Physics {
                    fp16_accumulate: false,
                    ..f
                },
            ),
            (
                "full − runtime attention",
                Physics {
                    runtime_attention: false,
                    ..f
                },
            ),
            (
                "full − fixed cost per token",
                Physics {
                    per_token: false,
                    ..f
                },
            ),
            (
                "full + GEMM shape (tried, not kept)",
                Physics {
                    gemm_shape: true,
                    ..f
                },
            ),
        ]
    }
}

/// A figure a fit adjusts.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Slot {
    Memory(Option<MemoryClass>),
    Compute(Option<MemoryClass>),
    /// Bandwidth of attention and element-wise operators.
    Vector,
    PerToken,
    GemmHalf,
}

impl Slot {
    /// Search interval, and whether it is searched in log space.
    fn range(self) -> (f64, f64, bool) {
        match self {
            Slot::Memory(_) | Slot::Compute(_) | Slot::Vector => (0.01, 1.0, true),
            Slot::PerToken => (0.0, 0.2, false),
            Slot::GemmHalf => (1.0, 16384.0, true),
        }
    }

    fn get(self, rt: &Runtime) -> f64 {
        let e = &rt.efficiency;
        let of = |c: &super::ByClass, class: Option<MemoryClass>| match class {
            Some(k) => c.class(k),
            None => c.default,
        };
        match self {
            Slot::Memory(c) => of(&e.memory, c).unwrap_or(0.75),
            Slot::Compute(c) => of(&e.compute, c).unwrap_or(0.7),
            Slot::Vector => e.vector.default.unwrap_or(0.75),
            Slot::PerToken => rt.per_token,
            Slot::GemmHalf => e.gemm_half_tokens.unwrap_or(1.0),
        }
    }

    fn set(self, rt: &mut Runtime, v: f64) {
        let e = &mut rt.efficiency;
        match self {
            Slot::Memory(Some(c)) => e.memory.set(c, Some(v)),
            Slot::Memory(None) => e.memory.default = Some(v),
            Slot::Compute(Some(c)) => e.compute.set(c, Some(v)),
            Slot::Compute(None) => e.compute.default = Some(v),
            Slot::Vector => e.vector.default = Some(v),
            Slot::PerToken => rt.per_token = v,
            Slot::GemmHalf => e.gemm_half_tokens = Some(v),
        }
    }

    /// Whether the figure can change this sample's prediction (class
    /// figures only touch their class).
    fn touches(self, s: &Sample) -> bool {
        let class = s.hw.memory_technology.map(MemoryTechnology::class);
        match self {
            Slot::Memory(Some(c)) | Slot::Compute(Some(c)) => class == Some(c),
            _ => true,
        }
    }
}

fn class_of(s: &Sample) -> Option<MemoryClass> {
    s.hw.memory_technology.map(MemoryTechnology::class)
}

/// The predicted time of what `s` measured, with `rt`'s figures.
pub fn predict(s: &Sample, rt: &Runtime, physics: Physics) -> Option<f64> {
    let mut wl = s.workload;
    if physics.runtime_attention
        && let Some(a) = rt.attention
    {
        wl.attention = a;
    }
    let hw = match &s.hw_acc16 {
        Some(fast) if physics.fp16_accumulate && rt.fp16_accumulate => fast,
        _ => &s.hw,
    };
    roofline::evaluate_on(&s.arch, hw, &wl, rt)
        .ok()
        .map(|sum| s.predicted(&sum))
        .filter(|t| t.is_finite() && *t > 0.0)
}

fn loss(rows: &[&Sample], rt: &Runtime, physics: Physics) -> f64 {
    rows.iter()
        .map(|s| match predict(s, rt, physics) {
            Some(p) => (p / s.measured).ln().abs(),
            None => 1e6,
        })
        .sum()
}

/// Golden-section search of one figure, the others held.
fn search(slot: Slot, rt: &mut Runtime, rows: &[&Sample], physics: Physics) {
    let rows: Vec<&Sample> = rows.iter().copied().filter(|s| slot.touches(s)).collect();
    if rows.is_empty() {
        return;
    }
    let (lo, hi, log) = slot.range();
    let (to, from): (Map, Map) = if log {
        (f64::ln, f64::exp)
    } else {
        (|x| x, |x| x)
    };
    let (mut a, mut b) = (to(lo), to(hi));
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let f = |x: f64, rt: &mut Runtime| {
        slot.set(rt, from(x));
        loss(&rows, rt, physics)
    };
    let mut c = b - g * (b - a);
    let mut d = a + g * (b - a);
    let (mut fc, mut fd) = (f(c, rt), f(d, rt));
    for _ in 0..32 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c, rt);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d, rt);
        }
    }
    let best = if fc < fd { c } else { d };
    // Keep the start when the search found nothing better (a flat loss).
    let start = to(slot.get(rt).clamp(lo.max(f64::MIN_POSITIVE), hi));
    let x = if f(best, rt) <= f(start, rt) {
        best
    } else {
        start
    };
    slot.set(rt, from(x));
}

fn descend(slots: &[Slot], rt: &mut Runtime, rows: &[&Sample], physics: Physics) {
    for _ in 0..3 {
        for s in slots {
            search(*s, rt, rows, physics);
        }
    }
}

/// `base` (its kernels and launch model) with figures fitted to `train`.
/// With [`Physics::IDEAL`] nothing is fitted: the ideal runtime.
pub fn fit(base: &Runtime, train: &[&Sample], physics: Physics) -> Runtime {
    if !physics.efficiency {
        return Runtime {
            attention: base.attention,
            kv_per_query_head: base.kv_per_query_head && physics.runtime_attention,
            fp16_accumulate: base.fp16_accumulate,
            ..Runtime::ideal()
        };
    }
    let mut rt = base.clone();
    rt.kv_per_query_head &= physics.runtime_attention;
    rt.efficiency = Efficiency::default();
    rt.per_token = 0.0;
    rt.bands = Bands::default();
    let decode: Vec<&Sample> = train
        .iter()
        .copied()
        .filter(|s| s.phase == BandPhase::Decode)
        .collect();
    let prefill: Vec<&Sample> = train
        .iter()
        .copied()
        .filter(|s| s.phase == BandPhase::Prefill)
        .collect();
    let mut dec_slots = vec![Slot::Memory(None)];
    let mut pre_slots = vec![Slot::Compute(None)];
    if physics.per_token {
        dec_slots.push(Slot::PerToken);
    }
    if physics.runtime_attention {
        dec_slots.push(Slot::Vector);
    }
    if physics.gemm_shape {
        pre_slots.push(Slot::GemmHalf);
    }
    for _ in 0..2 {
        descend(&dec_slots, &mut rt, &decode, physics);
        descend(&pre_slots, &mut rt, &prefill, physics);
    }
    if physics.by_memory_class {
        let classes = |rows: &[&Sample]| -> BTreeSet<MemoryClass> {
            rows.iter().filter_map(|s| class_of(s)).collect()
        };
        for c in classes(&decode) {
            rt.efficiency.memory.set(c, rt.efficiency.memory.default);
            dec_slots.push(Slot::Memory(Some(c)));
        }
        for c in classes(&prefill) {
            rt.efficiency.compute.set(c, rt.efficiency.compute.default);
            pre_slots.push(Slot::Compute(Some(c)));
        }
        // The pooled figures stay as fitted: they serve classes the data
        // does not have.
        dec_slots.retain(|s| *s != Slot::Memory(None));
        pre_slots.retain(|s| *s != Slot::Compute(None));
        for _ in 0..2 {
            descend(&dec_slots, &mut rt, &decode, physics);
            descend(&pre_slots, &mut rt, &prefill, physics);
        }
    }
    rt
}

/// One sample's cross-validated prediction.
#[derive(Clone, Debug)]
pub struct Held {
    pub sample: usize,
    pub predicted: f64,
    /// Measured / predicted.
    pub ratio: f64,
}

/// Leave-one-device-out: for each device of `runtime`'s samples, fit on
/// that runtime's other devices and predict the device's rows. A device
/// with no other device to learn from is predicted by the unfitted model.
pub fn lodo(samples: &[Sample], base: &Runtime, physics: Physics) -> Vec<Held> {
    let mine: Vec<usize> = (0..samples.len())
        .filter(|i| samples[*i].runtime == base.id)
        .collect();
    let devices: BTreeSet<&str> = mine.iter().map(|i| samples[*i].device.as_str()).collect();
    let mut out = Vec::new();
    for d in devices {
        let train: Vec<&Sample> = mine
            .iter()
            .map(|i| &samples[*i])
            .filter(|s| s.device != d)
            .collect();
        let p = if train.is_empty() {
            Physics::IDEAL
        } else {
            physics
        };
        let rt = fit(base, &train, p);
        for i in mine.iter().copied().filter(|i| samples[*i].device == d) {
            if let Some(pred) = predict(&samples[i], &rt, p) {
                out.push(Held {
                    sample: i,
                    predicted: pred,
                    ratio: samples[i].measured / pred,
                });
            }
        }
    }
    out
}

/// The `q`-quantile (0..=1) of `v`, linearly interpolated.
pub fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let x = q * (s.len() - 1) as f64;
    let (i, f) = (x.floor() as usize, x.fract());
    if i + 1 < s.len() {
        s[i] * (1.0 - f) + s[i + 1] * f
    } else {
        s[i]
    }
}

/// Median |predicted / measured − 1|, the error a user sees.
pub fn median_error(held: &[&Held]) -> f64 {
    let e: Vec<f64> = held.iter().map(|h| (1.0 / h.ratio - 1.0).abs()).collect();
    quantile(&e, 0.5)
}

/// Bands of a runtime from its cross-validated ratios: per memory class
/// with at least `min_rows` rows, and pooled.
pub fn bands(samples: &[Sample], held: &[Held], min_rows: usize) -> Bands {
    let mut groups: BTreeMap<(BandPhase, Option<MemoryClass>), Vec<&Held>> = BTreeMap::new();
    for h in held {
        let s = &samples[h.sample];
        groups.entry((s.phase, class_of(s))).or_default().push(h);
        groups.entry((s.phase, None)).or_default().push(h);
    }
    let mut out = Vec::new();
    for ((phase, memory), hs) in groups {
        if hs.len() < min_rows {
            continue;
        }
        let ratios: Vec<f64> = hs.iter().map(|h| h.ratio).collect();
        let devices: BTreeSet<&str> = hs
            .iter()
            .map(|h| samples[h.sample].device.as_str())
            .collect();
        out.push(Band {
            memory,
            phase,
            lo: round4(quantile(&ratios, 0.1)),
            hi: round4(quantile(&ratios, 0.9)),
            median_error: round4(median_error(&hs)),
            rows: u32::try_from(hs.len()).unwrap_or(u32::MAX),
            devices: u32::try_from(devices.len()).unwrap_or(u32::MAX),
            quantiles: Some(std::array::from_fn(|i| {
                round4(quantile(&ratios, i as f64 / (QUANTILES - 1) as f64))
            })),
        });
    }
    Bands(out)
}

/// Four significant decimals: what a profile file shows.
pub fn round4(x: f64) -> f64 {
    (x * 1e4).round() / 1e4
}

/// Cross-validated predictions of every sample, each runtime fitted from
/// its preset's kernels with `physics`.
pub fn cross_validate(samples: &[Sample], physics: Physics) -> Result<Vec<Held>, String> {
    let ids: BTreeSet<&str> = samples.iter().map(|s| s.runtime.as_str()).collect();
    let mut out = Vec::new();
    for id in ids {
        let base = super::preset(id).ok_or_else(|| format!("no runtime preset `{id}`"))?;
        out.extend(lodo(samples, &base.runtime, physics));
    }
    out.sort_by_key(|h| h.sample);
    Ok(out)
}

/// Median error per phase over `held`: (decode, prefill).
pub fn medians(samples: &[Sample], held: &[Held]) -> (f64, f64) {
    let of = |p: BandPhase| {
        let hs: Vec<&Held> = held
            .iter()
            .filter(|h| samples[h.sample].phase == p)
            .collect();
        median_error(&hs)
    };
    (of(BandPhase::Decode), of(BandPhase::Prefill))
}
