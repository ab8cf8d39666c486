//! `rooflaw presets runtimes`: each runtime profile, whether its figures
//! were fitted to measurements or guessed, the error band its predictions
//! carry and how many measurements that band rests on.
use std::fmt::Write as _;

use rooflaw_stdlib::hardware::MemoryClass;
use rooflaw_stdlib::runtime::{self, Band, BandPhase, Coverage, RuntimePreset};
use serde::Serialize;

/// Where a profile's figures come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum Status {
    /// Fitted to measurements; its bands are cross-validated.
    Fitted,
    /// Figures from documentation and guesses, no measurements: its
    /// predictions carry the widest band of any profile.
    Guessed,
    /// The roofline without a runtime; its bands are today's model's error
    /// on the calibration set.
    Ideal,
}

impl Status {
    fn of(p: &RuntimePreset) -> Status {
        if p.runtime.is_ideal() {
            Status::Ideal
        } else if p.runtime.bands.0.is_empty() {
            Status::Guessed
        } else {
            Status::Fitted
        }
    }

    fn name(self) -> &'static str {
        match self {
            Status::Fitted => "fitted",
            Status::Guessed => "guessed",
            Status::Ideal => "ideal",
        }
    }
}

/// A profile as `--format json` lists it.
#[derive(Serialize)]
pub(super) struct Row<'a> {
    id: &'a str,
    name: &'a str,
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<&'a str>,
    /// Measurements behind the bands (each phase of each counts once).
    measurements: u32,
    devices: u32,
    /// The band a prediction on hardware of no stated memory class gets,
    /// per phase; for a guessed profile, the widest band of any profile.
    decode: Band,
    prefill: Band,
    /// False where the phase has no calibration data: the band is then the
    /// widest of any profile.
    decode_calibrated: bool,
    prefill_calibrated: bool,
    bands: &'a [Band],
    runtime: &'a runtime::Runtime,
}

impl<'a> From<&'a RuntimePreset> for Row<'a> {
    fn from(p: &'a RuntimePreset) -> Self {
        let rt = &p.runtime;
        let (decode, prefill) = (pooled(p, BandPhase::Decode), pooled(p, BandPhase::Prefill));
        // Only a phase with its own band has measurements behind it.
        let own: Vec<&Band> = [&decode, &prefill]
            .into_iter()
            .filter(|c| c.is_calibrated())
            .map(Coverage::band)
            .collect();
        Row {
            id: &rt.id,
            name: &rt.name,
            status: Status::of(p),
            version: p.version.as_deref(),
            source: p.source.as_deref(),
            measurements: own.iter().map(|b| b.rows).sum(),
            devices: own.iter().map(|b| b.devices).max().unwrap_or(0),
            decode_calibrated: decode.is_calibrated(),
            prefill_calibrated: prefill.is_calibrated(),
            decode: *decode.band(),
            prefill: *prefill.band(),
            bands: &rt.bands.0,
            runtime: rt,
        }
    }
}

/// The profile's band over all its devices, or, for a phase it has no
/// calibration data for, the band such a runtime is given.
fn pooled(p: &RuntimePreset, phase: BandPhase) -> Coverage {
    let all = runtime::presets();
    let widest = runtime::widest(all.iter().flat_map(|q| q.runtime.bands.0.iter()), phase);
    p.runtime.bands.for_class(None, phase, widest)
}

fn class_name(c: MemoryClass) -> &'static str {
    match c {
        MemoryClass::Lpddr => "lpddr",
        MemoryClass::Gddr => "gddr",
        MemoryClass::Hbm => "hbm",
    }
}

/// `0.90–1.28`: measured / predicted, 10th to 90th percentile.
fn range(b: &Band) -> String {
    format!("{:.2}–{:.2}", b.lo, b.hi)
}

pub(super) fn table(all: &[RuntimePreset]) -> String {
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|p| {
            let r = Row::from(p);
            let band = |b: &Band, calibrated: bool| {
                if calibrated {
                    range(b)
                } else {
                    format!("({})", range(b))
                }
            };
            vec![
                r.id.to_string(),
                r.name.to_string(),
                r.status.name().to_string(),
                band(&r.decode, r.decode_calibrated),
                band(&r.prefill, r.prefill_calibrated),
                if r.measurements == 0 {
                    "-".into()
                } else {
                    format!("{} on {}", r.measurements, r.devices)
                },
            ]
        })
        .collect();
    let mut out = super::table(
        &[
            "ID",
            "NAME",
            "STATUS",
            "DECODE BAND",
            "PREFILL BAND",
            "MEASUREMENTS",
        ],
        &rows,
        &[false, false, false, true, true, true],
    );
    let _ = write!(
        out,
        "\nBands: measured / predicted time, 10th–90th percentile over leave-one-device-out predictions\n\
         (all devices; per memory class in `rooflaw presets runtimes ID`). In parentheses: no\n\
         measurements for that phase, so predictions carry the widest band of any profile.\n\
         MEASUREMENTS: published measurements (prefill and decode) on that many devices\n\
         (bench/public-latency).\n"
    );
    out
}

pub(super) fn detail(p: &RuntimePreset) -> String {
    let r = Row::from(p);
    let rt = &p.runtime;
    let mut out = format!("{} ({}): {}\n", rt.name, rt.id, r.status.name());
    if let Some(v) = r.version {
        let _ = writeln!(out, "  version     {v}");
    }
    if let Some(s) = r.source {
        let _ = writeln!(out, "  source      {s}");
    }
    let _ = writeln!(out, "  launches    {}", rt.launch_model.name());
    if !rt.formats.is_empty() {
        let _ = writeln!(out, "  formats     {}", rt.formats.join(", "));
    }
    if rt.bands.0.is_empty() {
        let _ = writeln!(
            out,
            "  bands       none: no calibration data, so predictions carry the widest band of any\n              \
             profile (decode {}, prefill {})",
            range(&r.decode),
            range(&r.prefill)
        );
    } else {
        let _ = writeln!(
            out,
            "  bands       measured / predicted, 10th–90th percentile, leave-one-device-out:"
        );
        for b in &rt.bands.0 {
            let _ = writeln!(
                out,
                "    {:<8} {:<6} {:>12}  median error {:>5.1}%  {} rows on {} device{}",
                b.phase.name(),
                b.memory.map_or("all", class_name),
                range(b),
                b.median_error * 100.0,
                b.rows,
                b.devices,
                if b.devices == 1 { "" } else { "s" }
            );
        }
    }
    let missing = p.missing_sources();
    let _ = writeln!(
        out,
        "  figures     {} with a source{}; every figure with its source: --format yaml",
        p.sources.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(", none for {}", missing.join(", "))
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Format, Kind, render};

    #[test]
    fn listing_says_fitted_or_guessed_with_band_and_data() {
        let out = render(Kind::Runtimes, None, Format::Text).unwrap();
        for id in rooflaw_stdlib::runtime::ids() {
            assert!(
                out.lines().any(|l| l.starts_with(&format!("{id} "))),
                "{id} not listed:\n{out}"
            );
        }
        let row = |id: &str| {
            out.lines()
                .find(|l| l.starts_with(&format!("{id} ")))
                .unwrap()
                .to_string()
        };
        let llama = row("llama.cpp");
        assert!(llama.contains(" fitted "), "{llama}");
        // The pooled decode band of the shipped profile, and its data.
        let p = rooflaw_stdlib::runtime::preset("llama.cpp").unwrap();
        let decode = p
            .runtime
            .bands
            .0
            .iter()
            .find(|b| b.memory.is_none() && b.phase == rooflaw_stdlib::runtime::BandPhase::Decode)
            .unwrap();
        assert!(
            llama.contains(&format!("{:.2}–{:.2}", decode.lo, decode.hi)),
            "{llama}"
        );
        assert!(
            llama.ends_with(&format!(" on {}", decode.devices)),
            "{llama}"
        );
        let vllm = row("vllm");
        assert!(
            vllm.contains(" guessed ") && vllm.contains('(') && vllm.ends_with(" -"),
            "{vllm}"
        );
        assert!(row("ideal").contains(" ideal "));
        // MLC was measured decoding only: its prefill band is borrowed (in
        // parentheses) and its measurements are the decode rows alone.
        let mlc = row("mlc");
        let p = rooflaw_stdlib::runtime::preset("mlc").unwrap();
        let rows: u32 = p
            .runtime
            .bands
            .0
            .iter()
            .filter(|b| b.memory.is_none())
            .map(|b| b.rows)
            .sum();
        assert!(mlc.contains(" fitted ") && mlc.contains('('), "{mlc}");
        assert!(mlc.ends_with(&format!("{rows} on 1")), "{mlc}");
    }

    #[test]
    fn detail_json_and_yaml() {
        let out = render(Kind::Runtimes, Some("qnn"), Format::Text).unwrap();
        assert!(
            out.starts_with("Qualcomm") || out.contains("(qnn): fitted"),
            "{out}"
        );
        assert!(out.contains("median error"), "{out}");
        let v: serde_json::Value =
            serde_json::from_str(&render(Kind::Runtimes, None, Format::Json).unwrap()).unwrap();
        let mlx = v
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == "mlx")
            .unwrap();
        assert_eq!(mlx["status"], "guessed");
        assert_eq!(mlx["measurements"], 0);
        // A profile written by --format yaml reads back as the same runtime.
        let yaml = render(Kind::Runtimes, Some("LlamaCpp"), Format::Yaml).unwrap();
        let back = rooflaw_stdlib::runtime::from_yaml(&yaml).unwrap();
        assert_eq!(back, rooflaw_stdlib::runtime::preset("llama.cpp").unwrap());
        let e = render(Kind::Runtimes, Some("llama.cp"), Format::Text)
            .unwrap_err()
            .to_string();
        assert!(e.contains("did you mean `llama.cpp`"), "{e}");
    }
}
