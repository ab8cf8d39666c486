//! The O(n log n) frontier against the O(n²) definition (paper Eq. 5).
use proptest::prelude::*;
use rooflaw_stdlib::pareto::{frontier, frontier_by_group, hypervolume};

/// Eq. 5 by brute force: i is kept unless some j is at least as good in both
/// and strictly better in one, or j is an identical point with a lower index.
fn brute(points: &[(f64, f64)]) -> Vec<usize> {
    let mut out: Vec<usize> = (0..points.len())
        .filter(|&i| {
            let p = points[i];
            p.0.is_finite()
                && p.1.is_finite()
                && !points.iter().enumerate().any(|(j, q)| {
                    let dominates = q.0 <= p.0 && q.1 <= p.1 && (q.0 < p.0 || q.1 < p.1);
                    let earlier_twin =
                        q.0.total_cmp(&p.0).is_eq() && q.1.total_cmp(&p.1).is_eq() && j < i;
                    dominates || earlier_twin
                })
        })
        .collect();
    out.sort_by(|&a, &b| points[a].0.total_cmp(&points[b].0));
    out
}

/// Coordinates from a small grid so ties in one or both coordinates are common.
fn point() -> impl Strategy<Value = (f64, f64)> {
    prop_oneof![
        (0u8..12, 0u8..12).prop_map(|(a, b)| (f64::from(a), f64::from(b))),
        (0.0..1.0f64, 0.0..1.0f64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn matches_brute_force(points in prop::collection::vec(point(), 0..200)) {
        prop_assert_eq!(frontier(&points), brute(&points));
    }

    #[test]
    fn groups_match_brute_force_per_group(
        items in prop::collection::vec((0u8..3, point()), 0..150)
    ) {
        let got = frontier_by_group(&items, |t| t.0, |t| t.1);
        for (g, idx) in got {
            let members: Vec<usize> = (0..items.len()).filter(|&i| items[i].0 == g).collect();
            let pts: Vec<(f64, f64)> = members.iter().map(|&i| items[i].1).collect();
            let want: Vec<usize> = brute(&pts).into_iter().map(|j| members[j]).collect();
            prop_assert_eq!(idx, want);
        }
    }

    #[test]
    fn hypervolume_never_exceeds_the_box_and_ignores_dominated(
        points in prop::collection::vec((0.0..1.0f64, 0.0..1.0f64), 1..100)
    ) {
        let hv = hypervolume(&points, (1.0, 1.0));
        prop_assert!((0.0..=1.0).contains(&hv));
        let front: Vec<(f64, f64)> = frontier(&points).into_iter().map(|i| points[i]).collect();
        prop_assert!((hypervolume(&front, (1.0, 1.0)) - hv).abs() < 1e-12);
    }
}

#[test]
fn ties_keep_one_representative_and_nan_is_excluded() {
    let pts = [
        (1.0, 1.0),
        (1.0, 1.0),
        (0.5, 2.0),
        (f64::NAN, 0.1),
        (2.0, f64::INFINITY),
    ];
    assert_eq!(frontier(&pts), vec![2, 0]);
}
