//! Sampling: determinism, no repeats, stratification.
use rooflaw_stdlib::sample::{Method, latin_hypercube, ordinals, pick, sample};

#[test]
fn random_is_deterministic_distinct_and_in_range() {
    let a = ordinals(1_000_000_000, 500, Method::Random, 7);
    assert_eq!(a, ordinals(1_000_000_000, 500, Method::Random, 7));
    assert_ne!(a, ordinals(1_000_000_000, 500, Method::Random, 8));
    assert_eq!(a.len(), 500);
    assert!(a.windows(2).all(|w| w[0] < w[1]) && *a.last().unwrap() < 1_000_000_000);
}

#[test]
fn random_is_roughly_uniform() {
    // 5,000 of 10,000: each half should get close to 2,500.
    let a = ordinals(10_000, 5_000, Method::Random, 3);
    let low = a.iter().filter(|&&i| i < 5_000).count();
    assert!((2_350..=2_650).contains(&low), "{low}");
}

#[test]
fn lhs_covers_every_stratum_of_each_coordinate() {
    // A full 20×20 grid: an LHS of 10 must put exactly one pick in each
    // tenth of each axis (the grid has a point in every stratum).
    let coords: Vec<Vec<f64>> = (0..20)
        .flat_map(|i| (0..20).map(move |j| vec![f64::from(i), f64::from(j) * 100.0]))
        .collect();
    let picks = latin_hypercube(&coords, 10, 42);
    assert_eq!(picks.len(), 10);
    for (k, scale) in [(0, 19.0), (1, 1900.0)] {
        let mut strata: Vec<usize> = picks
            .iter()
            .map(|&p| {
                let x = coords[p][k] / scale;
                ((x * 10.0) as usize).min(9)
            })
            .collect();
        strata.sort_unstable();
        strata.dedup();
        assert_eq!(strata, (0..10).collect::<Vec<_>>(), "axis {k}");
    }
    let mut uniq = picks.clone();
    uniq.sort_unstable();
    uniq.dedup();
    assert_eq!(uniq.len(), 10, "without replacement");
    assert_eq!(picks, latin_hypercube(&coords, 10, 42));
}

#[test]
fn asking_for_more_than_there_is_returns_everything() {
    let coords = vec![vec![1.0], vec![2.0]];
    for m in [Method::Grid, Method::Random, Method::LatinHypercube] {
        assert_eq!(sample(&coords, 5, m, 0), vec![0, 1]);
    }
    assert!(sample(&coords, 0, Method::LatinHypercube, 0).is_empty());
    assert_eq!(
        Method::from_name("latin_hypercube"),
        Some(Method::LatinHypercube)
    );
}

#[test]
fn pick_draws_ordinals_from_a_stream() {
    let ords = ordinals(1_000, 4, Method::Grid, 0);
    assert_eq!(ords, vec![125, 375, 625, 875]);
    assert_eq!(
        pick((0..1_000).map(|i| i * 10), &ords),
        vec![1_250, 3_750, 6_250, 8_750]
    );
}
