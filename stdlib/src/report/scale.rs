//! Axis scales: data value to pixel, padded domains and readable ticks.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Linear,
    Log,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Scale {
    pub(crate) kind: Kind,
    pub(crate) lo: f64,
    pub(crate) hi: f64,
    px_lo: f64,
    px_hi: f64,
}

impl Scale {
    /// A scale covering every value in `values` with a little padding, mapped
    /// onto `px_lo..px_hi` (which may run backwards, as the y axis does).
    /// Values a log scale cannot show (≤ 0, non-finite) are ignored; an empty
    /// set gives a unit domain.
    pub(crate) fn fit(
        kind: Kind,
        values: impl IntoIterator<Item = f64>,
        px_lo: f64,
        px_hi: f64,
    ) -> Self {
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values {
            if v.is_finite() && (kind == Kind::Linear || v > 0.0) {
                lo = lo.min(v);
                hi = hi.max(v);
            }
        }
        let (lo, hi) = match kind {
            Kind::Linear => pad_linear(lo, hi),
            Kind::Log => pad_log(lo, hi),
        };
        Self {
            kind,
            lo,
            hi,
            px_lo,
            px_hi,
        }
    }

    fn t(&self, v: f64) -> f64 {
        match self.kind {
            Kind::Linear => (v - self.lo) / (self.hi - self.lo),
            Kind::Log => (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10()),
        }
    }

    pub(crate) fn px(&self, v: f64) -> f64 {
        self.px_lo + self.t(v) * (self.px_hi - self.px_lo)
    }

    #[cfg(test)]
    pub(crate) fn contains(&self, v: f64) -> bool {
        v >= self.lo && v <= self.hi
    }

    /// Major ticks inside the domain: decades (with 2 and 5 between them when
    /// the domain spans few decades) on a log scale, 1-2-5 steps on a linear
    /// one.
    pub(crate) fn ticks(&self) -> Vec<f64> {
        match self.kind {
            Kind::Linear => linear_ticks(self.lo, self.hi, 6),
            Kind::Log => log_ticks(self.lo, self.hi),
        }
    }
}

fn pad_linear(lo: f64, hi: f64) -> (f64, f64) {
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        let d = (lo.abs() * 0.05).max(0.5);
        return (lo - d, hi + d);
    }
    let d = (hi - lo) * 0.06;
    (lo - d, hi + d)
}

fn pad_log(lo: f64, hi: f64) -> (f64, f64) {
    if !lo.is_finite() {
        return (1.0, 10.0);
    }
    let (a, b) = (lo.log10(), hi.log10());
    let pad = ((b - a) * 0.06).max(0.15);
    (10f64.powf(a - pad), 10f64.powf(b + pad))
}

fn linear_ticks(lo: f64, hi: f64, target: usize) -> Vec<f64> {
    let raw = (hi - lo) / target as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * mag)
        .find(|s| (hi - lo) / s <= target as f64)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    // Multiplying an integer by the step (rather than accumulating) keeps
    // 0.30000000000000004 out of the labels' inputs.
    (first..=last).map(|k| k as f64 * step).collect()
}

fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let (a, b) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
    let decades = b - a;
    let stride = (decades / 8).max(1);
    let span = hi.log10() - lo.log10();
    let mantissas: &[f64] = if span <= 3.0 {
        &[1.0, 2.0, 5.0]
    } else {
        &[1.0]
    };
    let mut out = Vec::new();
    for e in (a..=b).filter(|e| (e - a) % stride == 0) {
        for m in mantissas {
            let v = m * 10f64.powi(e);
            if v >= lo && v <= hi {
                out.push(v);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_scale_maps_decades_evenly_and_ticks_on_decades() {
        let s = Scale::fit(Kind::Log, [1e-3, 1.0], 0.0, 300.0);
        assert!(s.lo < 1e-3 && s.hi > 1.0);
        let d1 = s.px(1e-2) - s.px(1e-3);
        let d2 = s.px(1e-1) - s.px(1e-2);
        assert!((d1 - d2).abs() < 1e-9);
        assert_eq!(s.ticks(), vec![1e-3, 1e-2, 1e-1, 1.0]);
    }

    #[test]
    fn narrow_log_domain_gets_two_and_five() {
        let s = Scale::fit(Kind::Log, [0.012, 0.09], 0.0, 100.0);
        assert_eq!(s.ticks(), vec![0.01, 0.02, 0.05, 0.1]);
    }

    #[test]
    fn linear_ticks_are_round_and_inside() {
        let s = Scale::fit(Kind::Linear, [2.9, 3.6], 400.0, 0.0);
        let t = s.ticks();
        assert!(t.len() >= 3 && t.len() <= 8, "{t:?}");
        assert!(t.iter().all(|v| s.contains(*v)));
        assert!(
            t.iter()
                .all(|v| ((v * 10.0).round() - v * 10.0).abs() < 1e-9),
            "{t:?}"
        );
        // y runs backwards: larger values nearer the top.
        assert!(s.px(3.5) < s.px(3.0));
    }

    #[test]
    fn degenerate_domains_do_not_divide_by_zero() {
        for kind in [Kind::Linear, Kind::Log] {
            for vals in [vec![], vec![5.0], vec![5.0, 5.0]] {
                let s = Scale::fit(kind, vals, 0.0, 100.0);
                assert!(s.hi > s.lo);
                assert!(s.px(f64::midpoint(s.lo, s.hi)).is_finite());
            }
        }
    }
}
