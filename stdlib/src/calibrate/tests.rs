use super::*;
use crate::precision::{Dtype, Precision};
use crate::rng::SplitMix64;
use crate::workload::Attention;

fn cpu(ec: f64, em: f64, launch: f64) -> Hardware {
    Hardware {
        id: "test-cpu".into(),
        name: "test CPU".into(),
        peak: [(Dtype::Fp32, 200e9)].into_iter().collect(),
        bandwidth: 20e9,
        memory: 16e9,
        efficiency_compute: ec,
        efficiency_memory: em,
        efficiency_vector: None,
        launch,
        memory_technology: None,
    }
}

/// Dense and `MoE` models over widths, depths and GQA settings, as the CPU
/// experiment measures them.
fn space() -> Vec<(Architecture, Workload)> {
    let mut wl = Workload::new(1, 128, 32, Precision::parse("fp32").unwrap());
    wl.attention = Attention::Unfused;
    wl.experts = crate::workload::Experts::Looped;
    let mut out = Vec::new();
    for (i, &width) in [64u32, 128, 256, 512].iter().enumerate() {
        for &layers in &[2u32, 6] {
            let heads = width / 32;
            let kv = [1, 2, heads][(i + layers as usize) % 3];
            let mut a = Architecture::dense(layers, width, heads, kv, 3 * width);
            a.vocab = 4096;
            out.push((a.clone(), wl));
            a.experts = 8;
            a.top_k = 2;
            a.ffn = width;
            out.push((a, wl));
        }
    }
    out
}

/// Measurements from the roofline itself on `truth`, with multiplicative
/// log-normal noise of `sigma`.
fn synthetic(truth: &Hardware, sigma: f64, seed: u64) -> Vec<Sample> {
    let mut rng = SplitMix64::new(seed);
    space()
        .into_iter()
        .enumerate()
        .map(|(i, (arch, workload))| {
            let r = evaluate(&arch, truth, &workload).unwrap();
            Sample {
                label: format!("arch {i}"),
                arch,
                workload,
                prefill: r.prefill * (sigma * rng.normal()).exp(),
                decode: r.decode * (sigma * rng.normal()).exp(),
            }
        })
        .collect()
}

#[test]
fn recovers_efficiencies_and_launch_from_noisy_roofline_measurements() {
    let truth = cpu(0.35, 0.6, 12e-6);
    let samples = synthetic(&truth, 0.03, 7);
    let start = cpu(1.0, 1.0, 0.0);
    let c = calibrate(&samples, &start, &Options::default()).unwrap();
    let rel = |a: f64, b: f64| (a - b).abs() / b;
    let hw = &c.hardware;
    assert!(
        rel(hw.efficiency_compute, 0.35) < 0.1,
        "{}",
        hw.efficiency_compute
    );
    assert!(
        rel(hw.efficiency_memory, 0.6) < 0.1,
        "{}",
        hw.efficiency_memory
    );
    assert!(rel(hw.launch, 12e-6) < 0.15, "{}", hw.launch);
    // Judged on the held-out half: the noise level after, far worse before.
    let j = c.judged();
    assert!(j.after.overall.median_ape < 5.0, "{j:?}");
    assert!(j.before.overall.median_ape > 30.0, "{j:?}");
    assert!(j.after.prefill.spearman.unwrap() > 0.95, "{j:?}");
    // Half held out, stratified: dense and MoE on both sides.
    assert_eq!(c.heldout.len(), samples.len() / 2);
    for side in [&c.train, &c.heldout] {
        assert!(side.iter().any(|&i| samples[i].arch.is_moe()));
        assert!(side.iter().any(|&i| !samples[i].arch.is_moe()));
    }
    // Same seed, same split and fit.
    let again = calibrate(&samples, &start, &Options::default()).unwrap();
    assert_eq!(again.heldout, c.heldout);
    assert_eq!(again.hardware, c.hardware);
}

#[test]
fn exact_measurements_are_fitted_exactly() {
    let truth = cpu(0.5, 0.8, 3e-6);
    let samples = synthetic(&truth, 0.0, 1);
    let opts = Options {
        holdout: 0.0,
        ..Options::default()
    };
    let c = calibrate(&samples, &cpu(0.7, 0.75, 5e-6), &opts).unwrap();
    assert!(c.on_heldout.is_none());
    assert!(
        c.judged().after.overall.median_ape < 0.1,
        "{:?}",
        c.judged()
    );
    assert!(
        (c.hardware.launch - 3e-6).abs() < 1e-8,
        "{}",
        c.hardware.launch
    );
}

#[test]
fn validation_points_cover_both_phases() {
    let truth = cpu(0.5, 0.8, 3e-6);
    let mut samples = synthetic(&truth, 0.0, 1);
    samples[0].workload.generate = 1; // prefill only: no decode point
    let pts = validate(&samples, &truth).unwrap();
    assert_eq!(pts.len(), 2 * samples.len() - 1);
    assert!(
        pts.iter()
            .all(|p| p.before.to_bits() == p.after.to_bits() && !p.heldout)
    );
    let m = PhaseMetrics::of(pts.iter().skip(1), |p| p.before);
    assert!(m.decode.median_ape < 1e-9 && m.prefill.median_ape < 1e-9);
}

#[test]
fn bad_measurements_and_options_are_clear_errors() {
    let hw = cpu(0.5, 0.8, 3e-6);
    let mut samples = synthetic(&hw, 0.0, 1);
    samples[3].decode = 0.0;
    let e = calibrate(&samples, &hw, &Options::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("measurement 3 (arch 3)") && e.contains("decode"),
        "{e}"
    );
    let few: Vec<Sample> = synthetic(&hw, 0.0, 1).into_iter().take(4).collect();
    let e = calibrate(&few, &hw, &Options::default()).unwrap_err();
    assert_eq!(e, CalibrateError::TooFew(2));
    let e = calibrate(
        &few,
        &hw,
        &Options {
            holdout: 1.0,
            ..Options::default()
        },
    )
    .unwrap_err();
    assert!(matches!(e, CalibrateError::BadOption(_)));
}

#[test]
fn calibrated_preset_records_provenance() {
    let truth = cpu(0.5, 0.8, 3e-6);
    let samples = synthetic(&truth, 0.01, 2);
    let c = calibrate(&samples, &cpu(1.0, 1.0, 0.0), &Options::default()).unwrap();
    let base = HardwarePreset {
        hardware: cpu(1.0, 1.0, 0.0),
        sources: crate::hardware::HardwareSources::default(),
    };
    let p = c.preset(&base, "2026-01-02", "cpu: test");
    assert_eq!(p.hardware.launch.to_bits(), c.hardware.launch.to_bits());
    let s = p.sources.launch.clone().unwrap();
    assert!(
        s.source.starts_with(&format!(
            "calibrated by rooflaw on {} measurements (2026-01-02); held-out median error before",
            samples.len()
        )),
        "{}",
        s.source
    );
    assert!(s.note.unwrap().contains("cpu: test"));
    // Written and read back in the preset schema.
    let back = crate::hardware::from_yaml(&crate::hardware::to_yaml(&p)).unwrap();
    assert!((back.hardware.efficiency_memory - c.hardware.efficiency_memory).abs() < 1e-6);
}

/// Once told to stop, every L-BFGS start ends at its next evaluation: after
/// the flag flips, a start not begun asks once, one running asks at its next
/// evaluation and once as it ends, and the calibration once at the end,
/// instead of running their hundreds of evaluations.
#[test]
fn a_stop_ends_every_start_at_its_next_evaluation() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let samples = synthetic(&cpu(0.35, 0.6, 12e-6), 0.03, 7);
    let start = cpu(1.0, 1.0, 0.0);
    let opts = Options::default();
    let asked = AtomicUsize::new(0);
    let count = || {
        asked.fetch_add(1, Ordering::SeqCst);
        false
    };
    calibrate_cancellable(&samples, &start, &opts, &count).unwrap();
    let whole = asked.swap(0, Ordering::SeqCst);
    let flip = 50;
    assert!(whole > 10 * flip, "{whole}");
    let stop = || asked.fetch_add(1, Ordering::SeqCst) >= flip;
    let e = calibrate_cancellable(&samples, &start, &opts, &stop).unwrap_err();
    assert_eq!(e, CalibrateError::Cancelled);
    let starts = starts(&objective::levels(), usize::MAX, opts.seed).len() + 1;
    let after = asked.load(Ordering::SeqCst) - flip;
    let running = rayon::current_num_threads();
    assert!(
        after <= starts + running + 1,
        "{after} questions after the stop, {starts} starts"
    );
}
