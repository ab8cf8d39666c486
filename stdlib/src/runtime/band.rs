//! Error bands: the spread of measured / predicted time that leave-one-
//! device-out cross-validation found for a runtime on a memory class, so a
//! prediction says how far off it is likely to be.
use serde::{Deserialize, Serialize};

use crate::hardware::{Hardware, MemoryClass};

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
}

impl Band {
    pub fn width(&self) -> f64 {
        self.hi / self.lo
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
};

impl Bands {
    /// This runtime's band for `phase` on `hw`: its class's, else its
    /// pooled one, else [`Coverage::Uncalibrated`] with `widest`.
    pub fn lookup(&self, hw: &Hardware, phase: BandPhase, widest: Option<Band>) -> Coverage {
        let class = hw.memory_technology.map(|t| t.class());
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

/// A prediction's bands: prefill, the mean decode step, and the total
/// (each phase's band applied to its share).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Ranges {
    pub prefill: Coverage,
    pub decode: Coverage,
    pub prefill_s: (f64, f64),
    pub decode_per_token_s: (f64, f64),
    pub total_s: (f64, f64),
}

impl Ranges {
    pub fn new(rt: &super::Runtime, hw: &Hardware, s: &crate::roofline::Summary) -> Ranges {
        let prefill = rt.coverage(hw, BandPhase::Prefill);
        let decode = rt.coverage(hw, BandPhase::Decode);
        let (p, d) = (prefill.around(s.prefill), decode.around(s.decode));
        Ranges {
            prefill,
            decode,
            prefill_s: p,
            decode_per_token_s: decode.around(s.decode_per_token),
            total_s: (p.0 + d.0, p.1 + d.1),
        }
    }

    pub fn calibrated(&self) -> bool {
        self.prefill.is_calibrated() && self.decode.is_calibrated()
    }
}
