//! Checkpoints: one safetensors file holding the model, the AdamW moments
//! and the loop state (step, RNG, loss history), so a resumed run continues
//! bit-identically. Written to a temporary file and renamed, so an
//! interruption mid-write leaves the previous checkpoint intact.
use super::{TrainError, optim::AdamW};
use candle_core::{DType, Device, Tensor};
use std::collections::HashMap;
use std::path::Path;

/// Loop state besides the tensors.
#[derive(Clone, Debug, PartialEq)]
pub struct LoopState {
    /// Completed steps.
    pub step: u64,
    pub rng: u64,
    pub initial_loss: f64,
    /// Training time spent so far, seconds (wall time of earlier sessions).
    pub train_s: f64,
    /// Wall time of all sessions so far (training, evaluation, checkpoints).
    pub wall_s: f64,
    /// `(step, validation loss)` of every evaluation so far.
    pub evals: Vec<(u64, f64)>,
    /// Training losses of the most recent steps.
    pub recent: Vec<f64>,
    /// Steps at which earlier sessions resumed from a checkpoint.
    pub resumed_at: Vec<u64>,
}

pub fn save(path: &Path, opt: &AdamW, state: &LoopState) -> Result<(), TrainError> {
    let mut t: HashMap<String, Tensor> = HashMap::new();
    for s in &opt.slots {
        t.insert(format!("model.{}", s.name), s.var.as_tensor().clone());
        t.insert(format!("adam.m.{}", s.name), s.m.as_tensor().clone());
        t.insert(format!("adam.v.{}", s.name), s.v.as_tensor().clone());
    }
    let cpu = Device::Cpu;
    // u64 state is stored bit-cast in I64 tensors: safetensors has no u64 in candle.
    #[allow(clippy::cast_possible_wrap)]
    let mut ints = vec![
        state.step as i64,
        state.rng as i64,
        opt.step as i64,
        state.evals.len() as i64,
    ];
    ints.extend(state.resumed_at.iter().map(|&s| s.cast_signed()));
    t.insert("state.ints".into(), Tensor::new(ints.as_slice(), &cpu)?);
    let mut floats = vec![state.initial_loss, state.train_s, state.wall_s];
    for (s, l) in &state.evals {
        floats.push(*s as f64);
        floats.push(*l);
    }
    floats.extend(&state.recent);
    t.insert("state.floats".into(), Tensor::new(floats.as_slice(), &cpu)?);
    let tmp = path.with_extension("safetensors.tmp");
    candle_core::safetensors::save(&t, &tmp)?;
    std::fs::rename(&tmp, path).map_err(TrainError::io(path))
}

/// Restores `opt` (model weights and moments) in place and returns the loop
/// state. Fails if the checkpoint does not match the model's parameters.
pub fn load(path: &Path, opt: &mut AdamW, device: &Device) -> Result<LoopState, TrainError> {
    let bad = |why: String| TrainError::Checkpoint {
        path: path.to_path_buf(),
        why,
    };
    let mut t = candle_core::safetensors::load(path, device)?;
    let mut take = |key: String| {
        t.remove(&key)
            .ok_or_else(|| bad(format!("missing tensor `{key}`")))
    };
    for s in &opt.slots {
        for (key, var) in [
            (format!("model.{}", s.name), &s.var),
            (format!("adam.m.{}", s.name), &s.m),
            (format!("adam.v.{}", s.name), &s.v),
        ] {
            let v = take(key.clone())?;
            if v.shape() != var.shape() || v.dtype() != var.dtype() {
                return Err(bad(format!(
                    "`{key}` is {:?} {:?}, the model has {:?} {:?}",
                    v.shape(),
                    v.dtype(),
                    var.shape(),
                    var.dtype()
                )));
            }
            var.set(&v)?;
        }
    }
    let ints: Vec<i64> = take("state.ints".into())?.to_dtype(DType::I64)?.to_vec1()?;
    let floats: Vec<f64> = take("state.floats".into())?.to_vec1()?;
    // Checkpoints written before `resumed_at` existed hold the first four.
    let [step, rng, adam_step, n_evals, ref resumed_at @ ..] = ints[..] else {
        return Err(bad(format!(
            "state.ints has {} values, expected at least 4",
            ints.len()
        )));
    };
    let n_evals = usize::try_from(n_evals).map_err(|_| bad("negative eval count".into()))?;
    if floats.len() < 3 + 2 * n_evals {
        return Err(bad("state.floats is too short".into()));
    }
    #[allow(clippy::cast_sign_loss)]
    let evals = floats[3..3 + 2 * n_evals]
        .chunks(2)
        .map(|c| (c[0] as u64, c[1]))
        .collect();
    #[allow(clippy::cast_sign_loss)]
    {
        opt.step = adam_step as u64;
        Ok(LoopState {
            step: step as u64,
            rng: rng as u64,
            initial_loss: floats[0],
            train_s: floats[1],
            wall_s: floats[2],
            evals,
            recent: floats[3 + 2 * n_evals..].to_vec(),
            resumed_at: resumed_at.iter().map(|s| *s as u64).collect(),
        })
    }
}
