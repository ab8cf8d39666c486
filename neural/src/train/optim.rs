//! AdamW with decoupled weight decay, the warm-up + cosine schedule, and
//! global-norm gradient clipping. Written here rather than using
//! `candle_nn::AdamW` because checkpoints need the moment estimates.
use super::fused::with_f32;
use super::ops::fusable;
use super::vecmath::dot;
use candle_core::{Result, Tensor, Var, backprop::GradStore};
use rayon::prelude::*;

pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.95;
pub const EPS: f64 = 1e-8;
pub const WEIGHT_DECAY: f64 = 0.01;

/// One parameter with its first and second moment estimates.
pub struct Slot {
    pub name: String,
    pub var: Var,
    pub m: Var,
    pub v: Var,
    /// Weight decay applies to matrices only, not to norm gains or biases
    /// (the usual GPT/Qwen recipe).
    decay: bool,
}

pub struct AdamW {
    pub slots: Vec<Slot>,
    /// Completed optimizer steps (the bias-correction exponent).
    pub step: u64,
}

impl AdamW {
    pub fn new(vars: Vec<(String, Var)>) -> Result<Self> {
        let slots = vars
            .into_iter()
            .map(|(name, var)| {
                let z = var.as_tensor().zeros_like()?;
                Ok(Slot {
                    decay: var.rank() >= 2,
                    m: Var::from_tensor(&z)?,
                    v: Var::from_tensor(&z)?,
                    name,
                    var,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { slots, step: 0 })
    }

    /// Global L2 norm of the gradients of all slots (missing gradients count
    /// as zero).
    pub fn grad_norm(&self, grads: &GradStore) -> Result<f64> {
        let squares = self
            .slots
            .par_iter()
            .filter_map(|s| grads.get(s.var.as_tensor()))
            .map(|g| {
                if fusable(g) {
                    with_f32(g, |g| Ok(f64::from(dot(g, g))))
                } else {
                    Ok(f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?))
                }
            })
            .collect::<Result<Vec<f64>>>()?;
        Ok(squares.iter().sum::<f64>().sqrt())
    }

    /// One update at learning rate `lr`, gradients scaled by `grad_scale`
    /// (the clipping factor). On the CPU each parameter is one pass over
    /// plain slices, the parameters in parallel; elsewhere candle ops.
    pub fn step(&mut self, grads: &GradStore, lr: f64, grad_scale: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let k = Coefficients {
            lr,
            grad_scale,
            bc1: 1.0 - BETA1.powi(t),
            bc2: 1.0 - BETA2.powi(t),
        };
        self.slots
            .par_iter()
            .try_for_each(|s| match grads.get(s.var.as_tensor()) {
                Some(g) if fusable(g) && fusable(&s.var) => s.update_cpu(g, &k),
                Some(g) => s.update(g, &k),
                None => Ok(()),
            })
    }
}

/// The scalars of one step.
struct Coefficients {
    lr: f64,
    grad_scale: f64,
    /// Bias corrections `1 − βᵗ`.
    bc1: f64,
    bc2: f64,
}

impl Slot {
    /// [`AdamW::step`] for one parameter from candle ops.
    fn update(&self, g: &Tensor, k: &Coefficients) -> Result<()> {
        let (lr, grad_scale, bc1, bc2) = (k.lr, k.grad_scale, k.bc1, k.bc2);
        let g = if (grad_scale - 1.0).abs() > f64::EPSILON {
            g.affine(grad_scale, 0.0)?
        } else {
            g.clone()
        };
        let m = ((self.m.as_tensor() * BETA1)? + (&g * (1.0 - BETA1))?)?;
        let v = ((self.v.as_tensor() * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?;
        let update = ((&m * (1.0 / bc1))? / ((&v * (1.0 / bc2))?.sqrt()? + EPS)?)?;
        let p = self.var.as_tensor();
        let decayed = if self.decay {
            (p * (1.0 - lr * WEIGHT_DECAY))?
        } else {
            p.clone()
        };
        self.var.set(&(decayed - (update * lr)?)?)?;
        self.m.set(&m)?;
        self.v.set(&v)
    }

    /// [`Slot::update`] in one pass over the CPU slices, the same formulas
    /// in f32 (a test checks the two agree).
    fn update_cpu(&self, g: &Tensor, k: &Coefficients) -> Result<()> {
        let n = self.var.elem_count();
        let (mut p2, mut m2, mut v2) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
        with_f32(g, |g| {
            with_f32(&self.var, |p| {
                with_f32(&self.m, |m| {
                    with_f32(&self.v, |v| {
                        k.pass((&mut p2, &mut m2, &mut v2), (p, m, v, g), self.decay);
                        Ok(())
                    })
                })
            })
        })?;
        let (shape, dev) = (self.var.shape(), self.var.device());
        self.var.set(&Tensor::from_vec(p2, shape, dev)?)?;
        self.m.set(&Tensor::from_vec(m2, shape, dev)?)?;
        self.v.set(&Tensor::from_vec(v2, shape, dev)?)
    }
}

impl Coefficients {
    /// The AdamW update over slices: new weights, first and second moments
    /// from the old ones and the gradient, in f32.
    #[inline(never)]
    fn pass(
        &self,
        (p2, m2, v2): (&mut [f32], &mut [f32], &mut [f32]),
        (p, m, v, g): (&[f32], &[f32], &[f32], &[f32]),
        decay: bool,
    ) {
        let scale = self.grad_scale as f32;
        let (b1, b2, eps) = (BETA1 as f32, BETA2 as f32, EPS as f32);
        let (c1, c2) = ((1.0 / self.bc1) as f32, (1.0 / self.bc2) as f32);
        let lr = self.lr as f32;
        let keep = if decay {
            (1.0 - self.lr * WEIGHT_DECAY) as f32
        } else {
            1.0
        };
        let new = p2.iter_mut().zip(m2.iter_mut().zip(v2.iter_mut()));
        let old = p.iter().zip(m.iter().zip(v.iter().zip(g)));
        for ((p2, (m2, v2)), (&p, (&m, (&v, &g)))) in new.zip(old) {
            let g = g * scale;
            *m2 = m * b1 + g * (1.0 - b1);
            *v2 = v * b2 + g * g * (1.0 - b2);
            let update = (*m2 * c1) / ((*v2 * c2).sqrt() + eps);
            *p2 = p * keep - update * lr;
        }
    }
}

/// Linear warm-up over `warmup` steps to `lr`, then cosine decay to `lr_min`
/// at `total` steps (the paper's recipe). `step` counts from 0.
pub fn lr_at(step: u64, total: u64, warmup: u64, lr: f64, lr_min: f64) -> f64 {
    if step < warmup {
        return lr * (step + 1) as f64 / warmup as f64;
    }
    let span = total.saturating_sub(warmup).max(1);
    let progress = ((step - warmup) as f64 / span as f64).min(1.0);
    lr_min + 0.5 * (lr - lr_min) * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// Scale that brings the global gradient norm down to `max_norm`.
pub fn clip_scale(norm: f64, max_norm: f64) -> f64 {
    if norm > max_norm {
        max_norm / norm
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor};

    #[test]
    fn schedule_warms_up_linearly_then_decays_to_the_minimum() {
        let (lr, min) = (1e-3, 1e-4);
        assert!((lr_at(0, 100, 10, lr, min) - 1e-4).abs() < 1e-12);
        assert!((lr_at(9, 100, 10, lr, min) - lr).abs() < 1e-12);
        assert!((lr_at(10, 100, 10, lr, min) - lr).abs() < 1e-12);
        assert!((lr_at(55, 100, 10, lr, min) - 0.5 * (lr + min)).abs() < 1e-12);
        assert!((lr_at(100, 100, 10, lr, min) - min).abs() < 1e-12);
    }

    #[test]
    fn clipping_only_shrinks() {
        assert!((clip_scale(0.5, 1.0) - 1.0).abs() < 1e-12);
        assert!((clip_scale(4.0, 1.0) - 0.25).abs() < 1e-12);
    }

    #[test]
    fn the_cpu_pass_matches_the_candle_ops_update() {
        let dev = Device::Cpu;
        let w = |shift: f64| Tensor::randn(0f32, 1.0, (3, 5), &dev).map(|t| (t + shift).unwrap());
        let slot = |decay| Slot {
            name: "w".into(),
            var: Var::from_tensor(&w(0.0).unwrap()).unwrap(),
            m: Var::from_tensor(&w(0.1).unwrap()).unwrap(),
            v: Var::from_tensor(&w(0.0).unwrap().sqr().unwrap()).unwrap(),
            decay,
        };
        for (decay, grad_scale) in [(true, 1.0), (false, 0.3)] {
            let a = slot(decay);
            let copy = |v: &Var| Var::from_tensor(&v.as_tensor().copy().unwrap()).unwrap();
            let b = Slot {
                name: "w".into(),
                var: copy(&a.var),
                m: copy(&a.m),
                v: copy(&a.v),
                decay,
            };
            let g = w(-0.2).unwrap();
            let k = Coefficients {
                lr: 0.05,
                grad_scale,
                bc1: 0.19,
                bc2: 0.0975,
            };
            a.update(&g, &k).unwrap();
            b.update_cpu(&g, &k).unwrap();
            for (x, y) in [(&a.var, &b.var), (&a.m, &b.m), (&a.v, &b.v)] {
                let (x, y) = (
                    x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                    y.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                );
                for (x, y) in x.iter().zip(&y) {
                    assert!((x - y).abs() < 1e-5 * (1.0 + x.abs()), "{x} vs {y}");
                }
            }
        }
    }

    #[test]
    fn first_adamw_step_moves_each_weight_by_lr_against_the_gradient_sign() {
        // With bias correction the first update is lr · g/|g| (plus decay).
        let w = Var::new(&[[1.0f32, -2.0]], &Device::Cpu).unwrap();
        let loss = (w.as_tensor() * &Tensor::new(&[[3.0f32, -0.5]], &Device::Cpu).unwrap())
            .unwrap()
            .sum_all()
            .unwrap();
        let grads = loss.backward().unwrap();
        let mut opt = AdamW::new(vec![("w".into(), w.clone())]).unwrap();
        opt.step(&grads, 0.1, 1.0).unwrap();
        let got = w.as_tensor().to_vec2::<f32>().unwrap();
        let decay = 1.0 - 0.1 * WEIGHT_DECAY;
        let want = [1.0 * decay - 0.1, -2.0 * decay + 0.1];
        for (g, w) in got[0].iter().zip(want) {
            assert!((f64::from(*g) - w).abs() < 1e-5, "{got:?} vs {want:?}");
        }
    }
}
