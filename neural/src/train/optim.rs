//! AdamW with decoupled weight decay, the warm-up + cosine schedule, and
//! global-norm gradient clipping. Written here rather than using
//! `candle_nn::AdamW` because checkpoints need the moment estimates.
use candle_core::{Result, Var, backprop::GradStore};

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
        let mut sq = 0.0f64;
        for s in &self.slots {
            if let Some(g) = grads.get(s.var.as_tensor()) {
                sq += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
            }
        }
        Ok(sq.sqrt())
    }

    /// One update at learning rate `lr`, gradients scaled by `grad_scale`
    /// (the clipping factor).
    pub fn step(&mut self, grads: &GradStore, lr: f64, grad_scale: f64) -> Result<()> {
        self.step += 1;
        let t = self.step as i32;
        let bc1 = 1.0 - BETA1.powi(t);
        let bc2 = 1.0 - BETA2.powi(t);
        for s in &self.slots {
            let Some(g) = grads.get(s.var.as_tensor()) else {
                continue;
            };
            let g = if (grad_scale - 1.0).abs() > f64::EPSILON {
                g.affine(grad_scale, 0.0)?
            } else {
                g.clone()
            };
            let m = ((s.m.as_tensor() * BETA1)? + (&g * (1.0 - BETA1))?)?;
            let v = ((s.v.as_tensor() * BETA2)? + (g.sqr()? * (1.0 - BETA2))?)?;
            let update = ((&m * (1.0 / bc1))? / ((&v * (1.0 / bc2))?.sqrt()? + EPS)?)?;
            let p = s.var.as_tensor();
            let decayed = if s.decay {
                (p * (1.0 - lr * WEIGHT_DECAY))?
            } else {
                p.clone()
            };
            s.var.set(&(decayed - (update * lr)?)?)?;
            s.m.set(&m)?;
            s.v.set(&v)?;
        }
        Ok(())
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
