//! A runtime profile calibrated from one's own measurements: the fit of
//! [`super::fit`] on them, the figures their device's memory class does not
//! reach kept from the base profile.
use std::collections::BTreeSet;

use super::calibration::{self, Sample};
use super::fit::{self, Held, Physics};
use super::measured::Measurement;
use super::{BandPhase, RuntimePreset};
use crate::arch::Architecture;
use crate::hardware::{Hardware, Source};
use crate::workload::Workload;

/// The calibrated profile and how well base and fit predict the rows.
#[derive(Clone, Debug)]
pub struct Calibrated {
    pub preset: RuntimePreset,
    pub rows: usize,
    /// Median |error| (decode, prefill) of the base profile and of the fit,
    /// on the rows (NaN where a phase has none).
    pub before: (f64, f64),
    pub after: (f64, f64),
}

/// The samples `rows` describe on `hw`; `model` names each row's
/// architecture.
pub fn samples(
    base: &RuntimePreset,
    hw: &Hardware,
    rows: &[Measurement],
    model: impl Fn(&Measurement) -> Result<Architecture, String>,
) -> Result<Vec<Sample>, String> {
    rows.iter()
        .enumerate()
        .map(|(i, m)| {
            let at = |e: String| format!("measurement {}: {e}", i + 1);
            let arch = model(m).map_err(at)?;
            let name = m
                .format
                .clone()
                .or_else(|| base.runtime.default_format.clone())
                .ok_or_else(|| at("no format given and the runtime has no default".into()))?;
            let p = calibration::format(&name, "")
                .ok_or_else(|| at(format!("unknown format `{name}`")))?;
            let wl = match m.phase {
                // Tokens already cached are attended to like a longer prompt.
                BandPhase::Prefill => Workload::new(1, m.prompt + m.context, 1, p),
                BandPhase::Decode => Workload::new(1, m.context.max(1), m.generate.max(1) + 1, p),
            };
            Ok(Sample {
                id: format!("measurement {}", i + 1),
                group: "calibrate".into(),
                runtime: base.runtime.id.clone(),
                device: m.device.clone().unwrap_or_else(|| hw.id.clone()),
                phase: m.phase,
                arch,
                hw: hw.clone(),
                hw_acc16: None,
                workload: wl,
                measured: m.seconds,
            })
        })
        .collect()
}

fn held(samples: &[Sample], rt: &super::Runtime, physics: Physics) -> Vec<Held> {
    samples
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            fit::predict(s, rt, physics).map(|p| Held {
                sample: i,
                predicted: p,
                ratio: s.measured / p,
            })
        })
        .collect()
}

/// Fit `base`'s figures to `samples`; `source` says where they came from.
pub fn calibrate(base: &RuntimePreset, samples: &[Sample], source: &str) -> Calibrated {
    let refs: Vec<&Sample> = samples.iter().collect();
    let mut fitted = fit::fit(&base.runtime, &refs, Physics::FULL);
    // What these devices did not measure stays as the base profile has it.
    let b = &base.runtime.efficiency;
    let f = &mut fitted.efficiency;
    for (mine, theirs) in [(&mut f.memory, &b.memory), (&mut f.compute, &b.compute)] {
        for c in super::ByClass::CLASSES {
            if mine.class(c).is_none() {
                mine.set(c, theirs.class(c));
            }
        }
    }
    let before = fit::medians(samples, &held(samples, &base.runtime, Physics::FULL));
    let after_held = held(samples, &fitted, Physics::FULL);
    let after = fit::medians(samples, &after_held);
    fitted.bands = fit::bands(samples, &after_held, 1);
    let devices: BTreeSet<&str> = samples.iter().map(|s| s.device.as_str()).collect();
    let mut preset = base.clone();
    preset
        .sources
        .retain(|k, _| !k.starts_with("efficiency.") && k != "per_token");
    let note = format!(
        "median error on these rows: decode {} → {}, prefill {} → {}; bands are in-sample (one device cannot be left out)",
        pct(before.0),
        pct(after.0),
        pct(before.1),
        pct(after.1)
    );
    let src = Source {
        source: format!(
            "rooflaw calibrate {source}: {} measurements on {}",
            samples.len(),
            devices.into_iter().collect::<Vec<_>>().join(", ")
        ),
        derived: true,
        note: Some(note),
    };
    preset.runtime = fitted;
    for path in preset.missing_sources() {
        preset.sources.insert(path, src.clone());
    }
    Calibrated {
        preset,
        rows: samples.len(),
        before,
        after,
    }
}

fn pct(x: f64) -> String {
    if x.is_nan() {
        "n/a".into()
    } else {
        format!("{:.1}%", x * 100.0)
    }
}
