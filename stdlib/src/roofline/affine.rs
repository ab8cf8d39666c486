//! Quantities that grow linearly with the context length during decode, and
//! the closed-form sum of a per-step roofline over many steps.

/// `c0 + c1·L`, a cost at context length L (keys attended per query).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Affine {
    pub c0: f64,
    pub c1: f64,
}

impl Affine {
    pub const ZERO: Affine = Affine { c0: 0.0, c1: 0.0 };

    pub const fn flat(c0: f64) -> Affine {
        Affine { c0, c1: 0.0 }
    }

    pub const fn linear(c1: f64) -> Affine {
        Affine { c0: 0.0, c1 }
    }

    pub fn at(self, l: f64) -> f64 {
        self.c1.mul_add(l, self.c0)
    }

    pub fn plus(self, o: Affine) -> Affine {
        Affine {
            c0: self.c0 + o.c0,
            c1: self.c1 + o.c1,
        }
    }

    pub fn times(self, k: f64) -> Affine {
        Affine {
            c0: self.c0 * k,
            c1: self.c1 * k,
        }
    }

    /// Σ_{L=a}^{b} (c0 + c1·L); zero for an empty range.
    pub fn sum(self, a: f64, b: f64) -> f64 {
        if b < a {
            return 0.0;
        }
        let n = b - a + 1.0;
        self.c0 * n + self.c1 * (a + b) * n / 2.0
    }
}

/// Σ_{L=a}^{b} max(p(L), q(L)) over integers, in closed form: p − q is affine,
/// so it changes sign at most once and each side of the crossover is an
/// arithmetic series. Returns the total and the part contributed by steps
/// where p ≥ q (for a roofline: the compute-bound steps).
pub(crate) fn sum_max(p: Affine, q: Affine, a: u64, b: u64) -> (f64, f64) {
    if b < a {
        return (0.0, 0.0);
    }
    let (af, bf) = (a as f64, b as f64);
    let d0 = p.c0 - q.c0;
    let d1 = p.c1 - q.c1;
    // First (or last) integer L in [a, b] where p ≥ q, as a split point.
    let (p_lo, p_hi, q_lo, q_hi) = if d1 == 0.0 {
        if d0 >= 0.0 {
            (af, bf, 1.0, 0.0)
        } else {
            (1.0, 0.0, af, bf)
        }
    } else {
        let root = -d0 / d1;
        if d1 > 0.0 {
            // p ≥ q for L ≥ root.
            let k = root.ceil().clamp(af, bf + 1.0);
            (k, bf, af, k - 1.0)
        } else {
            // p ≥ q for L ≤ root.
            let k = root.floor().clamp(af - 1.0, bf);
            (af, k, k + 1.0, bf)
        }
    };
    let on_p = p.sum(p_lo, p_hi);
    (on_p + q.sum(q_lo, q_hi), on_p)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn looped(p: Affine, q: Affine, a: u64, b: u64) -> (f64, f64) {
        (a..=b).fold((0.0, 0.0), |(t, on_p), l| {
            let (x, y) = (p.at(l as f64), q.at(l as f64));
            if x >= y {
                (t + x, on_p + x)
            } else {
                (t + y, on_p)
            }
        })
    }

    #[test]
    fn crossover_inside_the_range_is_split_exactly() {
        // p = L, q = 10: q wins for L < 10, p from L = 10 on.
        let (p, q) = (Affine::linear(1.0), Affine::flat(10.0));
        assert_eq!(
            sum_max(p, q, 1, 20),
            (9.0 * 10.0 + (10..=20).sum::<u64>() as f64, 165.0)
        );
        // p = 30 − L, q = 10: p wins up to L = 20.
        let p = Affine { c0: 30.0, c1: -1.0 };
        assert_eq!(sum_max(p, q, 1, 25), looped(p, q, 1, 25));
        assert_eq!(sum_max(p, q, 5, 4), (0.0, 0.0));
    }

    proptest! {
        #[test]
        fn closed_form_equals_the_loop(
            p0 in -1e3f64..1e3, p1 in -10f64..10.0, q0 in -1e3f64..1e3, q1 in -10f64..10.0,
            a in 0u64..2000, n in 0u64..500,
        ) {
            let (p, q) = (Affine { c0: p0, c1: p1 }, Affine { c0: q0, c1: q1 });
            let b = a + n;
            let (t, on_p) = sum_max(p, q, a, b);
            let (lt, lp) = looped(p, q, a, b);
            let tol = 1e-9 * (1.0 + lt.abs() + (n as f64) * 1e4);
            prop_assert!((t - lt).abs() <= tol, "total {t} vs {lt}");
            prop_assert!((on_p - lp).abs() <= tol, "p part {on_p} vs {lp}");
        }
    }
}
