//! The fitter on real data: Epoch AI's digitisation of Chinchilla's runs
//! (fixtures/fit/README.md), against their published refit.
use std::time::Instant;

use rooflaw_stdlib::fit::{FitOptions, Point, fit};
use rooflaw_stdlib::law::{Form, Law, Var, Vars};

/// Rows of (params, tokens = FLOP / 6N, loss), in file order.
fn epoch_points() -> Vec<Point> {
    let text = include_str!("fixtures/fit/chinchilla-svg-extracted-epoch2024.csv");
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name| header.iter().position(|h| *h == name).unwrap();
    let (n, flop, loss) = (col("Model Size"), col("Training FLOP"), col("loss"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let num = |i: usize| f[i].parse::<f64>().unwrap();
            Point {
                vars: Vars::new()
                    .with(Var::Params, num(n))
                    .with(Var::Tokens, num(flop) / (6.0 * num(n))),
                loss: num(loss),
            }
        })
        .collect()
}

/// Epoch drop five outliers before fitting. They are the file's first five
/// rows: the five highest losses, which are also the five runs with the
/// fewest tokens per parameter (0.04 to 0.4), far off the rest.
fn without_outliers(mut points: Vec<Point>) -> Vec<Point> {
    points.sort_by(|a, b| b.loss.total_cmp(&a.loss));
    points.split_off(5)
}

/// Σ Huber_1e-3(ln L̂ − ln L), computed independently of the fitter.
fn huber_objective(points: &[Point], c: &[f64]) -> f64 {
    let law = Law::new("x", Form::Chinchilla, c.to_vec()).unwrap();
    points
        .iter()
        .map(|p| {
            let r = law.predict_vars(&p.vars).unwrap().ln() - p.loss.ln();
            if r.abs() <= 1e-3 {
                0.5 * r * r
            } else {
                1e-3 * (r.abs() - 0.5e-3)
            }
        })
        .sum()
}

#[test]
fn reproduces_epochs_chinchilla_refit() {
    let points = without_outliers(epoch_points());
    assert_eq!(points.len(), 240);
    // Epoch's notebook: Huber δ 1e-3 on ln loss, L-BFGS over their 4,500-point grid.
    let opts = FitOptions {
        huber_delta: 1e-3,
        starts: 4500,
        ..FitOptions::default()
    };
    let t = Instant::now();
    let r = fit(&points, &Form::Chinchilla, &opts).unwrap();
    let secs = t.elapsed().as_secs_f64();
    eprintln!(
        "epoch fit: {:?} in {secs:.2} s, {} starts, |grad| {:.1e}, objective {:.6e}, train {:?}",
        r.law.values(),
        r.starts_run,
        r.gradient_norm,
        r.objective,
        r.train
    );
    // Besiroglu et al. 2024, published: E 1.81686, A 482.006, B 2085.434,
    // α 0.34781, β 0.36585. E, A, α and β come out within 1%; B, whose
    // standard error Epoch give as 1293 (62%), comes out 2.8% higher. The
    // published point is not the optimum of the stated objective on this
    // data: its objective is higher than ours (checked below), and our
    // optimum is the one Epoch's own notebook prints as its grid best
    // (A 477.84, B 2143.86, E 1.8172, α 0.34731, β 0.36718; peers-roofline
    // §2.10), which we match to 5e-4.
    let published = [
        ("e", 1.81686, 0.02),
        ("a", 482.006, 0.02),
        ("b", 2085.434, 0.03),
        ("alpha", 0.34781, 0.02),
        ("beta", 0.36585, 0.02),
    ];
    for (name, want, tol) in published {
        let got = r.law.coefficient(name).unwrap();
        assert!(
            ((got - want) / want).abs() < tol,
            "{name}: {got} vs Epoch's {want}"
        );
    }
    let grid_best = [
        ("e", 1.8172),
        ("a", 477.84),
        ("b", 2143.86),
        ("alpha", 0.34731),
        ("beta", 0.36718),
    ];
    for (name, want) in grid_best {
        let got = r.law.coefficient(name).unwrap();
        assert!(
            ((got - want) / want).abs() < 5e-4,
            "{name}: {got} vs Epoch's grid best {want}"
        );
    }
    let at_published =
        huber_objective(&points, &[1.81686, 482.00572, 2085.43420, 0.34781, 0.36585]);
    assert!(
        r.objective < at_published,
        "{} vs {at_published}",
        r.objective
    );
    assert!(r.converged);
    assert!(r.gradient_norm < 1e-6, "{}", r.gradient_norm);
    assert_eq!(r.starts_run, 4500);
}

#[test]
fn epoch_bootstrap_intervals_bracket_the_fit() {
    let points = without_outliers(epoch_points());
    let opts = FitOptions {
        starts: 64,
        bootstrap: 200,
        seed: 1,
        ..FitOptions::default()
    };
    let t = Instant::now();
    let r = fit(&points, &Form::Chinchilla, &opts).unwrap();
    eprintln!(
        "bootstrap: {:?} in {:.2} s",
        r.intervals,
        t.elapsed().as_secs_f64()
    );
    let iv = r.intervals.as_ref().unwrap();
    for ((name, v), (lo, hi)) in r.law.coefficients().zip(iv) {
        assert!(lo <= &v && &v <= hi, "{name}: {v} outside [{lo}, {hi}]");
    }
    // Epoch's 95% bootstrap intervals: α (0.317, 0.373), β (0.331, 0.415),
    // E (1.769, 1.871). Resampling differs, so compare loosely.
    let alpha = iv[3];
    assert!(
        (0.28..0.34).contains(&alpha.0) && (0.35..0.41).contains(&alpha.1),
        "{alpha:?}"
    );
    let e = iv[0];
    assert!(
        (1.70..1.81).contains(&e.0) && (1.82..1.95).contains(&e.1),
        "{e:?}"
    );
    // Same seed, same intervals.
    assert_eq!(
        fit(&points, &Form::Chinchilla, &opts).unwrap().intervals,
        r.intervals
    );
}
