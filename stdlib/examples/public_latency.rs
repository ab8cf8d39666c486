//! `bench/public-latency`: fits runtime profiles to the public-latency
//! calibration set and prints, per group and phase, the leave-one-device-out
//! median |error| of today's roofline and of the fitted profiles, with an
//! ablation of each fitted figure.
//!
//! `cargo run --release -p rooflaw-stdlib --example public_latency [-- --write]`
//! (`--write` rewrites the fitted presets in stdlib/presets/runtimes and the
//! regression figure in bench/public-latency/baseline.json).
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rooflaw_stdlib::hardware::Source;
use rooflaw_stdlib::runtime::calibration::{self, Sample};
use rooflaw_stdlib::runtime::fit::{self, Held, Physics};
use rooflaw_stdlib::runtime::{self, BandPhase, Bands, RuntimePreset};

fn pct(x: f64) -> String {
    if x.is_nan() {
        "    –".into()
    } else {
        format!("{:>5.1}", x * 100.0)
    }
}

type BeforeAfter<'a> = (Vec<&'a Held>, Vec<&'a Held>);

fn main() -> Result<(), String> {
    let write = std::env::args().any(|a| a == "--write");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let data = root.join("bench/public-latency/data");
    let (samples, skipped) = calibration::load(&data).map_err(|e| e.to_string())?;
    println!(
        "calibration set: {} rows used, {} skipped",
        samples.len(),
        skipped.len()
    );
    for (id, why) in &skipped {
        println!("  skipped {id}: {why}");
    }

    let before = fit::cross_validate(&samples, Physics::IDEAL)?;
    let after = fit::cross_validate(&samples, Physics::FULL)?;
    let full_bands = errors_table(&samples, &before, &after);

    if let Ok(g) = std::env::var("DUMP") {
        dump(&samples, &after, &g);
    }
    ablation(&samples, &before, &after)?;

    println!("\nfitted on every row (the shipped profiles):");
    let mut profiles = Vec::new();
    for id in runtimes(&samples) {
        let base = runtime::preset(&id).ok_or_else(|| format!("no preset {id}"))?;
        let rows: Vec<&Sample> = samples.iter().filter(|s| s.runtime == id).collect();
        let mut rt = fit::fit(&base.runtime, &rows, Physics::FULL);
        rt.bands = full_bands[&id].clone();
        round(&mut rt);
        println!("{}", describe(&rt));
        profiles.push((base, rt, rows));
    }
    if write {
        write_all(&root, profiles, &samples, &before, &after)?;
    }
    Ok(())
}

/// `--write`: the fitted presets, the ideal runtime's bands (today's model's
/// error) and the regression gate's figure.
fn write_all(
    root: &Path,
    profiles: Vec<(RuntimePreset, runtime::Runtime, Vec<&Sample>)>,
    samples: &[Sample],
    before: &[Held],
    after: &[Held],
) -> Result<(), String> {
    for (base, rt, rows) in profiles {
        write_preset(root, base, rt, &rows, samples, after)?;
    }
    let mut ideal = runtime::preset("ideal").ok_or("no ideal preset")?;
    ideal.runtime.bands = fit::bands(samples, before, 3);
    // The ideal runtime is today's model everywhere: one pooled band
    // per phase, not one per class of the rows it happened to see.
    ideal.runtime.bands.0.retain(|b| b.memory.is_none());
    save(root, &ideal)?;
    let (ad, ap) = fit::medians(samples, after);
    let figure = format!(
        "{{\n  \"decode_median_error\": {},\n  \"prefill_median_error\": {}\n}}\n",
        fit::round4(ad),
        fit::round4(ap)
    );
    std::fs::write(root.join("bench/public-latency/baseline.json"), figure)
        .map_err(|e| e.to_string())?;
    println!("wrote the presets and bench/public-latency/baseline.json");
    Ok(())
}

/// Each runtime's bands from every row's held-out ratio.
fn bands_of(
    samples: &[Sample],
    held: &[Held],
    keep: impl Fn(&Sample) -> bool,
) -> BTreeMap<String, Bands> {
    runtimes(samples)
        .into_iter()
        .map(|id| {
            let mine: Vec<Held> = held
                .iter()
                .filter(|h| samples[h.sample].runtime == id && keep(&samples[h.sample]))
                .cloned()
                .collect();
            (id.clone(), fit::bands(samples, &mine, 3))
        })
        .collect()
}

fn of_phase<'h>(samples: &[Sample], held: &'h [Held], phase: BandPhase) -> Vec<&'h Held> {
    held.iter()
        .filter(|h| samples[h.sample].phase == phase)
        .collect()
}

/// Whether a held-out ratio lies in its runtime's band for its hardware.
fn inside(bands: &BTreeMap<String, Bands>, s: &Sample, h: &Held) -> bool {
    let b = *bands[&s.runtime].lookup(&s.hw, s.phase, None).band();
    h.ratio >= b.lo && h.ratio <= b.hi
}

/// The error table per calibration group and phase; returns the bands the
/// shipped profiles get.
///
/// Two coverages: "in band" against the bands built from every row (80% by
/// construction over each band's rows), and "unseen" against bands built
/// without the row's own device — what a user on a device nobody measured
/// can expect of the stated 80%.
fn errors_table(samples: &[Sample], before: &[Held], after: &[Held]) -> BTreeMap<String, Bands> {
    let full_bands = bands_of(samples, after, |_| true);
    let mut unseen_bands: BTreeMap<String, BTreeMap<String, Bands>> = BTreeMap::new();
    for s in samples {
        unseen_bands
            .entry(s.device.clone())
            .or_insert_with(|| bands_of(samples, after, |o| o.device != s.device));
    }
    let share = |hs: &[&Held], unseen: bool| {
        let n = hs
            .iter()
            .filter(|h| {
                let s = &samples[h.sample];
                let bands = if unseen {
                    &unseen_bands[&s.device]
                } else {
                    &full_bands
                };
                inside(bands, s, h)
            })
            .count();
        n as f64 / hs.len() as f64
    };
    println!("\nleave-one-device-out median |predicted/measured − 1|, %");
    println!(
        "{:<34} {:<8} {:>5} {:>4} {:>7} {:>7} {:>8} {:>7}",
        "group", "phase", "rows", "dev", "before", "after", "in band", "unseen"
    );
    // Per (group, phase): the rows' held-out predictions before and after.
    let mut groups: BTreeMap<(String, BandPhase), BeforeAfter> = BTreeMap::new();
    for (b, a) in before.iter().zip(after) {
        let s = &samples[a.sample];
        let g = groups.entry((s.group.clone(), s.phase)).or_default();
        g.0.push(b);
        g.1.push(a);
    }
    for ((g, phase), (b, a)) in &groups {
        let devices: BTreeSet<&str> = a
            .iter()
            .map(|h| samples[h.sample].device.as_str())
            .collect();
        println!(
            "{:<34} {:<8} {:>5} {:>4} {:>7} {:>7} {:>8} {:>7}",
            g,
            phase.name(),
            a.len(),
            devices.len(),
            pct(fit::median_error(b)),
            pct(fit::median_error(a)),
            pct(share(a, false)),
            pct(share(a, true)),
        );
    }
    for phase in [BandPhase::Decode, BandPhase::Prefill] {
        let (b, a) = (
            of_phase(samples, before, phase),
            of_phase(samples, after, phase),
        );
        println!(
            "{:<34} {:<8} {:>5} {:>4} {:>7} {:>7} {:>8} {:>7}",
            "all",
            phase.name(),
            a.len(),
            "",
            pct(fit::median_error(&b)),
            pct(fit::median_error(&a)),
            pct(share(&a, false)),
            pct(share(&a, true)),
        );
    }
    println!(
        "stated coverage of a band: {:.0}% (10th–90th percentile of the held-out ratios)",
        runtime::COVERAGE * 100.0
    );
    full_bands
}

/// Each figure's share of the cross-validated error: added one at a time,
/// then each left out of the full model.
fn ablation(samples: &[Sample], before: &[Held], after: &[Held]) -> Result<(), String> {
    println!("\nablation: leave-one-device-out median error, %, all rows");
    println!("{:<56} {:>7} {:>8}", "model", "decode", "prefill");
    for (name, p) in Physics::steps().into_iter().chain(Physics::drop_one()) {
        let held = if p == Physics::IDEAL {
            before.to_vec()
        } else if p == Physics::FULL {
            after.to_vec()
        } else {
            fit::cross_validate(samples, p)?
        };
        let (d, pf) = fit::medians(samples, &held);
        println!("{name:<56} {:>7} {:>8}", pct(d), pct(pf));
    }
    Ok(())
}

fn runtimes(samples: &[Sample]) -> Vec<String> {
    let ids: BTreeSet<&str> = samples.iter().map(|s| s.runtime.as_str()).collect();
    ids.into_iter().map(str::to_string).collect()
}

fn round(rt: &mut runtime::Runtime) {
    let e = &mut rt.efficiency;
    for c in [&mut e.memory, &mut e.compute, &mut e.vector] {
        for v in [&mut c.default, &mut c.lpddr, &mut c.gddr, &mut c.hbm] {
            *v = v.map(fit::round4);
        }
    }
    e.gemm_half_tokens = e.gemm_half_tokens.map(f64::round);
    rt.per_token = (rt.per_token * 1e7).round() / 1e7;
}

fn describe(rt: &runtime::Runtime) -> String {
    let e = &rt.efficiency;
    let mut s = format!("  {:<13}", rt.id);
    let _ = write!(
        s,
        " memory {:?} compute {:?} gemm_half_tokens {:?} per_token {:.3} ms attention {:?}",
        e.memory,
        e.compute,
        e.gemm_half_tokens,
        rt.per_token * 1e3,
        rt.attention
    );
    s
}

fn write_preset(
    root: &Path,
    mut p: RuntimePreset,
    rt: runtime::Runtime,
    rows: &[&Sample],
    samples: &[Sample],
    held: &[Held],
) -> Result<(), String> {
    let devices: BTreeSet<&str> = rows.iter().map(|s| s.device.as_str()).collect();
    let mine: Vec<Held> = held
        .iter()
        .filter(|h| samples[h.sample].runtime == rt.id)
        .cloned()
        .collect();
    let (d, pf) = fit::medians(samples, &mine);
    let source = format!(
        "bench/public-latency: fitted on {} rows on {} devices of the public-latency calibration set",
        rows.len(),
        devices.len()
    );
    let note = format!(
        "leave-one-device-out median error: decode {}, prefill {}",
        if d.is_nan() {
            "n/a".into()
        } else {
            format!("{:.1}%", d * 100.0)
        },
        if pf.is_nan() {
            "n/a".into()
        } else {
            format!("{:.1}%", pf * 100.0)
        }
    );
    p.sources
        .retain(|k, _| !k.starts_with("efficiency.") && k != "per_token");
    p.runtime = rt;
    let fitted = Source {
        source,
        derived: true,
        note: Some(note),
    };
    for path in figure_paths(&p.runtime) {
        p.sources.entry(path).or_insert_with(|| fitted.clone());
    }
    save(root, &p)
}

fn figure_paths(rt: &runtime::Runtime) -> Vec<String> {
    let probe = RuntimePreset {
        runtime: rt.clone(),
        version: None,
        source: None,
        sources: BTreeMap::new(),
    };
    probe.missing_sources()
}

fn save(root: &Path, p: &RuntimePreset) -> Result<(), String> {
    let path = root
        .join("stdlib/presets/runtimes")
        .join(format!("{}.yaml", p.runtime.id));
    std::fs::write(&path, runtime::to_yaml(p)).map_err(|e| format!("{}: {e}", path.display()))
}

#[allow(dead_code)]
fn dump(samples: &[Sample], held: &[Held], group: &str) {
    for h in held {
        let s = &samples[h.sample];
        if s.group == group {
            println!(
                "  {:<60} pred {:>9.4} ms meas {:>9.4} ms ratio {:.3}",
                s.id,
                h.predicted * 1e3,
                s.measured * 1e3,
                h.ratio
            );
        }
    }
}
