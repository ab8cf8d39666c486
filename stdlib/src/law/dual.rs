//! Forward-mode dual numbers: a value and its derivative along one direction.
//! A custom form is evaluated once per coefficient with that coefficient's
//! derivative seeded to 1, which gives L-BFGS an exact gradient for any
//! expression a user writes.
use std::ops::{Add, Div, Mul, Neg, Sub};

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Dual {
    pub v: f64,
    pub d: f64,
}

/// What an expression needs of a number: f64 for plain evaluation, [`Dual`]
/// for derivatives.
pub(crate) trait Scalar:
    Copy
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
{
    fn constant(v: f64) -> Self;
    fn value(self) -> f64;
    fn powf(self, e: Self) -> Self;
    fn ln(self) -> Self;
    fn exp(self) -> Self;
    fn sqrt(self) -> Self;
    /// For floor, round, ceil: piecewise constant, so derivative 0.
    fn map_const(self, f: fn(f64) -> f64) -> Self;
}

impl Scalar for f64 {
    fn constant(v: f64) -> Self {
        v
    }
    fn value(self) -> f64 {
        self
    }
    fn powf(self, e: Self) -> Self {
        f64::powf(self, e)
    }
    fn ln(self) -> Self {
        f64::ln(self)
    }
    fn exp(self) -> Self {
        f64::exp(self)
    }
    fn sqrt(self) -> Self {
        f64::sqrt(self)
    }
    fn map_const(self, f: fn(f64) -> f64) -> Self {
        f(self)
    }
}

impl Dual {
    #[cfg(test)]
    pub fn var(v: f64) -> Self {
        Self { v, d: 1.0 }
    }
}

impl Add for Dual {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self {
            v: self.v + o.v,
            d: self.d + o.d,
        }
    }
}
impl Sub for Dual {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self {
            v: self.v - o.v,
            d: self.d - o.d,
        }
    }
}
impl Mul for Dual {
    type Output = Self;
    fn mul(self, o: Self) -> Self {
        Self {
            v: self.v * o.v,
            d: self.d * o.v + self.v * o.d,
        }
    }
}
impl Div for Dual {
    type Output = Self;
    fn div(self, o: Self) -> Self {
        Self {
            v: self.v / o.v,
            d: (self.d * o.v - self.v * o.d) / (o.v * o.v),
        }
    }
}
impl Neg for Dual {
    type Output = Self;
    fn neg(self) -> Self {
        Self {
            v: -self.v,
            d: -self.d,
        }
    }
}

impl Scalar for Dual {
    fn constant(v: f64) -> Self {
        Self { v, d: 0.0 }
    }
    fn value(self) -> f64 {
        self.v
    }
    fn powf(self, e: Self) -> Self {
        let v = self.v.powf(e.v);
        // d(x^y) = y x^(y-1) dx + x^y ln x dy; the second part only when y
        // varies, so that a constant exponent works for x <= 0 too.
        let mut d = 0.0;
        if self.d != 0.0 {
            d += e.v * self.v.powf(e.v - 1.0) * self.d;
        }
        if e.d != 0.0 {
            d += v * self.v.ln() * e.d;
        }
        Self { v, d }
    }
    fn ln(self) -> Self {
        Self {
            v: self.v.ln(),
            d: self.d / self.v,
        }
    }
    fn exp(self) -> Self {
        let v = self.v.exp();
        Self { v, d: v * self.d }
    }
    fn sqrt(self) -> Self {
        let v = self.v.sqrt();
        Self {
            v,
            d: self.d / (2.0 * v),
        }
    }
    fn map_const(self, f: fn(f64) -> f64) -> Self {
        Self {
            v: f(self.v),
            d: 0.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derivatives_match_finite_differences() {
        // f(x) = x^1.5 / (2 + ln x) + exp(-x) · sqrt(x), at x = 3.
        fn f<T: Scalar>(x: T) -> T {
            x.powf(T::constant(1.5)) / (T::constant(2.0) + x.ln()) + (-x).exp() * x.sqrt()
        }
        let x = 3.0;
        let h = 1e-6;
        let fd = (f(x + h) - f(x - h)) / (2.0 * h);
        let ad = f(Dual::var(x));
        assert!((ad.v - f(x)).abs() < 1e-15);
        assert!((ad.d - fd).abs() < 1e-8, "{} vs {fd}", ad.d);
        // Derivative with respect to an exponent: d/dy 2^y = 2^y ln 2.
        let y = Dual::constant(2.0).powf(Dual::var(0.5));
        assert!((y.d - 2f64.sqrt() * 2f64.ln()).abs() < 1e-14);
    }
}
