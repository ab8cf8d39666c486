//! The calibration problem for argmin: four hardware figures in an
//! unbounded parametrisation, and the squared log error of the roofline's
//! prefill and decode predictions over the calibration points.
use argmin::core::{CostFunction, Error, Gradient};

use super::{Sample, predict};
use crate::hardware::Hardware;

/// How many hardware figures are fitted: the length of θ.
pub(super) const FIGURES: usize = 4;

/// Launch overheads are microseconds; θ₂ = 0 means 1 µs, so every
/// coordinate of θ is O(1) and one finite-difference step suits all four.
const LAUNCH_UNIT: f64 = 1e-6;

fn sigmoid(u: f64) -> f64 {
    1.0 / (1.0 + (-u).exp())
}

fn logit(x: f64) -> f64 {
    (x / (1.0 - x)).ln()
}

/// θ = (logit `eff_c`, logit `eff_m`, ln(launch / 1 µs), logit `eff_v`):
/// efficiencies stay in (0, 1) and the launch overhead positive, whatever
/// L-BFGS tries.
pub(super) fn apply(base: &Hardware, theta: &[f64]) -> Hardware {
    Hardware {
        efficiency_compute: sigmoid(theta[0]),
        efficiency_memory: sigmoid(theta[1]),
        launch: LAUNCH_UNIT * theta[2].exp(),
        efficiency_vector: Some(sigmoid(theta[3])),
        ..base.clone()
    }
}

/// The θ of `hw`'s own figures (efficiency 1 and launch 0 pulled just inside
/// the open domain).
pub(super) fn theta_of(hw: &Hardware) -> Vec<f64> {
    let eff = |e: f64| logit(e.clamp(1e-6, 1.0 - 1e-6));
    vec![
        eff(hw.efficiency_compute),
        eff(hw.efficiency_memory),
        (hw.launch.max(1e-12) / LAUNCH_UNIT).ln(),
        eff(hw.vector_efficiency()),
    ]
}

/// Start levels per coordinate, in θ: efficiencies from a few percent (a
/// small matmul on a CPU) to nearly peak, launch from 0.1 µs (a GPU graph)
/// to 100 µs (a framework's per-op dispatch on a CPU).
pub(super) fn levels() -> Vec<Vec<f64>> {
    let eff = [0.03, 0.2, 0.6, 0.95].map(logit).to_vec();
    let launch = [0.1, 3.0, 100.0].map(f64::ln).to_vec();
    let levels = vec![eff.clone(), eff.clone(), launch, eff];
    debug_assert_eq!(levels.len(), FIGURES);
    levels
}

/// Σ over the calibration points and their phases of (ln predicted −
/// ln measured)²: relative errors weigh the same for a 1 ms and a 1 s
/// point, which is what a latency model is judged by.
pub(super) struct Problem<'a> {
    pub base: &'a Hardware,
    pub samples: &'a [Sample],
    pub idx: &'a [usize],
}

impl Problem<'_> {
    pub fn value(&self, theta: &[f64]) -> f64 {
        let hw = apply(self.base, theta);
        let mut s = 0.0;
        for &i in self.idx {
            let x = &self.samples[i];
            // Samples were checked to evaluate before the fit started, and
            // θ keeps the hardware valid, so this cannot fail; a failure
            // becomes +inf so the line search backs off.
            let Ok((p, d)) = predict(&hw, x) else {
                return f64::INFINITY;
            };
            s += (p / x.prefill).ln().powi(2);
            if x.has_decode() {
                s += (d / x.decode).ln().powi(2);
            }
        }
        if s.is_nan() { f64::INFINITY } else { s }
    }

    /// Central differences: the roofline is a sum of max()es, smooth
    /// between compute/memory crossovers, and three parameters make an
    /// analytic gradient through every operator not worth its code.
    pub fn gradient(&self, theta: &[f64]) -> Vec<f64> {
        const H: f64 = 1e-6;
        (0..theta.len())
            .map(|k| {
                let mut up = theta.to_vec();
                let mut down = theta.to_vec();
                up[k] += H;
                down[k] -= H;
                (self.value(&up) - self.value(&down)) / (2.0 * H)
            })
            .collect()
    }
}

impl CostFunction for Problem<'_> {
    type Param = Vec<f64>;
    type Output = f64;
    fn cost(&self, p: &Vec<f64>) -> Result<f64, Error> {
        Ok(self.value(p))
    }
}

impl Gradient for Problem<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;
    fn gradient(&self, p: &Vec<f64>) -> Result<Vec<f64>, Error> {
        Ok(Problem::gradient(self, p))
    }
}
