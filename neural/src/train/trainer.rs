//! The training loop: sampled batches, AdamW with warm-up + cosine decay,
//! global-norm clipping, periodic validation, divergence detection,
//! checkpoints and resume.
use super::{
    TrainError,
    checkpoint::{self, LoopState},
    corpus::{Batch, Corpus, sample_batch},
    job::{Recipe, TrainJob, TrainResult},
    model::{Model, label},
    optim::{self, AdamW},
};
use candle_core::{Device, Tensor};
use rooflaw_stdlib::rng::SplitMix64;
use std::ops::ControlFlow;
use std::path::Path;
use std::time::Instant;

/// A run stops as diverged when the loss is not finite or exceeds this
/// multiple of its first-step loss.
pub const DIVERGENCE_FACTOR: f64 = 3.0;
/// Weight of the MoE load-balancing loss (Switch Transformer's α).
pub const AUX_LOSS_COEF: f64 = 0.01;
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
pub const MODEL_FILE: &str = "model.safetensors";

/// Reported after every step; the engine turns it into a progress bar.
#[derive(Clone, Debug)]
pub struct Progress {
    /// Completed steps.
    pub step: u64,
    pub steps: u64,
    pub tokens: u64,
    /// Training cross-entropy of this step (nats/token).
    pub loss: f64,
    pub lr: f64,
    /// Training throughput over this session so far.
    pub tokens_per_s: f64,
    /// Validation loss when this step ran an evaluation.
    pub val_loss: Option<f64>,
}

/// Training steps that a recipe's token budget buys.
pub fn steps_for(recipe: &Recipe) -> Result<u64, TrainError> {
    let per_step = recipe.batch as u64 * recipe.seq_len as u64;
    if per_step == 0 {
        return Err(TrainError::Recipe(
            "batch and seq_len must be positive".into(),
        ));
    }
    let steps = recipe.tokens / per_step;
    if steps == 0 {
        return Err(TrainError::Recipe(format!(
            "token budget {} is smaller than one batch ({} × {} = {per_step} tokens)",
            recipe.tokens, recipe.batch, recipe.seq_len
        )));
    }
    Ok(steps)
}

/// Trains `job` on `corpus`, checkpointing into `workdir`. If `workdir`
/// holds a checkpoint of this job the run resumes from it. `progress`
/// returning `Break` stops the run after a checkpoint with
/// [`TrainError::Interrupted`].
pub fn train(
    job: &TrainJob,
    corpus: &Corpus,
    workdir: &Path,
    device: &Device,
    progress: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
) -> Result<TrainResult, TrainError> {
    let recipe = &job.recipe;
    recipe.validate()?;
    let steps = steps_for(recipe)?;
    let arch_label = label(&job.arch);
    let model = Model::new(&job.arch, corpus.vocab, recipe.seq_len, recipe.seed, device)?
        .mixed(recipe.precision.dtype());
    let mut opt = AdamW::new(model.named_vars())?;
    std::fs::create_dir_all(workdir).map_err(TrainError::io(workdir))?;
    let ckpt = workdir.join(CHECKPOINT_FILE);
    let mut st = if ckpt.exists() {
        let mut st = checkpoint::load(&ckpt, &mut opt, device)?;
        st.resumed_at.push(st.step);
        st
    } else {
        LoopState {
            step: 0,
            rng: SplitMix64::new(recipe.seed ^ DATA_STREAM).state(),
            initial_loss: f64::NAN,
            train_s: 0.0,
            wall_s: 0.0,
            evals: Vec::new(),
            recent: Vec::new(),
            resumed_at: Vec::new(),
        }
    };
    let warmup = ((recipe.warmup_frac * steps as f64).round() as u64).min(steps);
    let window = recipe.eval_every.clamp(1, steps) as usize;
    let ckpt_every = if recipe.checkpoint_every == 0 {
        recipe.eval_every
    } else {
        recipe.checkpoint_every
    };
    let val_batches = validation_batches(corpus, recipe)?;
    let mut rng = SplitMix64::from_state(st.rng);
    let session = Instant::now();
    let session_start_step = st.step;
    let wall_before = st.wall_s;
    let tokens_per_step = (recipe.batch * recipe.seq_len) as u64;

    while st.step < steps {
        let t0 = Instant::now();
        let b = sample_batch(&corpus.train, recipe.batch, recipe.seq_len, &mut rng)?;
        let (loss, grads) = step_grads(&model, &b, device)?;
        if st.step == 0 {
            st.initial_loss = loss;
        }
        if !loss.is_finite() || loss > DIVERGENCE_FACTOR * st.initial_loss {
            return Err(TrainError::Diverged {
                arch: arch_label,
                step: st.step,
                loss,
                initial: st.initial_loss,
            });
        }
        let norm = opt.grad_norm(&grads)?;
        let lr = optim::lr_at(st.step, steps, warmup, recipe.lr, recipe.lr_min);
        opt.step(&grads, lr, optim::clip_scale(norm, recipe.grad_clip))?;
        st.train_s += t0.elapsed().as_secs_f64();
        st.step += 1;
        st.recent.push(loss);
        if st.recent.len() > window {
            st.recent.remove(0);
        }
        let val_loss = if st.step % recipe.eval_every == 0 || st.step == steps {
            let v = evaluate(&model, &val_batches, device)?;
            st.evals.push((st.step, v));
            Some(v)
        } else {
            None
        };
        st.rng = rng.state();
        st.wall_s = wall_before + session.elapsed().as_secs_f64();
        let done_now = (st.step - session_start_step) * tokens_per_step;
        let flow = progress(&Progress {
            step: st.step,
            steps,
            tokens: st.step * tokens_per_step,
            loss,
            lr,
            tokens_per_s: done_now as f64 / session.elapsed().as_secs_f64().max(1e-9),
            val_loss,
        });
        if flow.is_break() {
            checkpoint::save(&ckpt, &opt, &st)?;
            return Err(TrainError::Interrupted {
                arch: arch_label,
                step: st.step,
            });
        }
        if st.step % ckpt_every == 0 && st.step < steps {
            checkpoint::save(&ckpt, &opt, &st)?;
        }
    }

    checkpoint::save(&ckpt, &opt, &st)?;
    finish(job, &model, &st, steps, workdir, arch_label)
}

/// On a CPU a step's batch is split into this many shards of rows whose
/// forward and backward passes run in parallel, their gradients averaged
/// by rows: one core per shard, each running whole kernels, instead of
/// every kernel split across cores and waiting at its end (on two cores
/// only the matmuls, 40% of a step, used the second one). Fixed rather
/// than the core count, so the numbers a run produces do not depend on the
/// machine that trained it. A GPU takes the whole batch at once.
const CPU_SHARDS: usize = 2;

/// Training cross-entropy of the batch and the gradients of its loss. The
/// cross-entropy of the whole batch is the row-weighted mean of the shards'
/// and so is its gradient; the MoE balancing term is computed per shard
/// (as data-parallel trainers do per device).
fn step_grads(
    model: &Model,
    b: &Batch,
    device: &Device,
) -> Result<(f64, candle_core::backprop::GradStore), TrainError> {
    let shards = if device.is_cpu() { CPU_SHARDS } else { 1 };
    sharded_grads(model, b, device, shards)
}

/// [`step_grads`] with the batch's rows split into `shards` parts.
fn sharded_grads(
    model: &Model,
    b: &Batch,
    device: &Device,
    shards: usize,
) -> Result<(f64, candle_core::backprop::GradStore), TrainError> {
    use rayon::prelude::*;
    let shards = shards.min(b.batch).max(1);
    let bounds: Vec<(usize, usize)> = (0..shards)
        .map(|i| (i * b.batch / shards, (i + 1) * b.batch / shards))
        .collect();
    let parts = bounds
        .par_iter()
        .map(|&(lo, hi)| shard_grads(model, b, lo, hi, device))
        .collect::<Result<Vec<_>, _>>()?;
    let weight = |i: usize| (bounds[i].1 - bounds[i].0) as f64 / b.batch as f64;
    let loss = parts.iter().enumerate().map(|(i, p)| p.0 * weight(i)).sum();
    if shards == 1 {
        return Ok(parts.into_iter().next().expect("one shard"));
    }
    let mut sums = Vec::new();
    for (_, var) in model.named_vars() {
        let t = var.as_tensor().clone();
        let mut sum: Option<Tensor> = None;
        for (i, (_, g)) in parts.iter().enumerate() {
            if let Some(g) = g.get(&t) {
                let g = (g * weight(i))?;
                sum = Some(match sum {
                    Some(s) => (s + g)?,
                    None => g,
                });
            }
        }
        sums.extend(sum.map(|s| (t, s)));
    }
    // candle's `GradStore` has no public constructor: reuse the first.
    let mut grads = parts.into_iter().next().expect("several shards").1;
    for (t, s) in sums {
        grads.insert(&t, s);
    }
    Ok((loss, grads))
}

/// Forward and backward over rows `lo..hi` of the batch.
fn shard_grads(
    model: &Model,
    b: &Batch,
    lo: usize,
    hi: usize,
    device: &Device,
) -> Result<(f64, candle_core::backprop::GradStore), TrainError> {
    let (s, rows) = (b.seq_len, hi - lo);
    let inputs = Tensor::from_slice(&b.inputs[lo * s..hi * s], (rows, s), device)?;
    let targets = Tensor::from_slice(&b.targets[lo * s..hi * s], rows * s, device)?;
    let out = model.forward(&inputs)?;
    let ce = super::ops::cross_entropy(&out.logits, &targets)?;
    let total = (&ce + (out.aux_loss * AUX_LOSS_COEF)?)?;
    let loss = f64::from(ce.to_scalar::<f32>()?);
    Ok((loss, total.backward()?))
}

/// Saves the final weights and assembles the result.
fn finish(
    job: &TrainJob,
    model: &Model,
    st: &LoopState,
    steps: u64,
    workdir: &Path,
    arch_label: String,
) -> Result<TrainResult, TrainError> {
    let recipe = &job.recipe;
    let tokens_per_step = (recipe.batch * recipe.seq_len) as u64;
    let model_path = workdir.join(MODEL_FILE);
    let weights: std::collections::HashMap<String, Tensor> = model
        .named_vars()
        .into_iter()
        .map(|(n, v)| (n, v.as_tensor().clone()))
        .collect();
    candle_core::safetensors::save(&weights, &model_path)?;
    let bytes = std::fs::read(&model_path).map_err(TrainError::io(&model_path))?;
    let k = recipe.final_evals.clamp(1, st.evals.len().max(1));
    let last = &st.evals[st.evals.len().saturating_sub(k)..];
    let val_loss = last.iter().map(|e| e.1).sum::<f64>() / last.len() as f64;
    let tokens = steps * tokens_per_step;
    Ok(TrainResult {
        arch: arch_label,
        params: model.num_params(),
        tokens,
        steps,
        final_train_loss: st.recent.iter().sum::<f64>() / st.recent.len() as f64,
        val_loss,
        val_ppl: val_loss.exp(),
        wall_s: st.wall_s,
        tokens_per_s: tokens as f64 / st.train_s.max(1e-9),
        evals: st.evals.clone(),
        resumed_at: st.resumed_at.clone(),
        model_path,
        model_hash: blake3::hash(&bytes).to_hex().to_string(),
        job_key: job.key(),
    })
}

/// Separates the data stream from the init stream of the same seed.
const DATA_STREAM: u64 = 0xD1B5_4A32_D192_ED03;
const VALID_STREAM: u64 = 0x8CB9_2BA7_2F3D_8DD7;

/// The same validation batches for every evaluation, so that successive
/// evaluations are comparable.
fn validation_batches(corpus: &Corpus, recipe: &Recipe) -> Result<Vec<Batch>, TrainError> {
    let mut rng = SplitMix64::new(recipe.seed ^ VALID_STREAM);
    (0..recipe.eval_batches)
        .map(|_| sample_batch(&corpus.valid, recipe.batch, recipe.seq_len, &mut rng))
        .collect()
}

/// Mean validation cross-entropy over the batches.
fn evaluate(model: &Model, batches: &[Batch], device: &Device) -> Result<f64, TrainError> {
    let mut sum = 0.0;
    for b in batches {
        let inputs = Tensor::from_slice(&b.inputs, (b.batch, b.seq_len), device)?;
        let targets = Tensor::from_slice(&b.targets, b.batch * b.seq_len, device)?;
        let logits = model.forward(&inputs)?.logits.detach();
        sum += f64::from(super::ops::cross_entropy(&logits, &targets)?.to_scalar::<f32>()?);
    }
    Ok(sum / batches.len().max(1) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rooflaw_stdlib::arch::Architecture;

    /// Mixed precision changes the type of the pass, not what is learned:
    /// the 16-bit pass (f16 here, as candle's CPU matmul has no bf16; a GPU
    /// runs bf16 through the same casts) gives fp32 gradients close to the
    /// fp32 pass's, for a dense and an MoE model.
    #[test]
    fn mixed_precision_gradients_match_fp32() {
        use candle_core::DType;
        let device = Device::Cpu;
        let mut moe = Architecture::dense(2, 64, 2, 1, 128);
        moe.experts = 4;
        moe.top_k = 2;
        for arch in [Architecture::dense(2, 64, 2, 1, 128), moe] {
            let full = Model::new(&arch, 64, 16, 7, &device).unwrap();
            let half = Model::new(&arch, 64, 16, 7, &device)
                .unwrap()
                .mixed(DType::F16);
            let (batch, seq_len) = (4, 16);
            let tokens = |k: u32| {
                (0..batch * seq_len)
                    .map(|i| (i as u32 * 7 + k) % 64)
                    .collect()
            };
            let b = Batch {
                inputs: tokens(1),
                targets: tokens(2),
                batch,
                seq_len,
            };
            let (l32, g32) = sharded_grads(&full, &b, &device, 1).unwrap();
            let (l16, g16) = sharded_grads(&half, &b, &device, 1).unwrap();
            assert!((l16 - l32).abs() < 1e-2 * l32, "loss {l16} vs {l32}");
            assert!((l16 - l32).abs() > 0.0, "the pass ran in f16");
            let norm = |t: &Tensor| {
                f64::from(
                    t.sqr()
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap(),
                )
                .sqrt()
            };
            for ((name, v32), (_, v16)) in full.named_vars().iter().zip(half.named_vars()) {
                let a = g32.get(v32.as_tensor()).unwrap();
                let Some(h) = g16.get(v16.as_tensor()) else {
                    // An expert no token was routed to in either pass.
                    assert!(norm(a) == 0.0, "{name}: no 16-bit gradient");
                    continue;
                };
                assert_eq!(h.dtype(), DType::F32, "{name}: master gradients are fp32");
                let rel = norm(&(a - h).unwrap()) / norm(a).max(1e-12);
                assert!(rel < 0.05, "{name}: relative gradient error {rel}");
            }
        }
    }

    /// Sharding is a schedule, not a change of maths: the loss and every
    /// gradient of a split batch equal the whole batch's.
    #[test]
    fn sharded_gradients_equal_the_whole_batch() {
        let device = Device::Cpu;
        let arch = Architecture::dense(2, 64, 2, 1, 128);
        let model = Model::new(&arch, 64, 8, 7, &device).unwrap();
        // Five rows: shards of unequal size are weighted by their rows.
        let (batch, seq_len) = (5, 8);
        let tokens = |k: u32| {
            (0..batch * seq_len)
                .map(|i| (i as u32 * 7 + k) % 64)
                .collect()
        };
        let b = Batch {
            inputs: tokens(1),
            targets: tokens(2),
            batch,
            seq_len,
        };
        let (whole_loss, whole) = sharded_grads(&model, &b, &device, 1).unwrap();
        for shards in [2, 3, 5] {
            let (loss, split) = sharded_grads(&model, &b, &device, shards).unwrap();
            assert!(
                (loss - whole_loss).abs() < 1e-5,
                "{shards}: {loss} vs {whole_loss}"
            );
            for (name, var) in model.named_vars() {
                let t = var.as_tensor();
                let diff = (whole.get(t).unwrap() - split.get(t).unwrap())
                    .unwrap()
                    .abs()
                    .unwrap()
                    .max_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
                assert!(diff < 1e-5, "{shards} shards, {name}: max |Δgrad| {diff}");
            }
        }
    }
}
