//! Budgets: presets, spec resolution, margins.
use rooflaw_dsl::span::Spanned;
use rooflaw_dsl::spec::{self, CmpOp, Constraint};
use rooflaw_dsl::{Dim, Quantity, Span};
use rooflaw_stdlib::budget::{Budget, Limit, Metric, Metrics, PRESETS, preset};

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
