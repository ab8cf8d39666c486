//! The co-design hot paths at the scale: a 1,000,000-point Pareto
//! frontier, a top-k search over 1,000,000 designs, and enumerating a
//! 1,000,000-candidate space.
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rooflaw_dsl::Span;
use rooflaw_dsl::span::Spanned;
use rooflaw_dsl::spec::{CmpOp, Expr, Space, SpaceField};
use rooflaw_stdlib::budget::{Budget, Limit, Metric, Metrics, preset};
use rooflaw_stdlib::pareto::{frontier, frontier_by};
use rooflaw_stdlib::sample::SplitMix64;
use rooflaw_stdlib::search::{Design, search};
use rooflaw_stdlib::space::CompiledSpace;
use rooflaw_stdlib::{Architecture, Precision, Workload};

const N: usize = 1_000_000;

/// Loss falling with latency plus noise: a realistic, fat frontier.
fn points() -> Vec<(f64, f64)> {
    let mut rng = SplitMix64::new(1);
    (0..N)
        .map(|_| {
            let lat = rng.next_f64() * 2.0 + 0.01;
            (lat, 2.5 + 1.0 / lat.sqrt() + rng.next_f64())
        })
        .collect()
}

fn space() -> Space {
    let sp = |e: Expr| Spanned::new(e, Span::default());
    let nums = |vs: Vec<f64>| {
        sp(Expr::List(
            vs.into_iter().map(|v| sp(Expr::Num(v))).collect(),
        ))
    };
    let field = |n: &str, v| SpaceField {
        names: vec![Spanned::new(n.into(), Span::default())],
        value: v,
        helper: false,
    };
    Space {
        name: Spanned::new("bench".into(), Span::default()),
        fields: vec![
            field("layers", nums((1..=40).map(f64::from).collect())),
            field(
                "width",
                nums((1..=50).map(|k| f64::from(k) * 64.0).collect()),
            ),
            field("kv_heads", nums(vec![1.0, 2.0, 4.0, 8.0, 16.0])),
            field(
                "ffn",
                nums(vec![0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 10.0, 12.0, 16.0]),
            ),
            field(
                "experts",
                nums(vec![
                    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0,
                ]),
            ),
        ],
        requires: vec![],
        span: Span::default(),
    }
}

fn bench(c: &mut Criterion) {
    let pts = points();
    let mut g = c.benchmark_group("codesign");
    g.sample_size(10);
    g.bench_function("pareto_frontier_1M", |b| {
        b.iter(|| frontier(black_box(&pts)));
    });

    let designs: Vec<Design> = pts
        .iter()
        .map(|&(lat, loss)| Design {
            arch: Architecture::dense(12, 1024, 16, 4, 4096),
            metrics: Metrics {
                total_s: lat,
                memory_bytes: lat * 4e9,
                ..Metrics::default()
            },
            loss,
        })
        .collect();
    let budget = Budget {
        name: "b".into(),
        limits: vec![
            Limit {
                metric: Metric::Total,
                op: CmpOp::Lt,
                bound: 0.5,
            },
            Limit {
                metric: Metric::Memory,
                op: CmpOp::Le,
                bound: 1.5e9,
            },
        ],
        ..Budget::default()
    };
    g.bench_function("search_top10_1M", |b| {
        b.iter(|| search(black_box(&designs), &budget, 10));
    });

    let s = CompiledSpace::compile(&space()).expect("bench space compiles");
    // 40 × 50 × 5 × 10 × 10 = 1,000,000 raw combinations.
    assert_eq!(s.upper_bound(), Some(1_000_000));
    g.bench_function("enumerate_count_1M", |b| {
        b.iter(|| s.count());
    });
    g.bench_function("enumerate_serial_1M", |b| {
        b.iter(|| s.iter().count());
    });
    g.finish();

    // The million-candidate chain without the engine: enumerate →
    // roofline (Orin, fp16, 1 × 1024 + 16) → sun2026 → frontier → top 10.
    let hw = rooflaw_stdlib::hardware::preset("jetson-agx-orin-64gb").expect("orin preset");
    let wl = Workload::new(1, 1024, 16, Precision::parse("fp16").expect("fp16"));
    let law = rooflaw_stdlib::law::preset("sun2026")
        .expect("sun2026")
        .with_extrapolate(true);
    let budget = Budget::from_preset(preset("autonomous-driving").expect("preset"));
    let mut g = c.benchmark_group("codesign_chain");
    g.sample_size(10);
    g.bench_function("enumerate_roofline_law_pareto_search_1M", |b| {
        b.iter(|| {
            let (designs, _drops) = s.par_map(|c| {
                let sum = rooflaw_stdlib::roofline::evaluate(&c.arch, &hw, &wl).ok()?;
                let loss = law.predict(&c.arch, None).ok()?;
                Some(Design {
                    arch: c.arch,
                    metrics: Metrics::from_summary(&sum),
                    loss,
                })
            });
            let front = frontier_by(&designs, |d| (d.metrics.total_s, d.loss));
            let best = search(&designs, &budget, 10);
            black_box((designs.len(), front.len(), best.feasible))
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
