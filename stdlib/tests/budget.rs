//! Budgets: presets, spec resolution, margins.
use rooflaw_dsl::span::Spanned;
use rooflaw_dsl::spec::{self, CmpOp, Constraint};
use rooflaw_dsl::{Dim, Quantity, Span};
use rooflaw_stdlib::budget::{Budget, Limit, Metric, Metrics, PRESETS, preset};
use rooflaw_stdlib::runtime::{self, Band, BandPhase};

fn sp<T>(node: T) -> Spanned<T> {
    Spanned::new(node, Span::default())
}

fn block(preset: Option<&str>, constraints: &[(&str, CmpOp, f64, Dim)]) -> spec::Budget {
    spec::Budget {
        name: sp("b".into()),
        preset: preset.map(|p| sp(p.to_string())),
        constraints: constraints
            .iter()
            .map(|(m, op, v, d)| Constraint {
                metric: sp((*m).to_string()),
                op: *op,
                bound: sp(Quantity::new(*v, *d)),
                span: Span::default(),
            })
            .collect(),
        confidence: None,
        span: Span::default(),
    }
}

#[test]
fn table_2_presets() {
    let want = [
        ("embodied-ai", Metric::PerToken, 0.020),
        ("smart-home", Metric::Total, 0.5),
        ("autonomous-driving", Metric::Total, 0.1),
        ("private-serving", Metric::Total, 2.0),
    ];
    assert_eq!(PRESETS.len(), want.len());
    for (name, metric, bound) in want {
        let p = preset(name).unwrap();
        assert_eq!(
            p.limits,
            &[Limit {
                metric,
                op: CmpOp::Lt,
                bound
            }],
            "{name}"
        );
    }
}

#[test]
fn spec_preset_plus_own_limits_and_override() {
    // The block's latency.total replaces the preset's; memory is added.
    let b = block(
        Some("smart-home"),
        &[
            ("latency.total", CmpOp::Le, 0.8, Dim::TIME),
            ("memory", CmpOp::Le, 8e9, Dim::BYTES),
        ],
    );
    let b = Budget::from_spec(&b).unwrap();
    assert_eq!(
        b.limits,
        vec![
            Limit {
                metric: Metric::Total,
                op: CmpOp::Le,
                bound: 0.8
            },
            Limit {
                metric: Metric::Memory,
                op: CmpOp::Le,
                bound: 8e9
            },
        ]
    );
}

#[test]
fn spec_errors_are_all_reported() {
    let b = block(
        Some("smart-hom"),
        &[
            ("latency.totl", CmpOp::Lt, 1.0, Dim::TIME),
            ("memory", CmpOp::Lt, 1.0, Dim::TIME),
        ],
    );
    let errs = Budget::from_spec(&b).unwrap_err();
    assert_eq!(errs.len(), 3);
    assert_eq!(errs[0].help.as_deref(), Some("did you mean `smart-home`?"));
    assert_eq!(
        errs[1].help.as_deref(),
        Some("did you mean `latency.total`?")
    );
    assert_eq!(
        errs[2].message,
        "`memory` is a size in bytes, but the bound is a time"
    );
}

#[test]
fn check_reports_signed_margins() {
    let b = Budget::from_spec(&block(
        Some("autonomous-driving"),
        &[
            ("memory", CmpOp::Le, 1e9, Dim::BYTES),
            ("throughput", CmpOp::Ge, 50.0, Dim::THROUGHPUT),
        ],
    ))
    .unwrap();
    let m = Metrics {
        total_s: 0.12,
        memory_bytes: 0.5e9,
        throughput: 60.0,
        ..Metrics::default()
    };
    let f = b.check(&m);
    assert!(!f.feasible);
    let margins: Vec<(bool, f64, f64)> = f
        .checks
        .iter()
        .map(|c| (c.holds, c.margin, c.relative))
        .collect();
    let close = |a: f64, b: f64| (a - b).abs() < 1e-12;
    assert!(!margins[0].0 && close(margins[0].1, -0.02) && close(margins[0].2, -0.2));
    assert!(margins[1].0 && close(margins[1].1, 0.5e9) && close(margins[1].2, 0.5));
    assert!(margins[2].0 && close(margins[2].1, 10.0));
    assert_eq!(f.violations().count(), 1);
    assert!(!b.admits(&m));
    assert!(b.admits(&Metrics { total_s: 0.05, ..m }));
    // An unknown figure never satisfies a limit.
    assert!(!b.admits(&Metrics {
        total_s: f64::NAN,
        ..m
    }));
    assert_eq!(f.checks[0].limit.to_string(), "latency.total < 100 ms");
}

#[test]
fn metrics_follow_the_language_schema() {
    let names: Vec<(&str, Dim)> = Metric::ALL.iter().map(|m| (m.name(), m.dim())).collect();
    assert_eq!(names, rooflaw_dsl::schema::BUDGET_METRICS.to_vec());
    assert_eq!(
        Metric::from_name("latency.per_token"),
        Some(Metric::PerToken)
    );
}

#[test]
fn metrics_from_a_roofline_summary() {
    use rooflaw_stdlib::roofline::{Bound, Summary};
    let s = Summary {
        prefill: 0.1,
        ttft: 0.1,
        decode: 0.3,
        decode_per_token: 0.02,
        tokens_per_s: 40.0,
        total: 0.4,
        weights_bytes: 1e9,
        kv_cache_bytes: 1e8,
        activation_bytes: 1e7,
        memory_bytes: 1.11e9,
        fits_memory: true,
        params_total: 500_000_000,
        params_active: 400_000_000,
        prefill_flops: 1e12,
        decode_flops: 1e10,
        prefill_bound: Bound::Compute,
        decode_bound: Bound::Memory,
    };
    let m = Metrics::from_summary(&s);
    let want = [0.1, 0.1, 0.3, 0.02, 0.4, 1.11e9, 5e8, 4e8, 40.0];
    // Copied, not computed: exact equality is the point.
    assert_eq!(
        Metric::ALL.map(|k| m.get(k).to_bits()),
        want.map(f64::to_bits)
    );
    // embodied-ai reads the per-token time: 20 ms is not < 20 ms.
    assert!(!Budget::from_preset(preset("embodied-ai").unwrap()).admits(&m));
}

fn confident(c: f64, constraints: &[(&str, CmpOp, f64, Dim)]) -> spec::Budget {
    spec::Budget {
        confidence: Some(sp(c)),
        ..block(None, constraints)
    }
}

/// The band's quantile of the cross-validated ratio, per phase, for the
/// shipped llama.cpp profile on an RTX 4090 (GDDR).
fn quantile(phase: BandPhase, p: f64) -> f64 {
    let rt = runtime::preset("llama.cpp").unwrap().runtime;
    let hw = rooflaw_stdlib::hardware::preset("rtx-4090").unwrap();
    let c = rt.coverage(&hw, phase);
    assert!(c.is_calibrated());
    c.band().quantile(p)
}

#[test]
fn a_confident_budget_holds_latency_to_the_band_end() {
    let rt = runtime::preset("llama.cpp").unwrap().runtime;
    let hw = rooflaw_stdlib::hardware::preset("rtx-4090").unwrap();
    let b = Budget::from_spec(&confident(
        0.9,
        &[
            ("latency.total", CmpOp::Le, 0.1, Dim::TIME),
            ("throughput", CmpOp::Ge, 100.0, Dim::THROUGHPUT),
            ("memory", CmpOp::Le, 1e9, Dim::BYTES),
        ],
    ))
    .unwrap();
    assert_eq!(b.confidence, Some(0.9));
    let m = Metrics {
        prefill_s: 0.02,
        ttft_s: 0.02,
        decode_s: 0.06,
        per_token_s: 0.006,
        total_s: 0.08,
        throughput: 10.0 / 0.08,
        memory_bytes: 0.9e9,
        ..Metrics::default()
    };
    // Unbound, the prediction itself is held to the limits.
    assert!(b.admits(&m));
    let held = b.under(&rt, &hw);
    let (p90, d90) = (
        quantile(BandPhase::Prefill, 0.9),
        quantile(BandPhase::Decode, 0.9),
    );
    let f = held.check(&m);
    let total = 0.02 * p90 + 0.06 * d90;
    assert!((f.checks[0].value - total).abs() < 1e-15, "{f:?}");
    assert!((f.checks[1].value - 10.0 / total).abs() < 1e-9, "{f:?}");
    // Memory has no band: held to the prediction.
    assert_eq!(f.checks[2].value.to_bits(), 0.9e9f64.to_bits());
    assert_eq!(f.feasible, total <= 0.1 && 10.0 / total >= 100.0);
    assert_eq!(held.admits(&m), f.feasible);
    // The 90% end is the band's `hi`: the same 10th–90th percentile band
    // `rooflaw roofline` prints.
    let band = rt.coverage(&hw, BandPhase::Decode);
    assert_eq!(d90.to_bits(), band.band().hi.to_bits());
    // A lower bound on a time is held to the fast end.
    let floor = Budget::from_spec(&confident(
        0.9,
        &[("latency.decode", CmpOp::Ge, 0.05, Dim::TIME)],
    ))
    .unwrap()
    .under(&rt, &hw);
    let v = floor.check(&m).checks[0].value;
    assert!((v - 0.06 * quantile(BandPhase::Decode, 0.1)).abs() < 1e-15);
}

#[test]
fn higher_confidence_asks_more() {
    let rt = runtime::preset("llama.cpp").unwrap().runtime;
    let hw = rooflaw_stdlib::hardware::preset("rtx-4090").unwrap();
    let m = Metrics {
        prefill_s: 0.02,
        ttft_s: 0.02,
        decode_s: 0.06,
        total_s: 0.08,
        ..Metrics::default()
    };
    let mut last = 0.0;
    for c in [0.05, 0.5, 0.8, 0.9, 0.95, 0.99] {
        let b = Budget::from_spec(&confident(
            c,
            &[("latency.total", CmpOp::Le, 1.0, Dim::TIME)],
        ))
        .unwrap()
        .under(&rt, &hw);
        let v = b.check(&m).checks[0].value;
        assert!(v >= last, "{c}: {v} < {last}");
        last = v;
    }
    // Never beyond the slowest ratio cross-validation saw.
    let max = 0.02 * quantile(BandPhase::Prefill, 1.0) + 0.06 * quantile(BandPhase::Decode, 1.0);
    assert!(last <= max + 1e-15);
}

#[test]
fn a_band_without_stored_quantiles_is_log_normal_through_lo_and_hi() {
    let b = Band {
        memory: None,
        phase: BandPhase::Decode,
        lo: 0.8,
        hi: 1.25,
        median_error: 0.1,
        rows: 10,
        devices: 2,
        quantiles: None,
    };
    assert!((b.quantile(0.1) - 0.8).abs() < 1e-9);
    assert!((b.quantile(0.9) - 1.25).abs() < 1e-9);
    assert!((b.quantile(0.5) - 1.0).abs() < 1e-9);
    // 99%: z = 2.326, beyond the 90th percentile's 1.2816.
    let z99 = 2.326_347_874_040_841;
    let want = (1.25f64.ln() * z99 / 1.281_551_565_544_600_5).exp();
    assert!(
        (b.quantile(0.99) - want).abs() < 1e-7,
        "{}",
        b.quantile(0.99)
    );
    // Stored quantiles are read, linear between the 5% steps.
    let q: [f64; 21] = std::array::from_fn(|i| 0.5 + 0.05 * i as f64);
    let b = Band {
        quantiles: Some(q),
        ..b
    };
    assert!((b.quantile(0.9) - q[18]).abs() < 1e-15);
    assert!((b.quantile(0.925) - f64::midpoint(q[18], q[19])).abs() < 1e-12);
    assert_eq!(b.quantile(1.0).to_bits(), q[20].to_bits());
}

#[test]
fn confidence_needs_a_latency_limit_bounded_from_one_side() {
    let errs =
        Budget::from_spec(&confident(0.9, &[("memory", CmpOp::Le, 1e9, Dim::BYTES)])).unwrap_err();
    assert_eq!(
        errs[0].message,
        "budget `b` has a confidence but no latency limit for it to hold"
    );
    // A preset's latency limit is one.
    let b = spec::Budget {
        confidence: Some(sp(0.9)),
        ..block(
            Some("smart-home"),
            &[("memory", CmpOp::Le, 1e9, Dim::BYTES)],
        )
    };
    assert!(Budget::from_spec(&b).is_ok());
    let errs = Budget::from_spec(&confident(
        0.9,
        &[("latency.total", CmpOp::Eq, 0.1, Dim::TIME)],
    ))
    .unwrap_err();
    assert_eq!(
        errs[0].message,
        "a confident budget bounds `latency.total` from one side, not with `==`"
    );
}
