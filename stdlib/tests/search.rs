//! Search: feasibility, top-k order, headline comparison, refinement.
use proptest::prelude::*;
use rooflaw_dsl::spec::CmpOp;
use rooflaw_stdlib::budget::{Budget, Limit, Metric, Metrics, Objective};
use rooflaw_stdlib::pareto::{frontier, hypervolume};
use rooflaw_stdlib::search::{Evaluated, RefineOptions, TopK, headline, refine, search};

struct D(Metrics, f64);
impl Evaluated for D {
    fn metrics(&self) -> &Metrics {
        &self.0
    }
    fn loss(&self) -> f64 {
        self.1
    }
}

fn d(total: f64, memory: f64, loss: f64) -> D {
    D(
        Metrics {
            total_s: total,
            memory_bytes: memory,
            ..Metrics::default()
        },
        loss,
    )
}

fn budget(total: f64, memory: f64) -> Budget {
    Budget {
        name: "b".into(),
        limits: vec![
            Limit {
                metric: Metric::Total,
                op: CmpOp::Lt,
                bound: total,
            },
            Limit {
                metric: Metric::Memory,
                op: CmpOp::Le,
                bound: memory,
            },
        ],
        ..Budget::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Never an infeasible design; exactly the k best feasible, in order.
    #[test]
    fn search_returns_only_the_best_feasible(
        items in prop::collection::vec((0.0..2.0f64, 0.0..2.0f64, 2.0..4.0f64), 0..300),
        k in 0usize..20,
        t in 0.0..2.0f64,
        m in 0.0..2.0f64,
    ) {
        let items: Vec<D> = items.into_iter().map(|(a, b, c)| d(a, b, c)).collect();
        let b = budget(t, m);
        let r = search(&items, &b, k);
        let mut feasible: Vec<usize> =
            (0..items.len()).filter(|&i| items[i].0.total_s < t && items[i].0.memory_bytes <= m).collect();
        prop_assert_eq!(r.feasible, feasible.len() as u64);
        prop_assert_eq!(r.total, items.len() as u64);
        feasible.sort_by(|&i, &j| items[i].1.total_cmp(&items[j].1).then(i.cmp(&j)));
        feasible.truncate(k);
        prop_assert_eq!(r.top.iter().map(|p| p.index).collect::<Vec<_>>(), feasible);
        for p in &r.top {
            prop_assert!(p.feasibility.feasible);
            prop_assert!(p.feasibility.checks.iter().all(|c| c.margin >= 0.0));
        }
    }
}

#[test]
fn streaming_top_k_merges() {
    let b = budget(1.0, 1.0);
    let mut a = TopK::new(&b, 2);
    let mut c = TopK::new(&b, 2);
    a.push(0, &d(0.5, 0.5, 3.0).0, 3.0);
    a.push(1, &d(1.5, 0.5, 1.0).0, 1.0); // too slow
    c.push(2, &d(0.5, 0.5, 2.5).0, 2.5);
    c.push(3, &d(0.5, 0.5, f64::NAN).0, f64::NAN); // unscored
    let r = a.merge(c).finish();
    assert_eq!(
        r.top.iter().map(|p| p.index).collect::<Vec<_>>(),
        vec![2, 0]
    );
    assert_eq!((r.feasible, r.total), (2, 4));
    assert!((r.top[0].perplexity - 2.5f64.exp()).abs() < 1e-12);
}

#[test]
fn headline_matches_the_papers_arithmetic() {
    // Perplexities 50.88 vs 63.14 give the paper's 19.42%.
    let (best, base) = (50.88f64.ln(), 63.14f64.ln());
    let items = [
        d(0.9, 0.0, best),
        d(1.1, 0.0, best - 0.5),
        d(0.5, 0.0, best + 0.1),
    ];
    let baseline = Metrics {
        total_s: 1.0,
        ..Metrics::default()
    };
    let h = headline(&items, &baseline, base, Objective::Total, None).unwrap();
    assert_eq!(h.best, 0); // index 1 is lower loss but slower than the baseline
    assert!(
        (h.perplexity_reduction - 0.1942).abs() < 5e-5,
        "{}",
        h.perplexity_reduction
    );
    assert!((h.best_perplexity - 50.88).abs() < 1e-9);
    // Nothing as fast as a very fast baseline: no comparison.
    let fast = Metrics {
        total_s: 0.1,
        ..Metrics::default()
    };
    assert!(headline(&items, &fast, base, Objective::Total, None).is_none());
}

/// A synthetic 2-D space: latency grows with size a·b, loss falls with it,
/// with a wiggle so the frontier is not trivially convex.
fn synthetic(p: (i32, i32)) -> Option<(f64, f64)> {
    let (a, b) = (f64::from(p.0), f64::from(p.1));
    if p.0 < 1 || p.1 < 1 || p.0 > 120 || p.1 > 120 {
        return None;
    }
    let lat = a * b * (1.0 + 0.3 * (a / b).ln().abs()) + 5.0 * a;
    let loss =
        2.0 + 30.0 / a.powf(0.6) + 20.0 / b.powf(0.4) + 0.05 * ((a * 0.7).sin() + (b * 1.3).cos());
    Some((lat, loss))
}

#[test]
fn refinement_reaches_the_exhaustive_hypervolume() {
    let all: Vec<(i32, i32)> = (1..=120)
        .flat_map(|a| (1..=120).map(move |b| (a, b)))
        .collect();
    // Latin-hypercube-like start: 24 points on a scrambled diagonal.
    let start: Vec<(i32, i32)> = (0..24).map(|i| (1 + i * 5, 1 + (i * 7 % 24) * 5)).collect();
    let r = refine(
        start,
        |p| *p,
        |p| synthetic(*p),
        |p| {
            let mut v = Vec::new();
            for (da, db) in [
                (-1, 0),
                (1, 0),
                (0, -1),
                (0, 1),
                (-1, 1),
                (1, -1),
                (2, 0),
                (0, 2),
                (-2, 0),
                (0, -2),
            ] {
                v.push((p.0 + da, p.1 + db));
            }
            v
        },
        |a, b| Some((i32::midpoint(a.0, b.0), i32::midpoint(a.1, b.1))),
        &RefineOptions {
            per_round: 200,
            max_rounds: 500,
            tol: 1e-6,
            patience: 3,
            gaps: 8,
        },
    );
    let exhaustive: Vec<(f64, f64)> = all.iter().filter_map(|p| synthetic(*p)).collect();
    let hv_all = hypervolume(&exhaustive, r.reference);
    let hv_ref = *r.hypervolumes.last().unwrap();
    eprintln!(
        "synthetic: hv {:.5} of exhaustive, {} of {} evaluated",
        hv_ref / hv_all,
        r.attempts,
        all.len()
    );
    assert!(r.converged);
    assert!(hv_ref <= hv_all * (1.0 + 1e-12));
    assert!(
        hv_ref >= 0.99 * hv_all,
        "refined {hv_ref} vs exhaustive {hv_all}"
    );
    // And with a fraction of the evaluations.
    assert!(r.attempts < all.len() / 2, "{} evaluations", r.attempts);
    assert_eq!(
        r.frontier,
        frontier(&r.evaluated.iter().map(|e| (e.1, e.2)).collect::<Vec<_>>())
    );
}

/// Refinement driven by the real enumerator: neighbours and gap midpoints
/// come from the compiled space, and the result matches exhaustive search.
#[test]
fn refinement_over_a_compiled_space() {
    use rooflaw_dsl::Span;
    use rooflaw_dsl::span::Spanned;
    use rooflaw_dsl::spec::{Expr, Space, SpaceField};
    use rooflaw_stdlib::advise::SunCoefficients;
    use rooflaw_stdlib::sample::{Method, sample};
    use rooflaw_stdlib::space::{Candidate, CompiledSpace};

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
    let s = Space {
        name: Spanned::new("s".into(), Span::default()),
        fields: vec![
            field("layers", nums((2..=32).step_by(2).map(f64::from).collect())),
            field(
                "width",
                nums((4..=32).map(|k| f64::from(k) * 64.0).collect()),
            ),
            field("ffn", nums(vec![0.5, 1.0, 2.0, 3.0, 4.0])),
        ],
        requires: vec![],
        span: Span::default(),
    };
    let space = CompiledSpace::compile(&s).unwrap();
    // Loss from the paper's law; latency ∝ decode weight traffic.
    let score = |c: &Candidate| {
        let a = &c.arch;
        let (l, d, r) = (f64::from(a.layers), f64::from(a.width), a.ffn_ratio());
        let loss = SunCoefficients::PAPER.loss(l, d, r, 1.0, a.gqa());
        Some((a.params_active() as f64 * 2.0 / 200e9, loss))
    };
    let all: Vec<Candidate> = space.iter().collect();
    let coords: Vec<Vec<f64>> = all.iter().map(|c| c.values.clone()).collect();
    let start: Vec<Candidate> = sample(&coords, 30, Method::LatinHypercube, 5)
        .into_iter()
        .map(|i| all[i].clone())
        .collect();
    let r = refine(
        start,
        Candidate::key,
        score,
        |c| space.neighbours(c),
        |a, b| space.between(a, b),
        &RefineOptions::default(),
    );
    let exhaustive: Vec<(f64, f64)> = all.iter().filter_map(score).collect();
    let hv_all = hypervolume(&exhaustive, r.reference);
    let hv = *r.hypervolumes.last().unwrap();
    eprintln!(
        "space: hv {:.5} of exhaustive, {} of {} evaluated",
        hv / hv_all,
        r.attempts,
        all.len()
    );
    assert!(hv >= 0.99 * hv_all, "refined {hv} vs exhaustive {hv_all}");
    assert!(r.attempts < all.len(), "{} of {}", r.attempts, all.len());
}
