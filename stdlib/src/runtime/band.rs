//! Error bands: the spread of measured / predicted time that leave-one-
//! device-out cross-validation found for a runtime on a memory class, so a
//! prediction says how far off it is likely to be.
use serde::{Deserialize, Serialize};

use crate::hardware::{Hardware, MemoryClass, MemoryTechnology};

/// The share of measurements a band holds: from the 10th to the 90th
/// percentile of the cross-validated ratio.
pub const COVERAGE: f64 = 0.8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BandPhase {
    Prefill,
    Decode,
}

impl BandPhase {
    pub fn name(self) -> &'static str {
        match self {
            BandPhase::Prefill => "prefill",
            BandPhase::Decode => "decode",
        }
    }
}

/// How many quantiles of the cross-validated ratio a band keeps: every
/// 5th percentile, 0% (the smallest ratio) to 100% (the largest).
pub const QUANTILES: usize = 21;

/// Measured / predicted time of one phase on one memory class (`None`:
/// any), 10th and 90th percentile, over `rows` measurements on `devices`
/// devices, each predicted by a fit that had not seen its device.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryClass>,
    pub phase: BandPhase,
    pub lo: f64,
    pub hi: f64,
    /// Median |measured / predicted − 1|.
    pub median_error: f64,
    pub rows: u32,
    pub devices: u32,
    /// The ratio at 0%, 5%, …, 100% of the same cross-validated rows (linear
    /// between order statistics, as `lo` and `hi`), for a budget that asks
    /// for another confidence than the band's. `None` in a hand-written
    /// band: [`Band::quantile`] then assumes a log-normal through `lo`/`hi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantiles: Option<[f64; QUANTILES]>,
}

impl Band {
    pub fn width(&self) -> f64 {
        self.hi / self.lo
    }

    /// The measured / predicted ratio that a share `p` (in [0, 1]) of the
    /// cross-validated measurements stayed below: linear between the stored
    /// 5% steps, so it is the empirical quantile at every step and never
    /// beyond the largest ratio seen; without stored quantiles, the
    /// log-normal whose 10th and 90th percentiles are `lo` and `hi`.
    pub fn quantile(&self, p: f64) -> f64 {
        let p = p.clamp(0.0, 1.0);
        if let Some(q) = &self.quantiles {
            let x = p * (QUANTILES - 1) as f64;
            // x is in [0, QUANTILES - 1]: the cast cannot truncate.
            let i = (x.floor() as usize).min(QUANTILES - 2);
            let f = x - i as f64;
            return q[i] * (1.0 - f) + q[i + 1] * f;
        }
        let (a, b) = (self.lo.ln(), self.hi.ln());
        let sigma = (b - a) / (2.0 * Z90);
        (f64::midpoint(a, b) + sigma * probit(p)).exp()
    }
}

/// The standard normal's 90th percentile.
const Z90: f64 = 1.281_551_565_544_600_5;

/// The standard normal quantile (Acklam's rational approximation, relative
/// error below 1.2e-9); ±infinity at 0 and 1.
fn probit(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p <= 0.0 {
        f64::NEG_INFINITY
    } else if p >= 1.0 {
        f64::INFINITY
    } else if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Bands(pub Vec<Band>);

/// The band a prediction carries, and whether it was measured for this
/// runtime and memory class.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Coverage {
    /// Cross-validated on this runtime and memory class (or on the
    /// runtime's pooled devices where the band has no class).
    Calibrated(Band),
    /// No calibration data for this runtime and hardware: the widest band
    /// any shipped profile has for the phase.
    Uncalibrated(Band),
}

impl Coverage {
    pub fn band(&self) -> &Band {
        match self {
            Coverage::Calibrated(b) | Coverage::Uncalibrated(b) => b,
        }
    }

    pub fn is_calibrated(&self) -> bool {
        matches!(self, Coverage::Calibrated(_))
    }

    /// `(lo, hi)` around a predicted time.
    pub fn around(&self, t: f64) -> (f64, f64) {
        let b = self.band();
        (t * b.lo, t * b.hi)
    }
}

/// When no profile has a band at all: ±50%, the widest error the
/// uncalibrated model showed by family (`bench/public-latency`).
const FALLBACK: Band = Band {
    memory: None,
    phase: BandPhase::Decode,
    lo: 0.5,
    hi: 2.0,
    median_error: 0.5,
    rows: 0,
    devices: 0,
    quantiles: None,
};

impl Bands {
    /// This runtime's band for `phase` on `hw`: its class's, else its
    /// pooled one, else [`Coverage::Uncalibrated`] with `widest`.
    pub fn lookup(&self, hw: &Hardware, phase: BandPhase, widest: Option<Band>) -> Coverage {
        self.for_class(
            hw.memory_technology.map(MemoryTechnology::class),
            phase,
            widest,
        )
    }

    /// As [`Bands::lookup`] for hardware of memory class `class` (`None`:
    /// not stated, so the runtime's band over all its devices).
    pub fn for_class(
        &self,
        class: Option<MemoryClass>,
        phase: BandPhase,
        widest: Option<Band>,
    ) -> Coverage {
        let of_phase = || self.0.iter().filter(|b| b.phase == phase);
        let exact = class.and_then(|c| of_phase().find(|b| b.memory == Some(c)));
        match exact.or_else(|| of_phase().find(|b| b.memory.is_none())) {
            Some(b) => Coverage::Calibrated(*b),
            None => Coverage::Uncalibrated(widest.unwrap_or(Band { phase, ..FALLBACK })),
        }
    }
}

/// The widest band of `phase` among `bands`.
pub fn widest<'a>(bands: impl Iterator<Item = &'a Band>, phase: BandPhase) -> Option<Band> {
    bands
        .filter(|b| b.phase == phase)
        .max_by(|a, b| a.width().total_cmp(&b.width()))
        .copied()
}

/// A prediction's bands: prefill, the decode phase and its mean step, and
/// the total (each phase's band applied to its share).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ranges {
    pub prefill: Coverage,
    pub decode: Coverage,
    pub prefill_s: (f64, f64),
    pub decode_s: (f64, f64),
    pub decode_per_token_s: (f64, f64),
    pub total_s: (f64, f64),
}

impl Ranges {
    pub fn new(rt: &super::Runtime, hw: &Hardware, s: &crate::roofline::Summary) -> Ranges {
        Ranges::of(
            rt.coverage(hw, BandPhase::Prefill),
            rt.coverage(hw, BandPhase::Decode),
            s.prefill,
            s.decode,
            s.decode_per_token,
        )
    }

    /// The bands of predicted phase times (seconds).
    pub fn of(
        prefill: Coverage,
        decode: Coverage,
        prefill_s: f64,
        decode_s: f64,
        decode_per_token_s: f64,
    ) -> Ranges {
        let (p, d) = (prefill.around(prefill_s), decode.around(decode_s));
        Ranges {
            prefill,
            decode,
            prefill_s: p,
            decode_s: d,
            decode_per_token_s: decode.around(decode_per_token_s),
            total_s: (p.0 + d.0, p.1 + d.1),
        }
    }

    pub fn calibrated(&self) -> bool {
        self.prefill.is_calibrated() && self.decode.is_calibrated()
    }
}
