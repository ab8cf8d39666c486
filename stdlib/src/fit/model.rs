//! A form prepared for fitting: its data in the shape its log-prediction
//! wants, its unconstrained parametrisation θ, and the log-space Huber
//! objective over a subset of points (a holdout split or a bootstrap sample
//! is just a list of indices).
use argmin::core::{CostFunction, Error, Gradient};

use crate::law::{self, CoefSpec, CustomForm, Form, Var, Vars};

pub(crate) enum Model<'a> {
    /// Rows of [ln N, ln D].
    Chinchilla(Vec<[f64; 2]>),
    /// Rows of [ln l, ln d, ln r, ln ρ, ln `d_m`].
    Sun2026(Vec<[f64; 5]>),
    Custom(&'a CustomForm, Vec<Vars>),
}

/// How a bounded coefficient maps onto the real line.
#[derive(Clone, Copy)]
enum Map {
    Identity,
    /// x = lo + exp(u)
    Above(f64),
    /// x = hi − exp(u)
    Below(f64),
    /// x = lo + (hi − lo)·σ(u)
    Between(f64, f64),
}

impl Map {
    fn of(c: &CoefSpec) -> Self {
        match (c.lo.is_finite(), c.hi.is_finite()) {
            (false, false) => Map::Identity,
            (true, false) => Map::Above(c.lo),
            (false, true) => Map::Below(c.hi),
            (true, true) => Map::Between(c.lo, c.hi),
        }
    }
    /// (x, dx/du)
    fn forward(self, u: f64) -> (f64, f64) {
        match self {
            Map::Identity => (u, 1.0),
            Map::Above(lo) => (lo + u.exp(), u.exp()),
            Map::Below(hi) => (hi - u.exp(), -u.exp()),
            Map::Between(lo, hi) => {
                let s = 1.0 / (1.0 + (-u).exp());
                (lo + (hi - lo) * s, (hi - lo) * s * (1.0 - s))
            }
        }
    }
    fn inverse(self, x: f64) -> f64 {
        match self {
            Map::Identity => x,
            Map::Above(lo) => (x - lo).ln(),
            Map::Below(hi) => (hi - x).ln(),
            Map::Between(lo, hi) => {
                let s = (x - lo) / (hi - lo);
                (s / (1.0 - s)).ln()
            }
        }
    }
    /// Start values in natural units, spread over the interval.
    fn levels(self) -> Vec<f64> {
        match self {
            Map::Identity => vec![-1.0, 0.0, 1.0],
            Map::Above(lo) => [0.1, 1.0, 10.0].map(|x| lo + x).to_vec(),
            Map::Below(hi) => [0.1, 1.0, 10.0].map(|x| hi - x).to_vec(),
            Map::Between(lo, hi) if lo > 0.0 && hi / lo >= 100.0 => [0.1, 0.3, 0.5, 0.7, 0.9]
                .map(|f| lo * (hi / lo).powf(f))
                .to_vec(),
            Map::Between(lo, hi) => [0.1, 0.3, 0.5, 0.7, 0.9]
                .map(|f| lo + (hi - lo) * f)
                .to_vec(),
        }
    }
}

impl<'a> Model<'a> {
    /// The caller has checked every point gives the form's variables.
    pub fn new(form: &'a Form, points: &[Vars]) -> Self {
        let ln = |v: &Vars, var| v.get(var).unwrap_or(f64::NAN).ln();
        match form {
            Form::Chinchilla => Model::Chinchilla(
                points
                    .iter()
                    .map(|v| [ln(v, Var::Params), ln(v, Var::Tokens)])
                    .collect(),
            ),
            Form::Sun2026 => Model::Sun2026(
                points
                    .iter()
                    .map(|v| {
                        [Var::Layers, Var::Width, Var::FfnRatio, Var::Rho, Var::KvDim]
                            .map(|var| ln(v, var))
                    })
                    .collect(),
            ),
            Form::Custom(c) => Model::Custom(c, points.to_vec()),
        }
    }

    pub fn dim(&self) -> usize {
        match self {
            Model::Chinchilla(_) => 5,
            Model::Sun2026(_) => 11,
            Model::Custom(c, _) => c.coefficients().len(),
        }
    }

    fn maps(&self) -> Vec<Map> {
        let log = |flags: &[bool]| {
            flags
                .iter()
                .map(|&l| if l { Map::Above(0.0) } else { Map::Identity })
                .collect()
        };
        match self {
            Model::Chinchilla(_) => log(&law::CHINCHILLA_LOG_SCALED),
            Model::Sun2026(_) => log(&law::SUN2026_LOG_SCALED),
            Model::Custom(c, _) => c.coefficients().iter().map(Map::of).collect(),
        }
    }

    /// The coefficients (by index) that sit on a bound of their range: the
    /// optimum is there, or beyond it, rather than inside.
    pub fn at_bounds(&self, coefs: &[f64]) -> Vec<usize> {
        const NEAR: f64 = 1e-6;
        self.maps()
            .iter()
            .zip(coefs)
            .enumerate()
            .filter(|&(_, (m, &x))| match *m {
                Map::Identity => false,
                Map::Above(lo) => x - lo <= NEAR * lo.abs().max(1.0),
                Map::Below(hi) => hi - x <= NEAR * hi.abs().max(1.0),
                Map::Between(lo, hi) => {
                    let s = (x - lo) / (hi - lo);
                    s <= NEAR || s >= 1.0 - NEAR
                }
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// θ → coefficient values in the form's order.
    pub fn coefficients(&self, theta: &[f64]) -> Vec<f64> {
        self.maps()
            .iter()
            .zip(theta)
            .map(|(m, &u)| m.forward(u).0)
            .collect()
    }

    /// Start levels per θ coordinate.
    pub fn grid(&self) -> Vec<Vec<f64>> {
        match self {
            Model::Chinchilla(_) => law::chinchilla_grid(),
            Model::Sun2026(_) => {
                let maps = self.maps();
                law::sun2026_grid()
                    .into_iter()
                    .zip(maps)
                    .map(|(lv, m)| lv.into_iter().map(|x| m.inverse(x)).collect())
                    .collect()
            }
            Model::Custom(..) => self
                .maps()
                .into_iter()
                .map(|m| m.levels().into_iter().map(|x| m.inverse(x)).collect())
                .collect(),
        }
    }

    /// ln of the prediction at point `i`, and its θ-gradient into `g` when
    /// given. NaN when the prediction is not positive (a custom form can go
    /// negative; its logarithm then does not exist).
    pub fn ln_pred(&self, theta: &[f64], i: usize, g: Option<&mut [f64]>) -> f64 {
        match self {
            Model::Chinchilla(x) => law::chinchilla_ln_pred(theta, &x[i], g),
            Model::Sun2026(x) => law::sun2026_ln_pred(theta, &x[i], g),
            Model::Custom(form, vars) => {
                let maps = self.maps();
                let (coef, dcoef): (Vec<f64>, Vec<f64>) =
                    maps.iter().zip(theta).map(|(m, &u)| m.forward(u)).unzip();
                let f: f64 = form.eval(&coef, &vars[i]);
                if !(f > 0.0 && f.is_finite()) {
                    return f64::NAN;
                }
                if let Some(g) = g {
                    let mut buf = Vec::with_capacity(coef.len());
                    for k in 0..coef.len() {
                        let d = form.eval_dual(&coef, k, &vars[i], &mut buf);
                        g[k] = d.d * dcoef[k] / f;
                    }
                }
                f.ln()
            }
        }
    }

    /// The prediction itself (for statistics).
    pub fn predict(&self, theta: &[f64], i: usize) -> f64 {
        self.ln_pred(theta, i, None).exp()
    }
}

/// Σ `Huber_δ(ln` L̂ᵢ − ln Lᵢ) over the points in `idx` (repeats count twice).
/// A sum, not a mean: Besiroglu et al. trace part of Chinchilla's odd fit to
/// averaging, which shrinks the loss scale against the stopping tolerances.
pub(crate) struct Objective<'m, 'a> {
    pub model: &'m Model<'a>,
    pub ln_loss: &'m [f64],
    pub idx: &'m [usize],
    pub delta: f64,
}

fn huber(r: f64, d: f64) -> f64 {
    if r.abs() <= d {
        0.5 * r * r
    } else {
        d * (r.abs() - 0.5 * d)
    }
}

fn dhuber(r: f64, d: f64) -> f64 {
    if r.abs() <= d { r } else { d * r.signum() }
}

impl Objective<'_, '_> {
    pub fn value(&self, theta: &[f64]) -> f64 {
        let mut s = 0.0;
        for &i in self.idx {
            s += huber(
                self.model.ln_pred(theta, i, None) - self.ln_loss[i],
                self.delta,
            );
        }
        // NaN (a non-positive prediction somewhere) becomes +inf so the line
        // search backs off rather than the whole start failing.
        if s.is_nan() { f64::INFINITY } else { s }
    }

    pub fn gradient(&self, theta: &[f64]) -> Vec<f64> {
        let n = theta.len();
        let mut g = vec![0.0; n];
        let mut gi = vec![0.0; n];
        for &i in self.idx {
            let lp = self.model.ln_pred(theta, i, Some(&mut gi));
            let h = dhuber(lp - self.ln_loss[i], self.delta);
            for k in 0..n {
                g[k] += h * gi[k];
            }
        }
        g
    }
}

impl CostFunction for Objective<'_, '_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> Result<f64, Error> {
        Ok(self.value(p))
    }
}

impl Gradient for Objective<'_, '_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, Error> {
        Ok(Objective::gradient(self, p))
    }
}
