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
    println!("\nleave-one-device-out median |predicted/measured − 1|, %");
    println!(
        "{:<34} {:<8} {:>5} {:>4} {:>7} {:>7} {:>9}",
        "group", "phase", "rows", "dev", "before", "after", "in band"
    );
    let key = |s: &Sample| (s.group.clone(), s.phase);
    let mut groups: BTreeMap<(String, BandPhase), (Vec<&Held>, Vec<&Held>)> = BTreeMap::new();
    for (b, a) in before.iter().zip(&after) {
        let g = groups.entry(key(&samples[a.sample])).or_default();
        g.0.push(b);
        g.1.push(a);
    }
    let full_bands: BTreeMap<String, Bands> = runtimes(&samples)
        .into_iter()
        .map(|id| {
            let mine: Vec<Held> = after
                .iter()
                .filter(|h| samples[h.sample].runtime == id)
                .cloned()
                .collect();
            (id.clone(), fit::bands(&samples, &mine, 3))
        })
        .collect();
    let in_band = |hs: &[&Held]| {
        let n = hs
            .iter()
            .filter(|h| {
                let s = &samples[h.sample];
                let rt = runtime::Runtime {
                    bands: full_bands[&s.runtime].clone(),
                    ..runtime::Runtime::ideal()
                };
                let b = *rt.bands.lookup(&s.hw, s.phase, None).band();
                h.ratio >= b.lo && h.ratio <= b.hi
            })
            .count();
        n as f64 / hs.len() as f64
    };
    for ((g, phase), (b, a)) in &groups {
        let devices: BTreeSet<&str> = a
            .iter()
            .map(|h| samples[h.sample].device.as_str())
            .collect();
        println!(
            "{:<34} {:<8} {:>5} {:>4} {:>7} {:>7} {:>9}",
            g,
            phase.name(),
            a.len(),
            devices.len(),
            pct(fit::median_error(b)),
            pct(fit::median_error(a)),
            pct(in_band(a)),
        );
    }
    let (bd, bp) = fit::medians(&samples, &before);
    let (ad, ap) = fit::medians(&samples, &after);
    let all: Vec<&Held> = after.iter().collect();
    println!(
        "{:<34} {:<8} {:>5} {:>4} {:>7} {:>7}",
        "all",
        "decode",
        "",
        "",
        pct(bd),
        pct(ad)
    );
    println!(
        "{:<34} {:<8} {:>5} {:>4} {:>7} {:>7} {:>9}",
        "all",
        "prefill",
        "",
        "",
        pct(bp),
        pct(ap),
        pct(in_band(&all))
    );

    if let Ok(g) = std::env::var("DUMP") {
        dump(&samples, &after, &g);
    }
    println!("\nablation: leave-one-device-out median error, %, all rows");
    println!("{:<56} {:>7} {:>8}", "model", "decode", "prefill");
    for (name, p) in Physics::steps().into_iter().chain(Physics::drop_one()) {
        let held = if p == Physics::IDEAL {
            before.clone()
        } else if p == Physics::FULL {
            after.clone()
        } else {
            fit::cross_validate(&samples, p)?
        };
        let (d, pf) = fit::medians(&samples, &held);
        println!("{name:<56} {:>7} {:>8}", pct(d), pct(pf));
    }

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
        for (base, rt, rows) in profiles {
            write_preset(&root, base, rt, &rows, &samples, &after)?;
        }
        let mut ideal = runtime::preset("ideal").ok_or("no ideal preset")?;
        ideal.runtime.bands = fit::bands(&samples, &before, 3);
        // The ideal runtime is today's model everywhere: one pooled band
        // per phase, not one per class of the rows it happened to see.
        ideal.runtime.bands.0.retain(|b| b.memory.is_none());
        save(&root, &ideal)?;
        let figure = format!(
            "{{\n  \"decode_median_error\": {},\n  \"prefill_median_error\": {}\n}}\n",
            fit::round4(ad),
            fit::round4(ap)
        );
        std::fs::write(root.join("bench/public-latency/baseline.json"), figure)
            .map_err(|e| e.to_string())?;
        println!("wrote the presets and bench/public-latency/baseline.json");
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
