//! Inference with a KV cache: the [`Model`](super::Model) transformer's
//! layers ([`super::model`]), with their weights as plain tensors (no `Var`s, no autograd graph) in any float
//! dtype, a prefill of the whole prompt and one decode step per output
//! token, each reading and extending a preallocated cache.
//!
//! The phases are the roofline's ([`rooflaw_stdlib::roofline`]): prefill runs the
//! prompt and the LM head on the last position only (it emits the first
//! output token); each decode step runs one token per sequence and attends
//! over the cache at its own length.
use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Result, Tensor};

use super::model::{self, Attn, Heads, Init, Layers, Model, Pass, Source};
use super::{TrainError, ops};
use rooflaw_stdlib::arch::Architecture;

// Training's constant, so a trained checkpoint runs unchanged.
use super::model::ROPE_THETA;

/// A transformer ready for inference. Weight matrices are `(in, out)` as in
/// training.
pub struct InferModel {
    pub arch: Architecture,
    pub vocab: usize,
    pub dtype: DType,
    max_seq: usize,
    layers: Layers,
    /// RoPE tables `(max_seq, head_dim / 2)`: candle's fused rotary kernel
    /// takes the half that the "rotate half" layout repeats.
    cos: Tensor,
    sin: Tensor,
    /// Additive causal mask `(max_seq, max_seq)` for multi-token chunks off
    /// the fused CPU path.
    mask: Tensor,
    device: Device,
}

/// Keys and values of every layer, preallocated for `batch` sequences of
/// up to `max_seq` tokens: appending writes in place (no re-concatenation)
/// and [`KvCache::reset`] only rewinds, so a timed run allocates nothing.
pub struct KvCache {
    /// Per layer, `(batch, kv_heads, max_seq, head_dim)` each.
    k: Vec<Tensor>,
    v: Vec<Tensor>,
    batch: usize,
    len: usize,
    max_seq: usize,
}

impl KvCache {
    /// Tokens per sequence held.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forget the sequence; the buffers are kept.
    pub fn reset(&mut self) {
        self.len = 0;
    }
}

/// Looks weights up by their training names (`layers.0.attn.wqkv`).
struct Weights<'a> {
    map: &'a HashMap<String, Tensor>,
    dtype: DType,
    device: &'a Device,
}

impl Source for Weights<'_> {
    fn get(
        &mut self,
        name: &str,
        dims: &[usize],
        _: Init,
    ) -> std::result::Result<Tensor, TrainError> {
        let t = self
            .map
            .get(name)
            .ok_or_else(|| TrainError::Architecture(format!("weights have no tensor `{name}`")))?;
        if t.dims() != dims {
            return Err(TrainError::Architecture(format!(
                "weight `{name}` is {:?}, the architecture needs {dims:?}",
                t.dims()
            )));
        }
        // `detach` drops any link to a training `Var`: no graph is recorded.
        Ok(t.detach().to_device(self.device)?.to_dtype(self.dtype)?)
    }
}

impl InferModel {
    /// Random weights, seeded exactly like [`Model::new`] (the same seed
    /// gives the training model's initial weights), converted to `dtype`.
    pub fn random(
        arch: &Architecture,
        vocab: usize,
        max_seq: usize,
        seed: u64,
        dtype: DType,
        device: &Device,
    ) -> std::result::Result<Self, TrainError> {
        // Built on the CPU in f32 and converted once; the training model is
        // dropped afterwards.
        let m = Model::new(arch, vocab, max_seq, seed, &Device::Cpu)?;
        Self::from_model(&m, dtype, device)
    }

    /// The weights of a (trained) model, detached from its variables.
    pub fn from_model(
        m: &Model,
        dtype: DType,
        device: &Device,
    ) -> std::result::Result<Self, TrainError> {
        let map: HashMap<String, Tensor> = m
            .named_vars()
            .into_iter()
            .map(|(k, v)| (k, v.as_tensor().clone()))
            .collect();
        Self::from_tensors(&m.arch, m.vocab, m.max_seq(), &map, dtype, device)
    }

    /// The model weights of a training checkpoint (`model.<name>` tensors of
    /// [`super::checkpoint`]); the optimizer state in it is ignored.
    pub fn from_checkpoint(
        arch: &Architecture,
        vocab: usize,
        max_seq: usize,
        path: &Path,
        dtype: DType,
        device: &Device,
    ) -> std::result::Result<Self, TrainError> {
        let all = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| {
            TrainError::Checkpoint {
                path: path.to_path_buf(),
                why: e.to_string(),
            }
        })?;
        let map: HashMap<String, Tensor> = all
            .into_iter()
            .filter_map(|(k, v)| k.strip_prefix("model.").map(|n| (n.to_string(), v)))
            .collect();
        Self::from_tensors(arch, vocab, max_seq, &map, dtype, device).map_err(|e| match e {
            TrainError::Architecture(why) => TrainError::Checkpoint {
                path: path.to_path_buf(),
                why,
            },
            e => e,
        })
    }

    /// Weights by their training names.
    pub fn from_tensors(
        arch: &Architecture,
        vocab: usize,
        max_seq: usize,
        map: &HashMap<String, Tensor>,
        dtype: DType,
        device: &Device,
    ) -> std::result::Result<Self, TrainError> {
        model::validate(arch)?;
        if vocab == 0 || max_seq == 0 {
            return Err(TrainError::Architecture(
                "vocab and max_seq must be positive".into(),
            ));
        }
        if !dtype.is_float() {
            return Err(TrainError::Architecture(format!(
                "inference needs a float dtype, not {dtype:?}"
            )));
        }
        let layers = Layers::build(arch, vocab, &mut Weights { map, dtype, device })?;
        let hd = arch.head_dim as usize;
        let (cos, sin) = ops::rope_tables(max_seq, hd, ROPE_THETA, &Device::Cpu)?;
        let half = |t: Tensor| -> Result<Tensor> {
            t.narrow(1, 0, hd / 2)?
                .contiguous()?
                .to_device(device)?
                .to_dtype(dtype)
        };
        Ok(Self {
            arch: arch.clone(),
            vocab,
            dtype,
            max_seq,
            layers,
            cos: half(cos)?,
            sin: half(sin)?,
            mask: ops::causal_mask(max_seq, device)?.to_dtype(dtype)?,
            device: device.clone(),
        })
    }

    pub fn max_seq(&self) -> usize {
        self.max_seq
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// An empty cache for `batch` sequences of up to `max_seq` tokens.
    pub fn cache(&self, batch: usize) -> Result<KvCache> {
        let dims = (
            batch,
            self.arch.kv_heads as usize,
            self.max_seq,
            self.arch.head_dim as usize,
        );
        let zeros = || Tensor::zeros(dims, self.dtype, &self.device);
        Ok(KvCache {
            k: (0..self.layers.blocks.len())
                .map(|_| zeros())
                .collect::<Result<_>>()?,
            v: (0..self.layers.blocks.len())
                .map(|_| zeros())
                .collect::<Result<_>>()?,
            batch,
            len: 0,
            max_seq: self.max_seq,
        })
    }

    /// Runs the prompt `ids` `(batch, prompt)` (u32) from an empty cache and
    /// returns the last position's logits `(batch, vocab)`.
    pub fn prefill(&self, cache: &mut KvCache, ids: &Tensor) -> Result<Tensor> {
        cache.reset();
        self.step(cache, ids)
    }

    /// One decode step: `ids` `(batch, 1)` (or `(batch)`), the next token of
    /// each sequence; returns its logits `(batch, vocab)`.
    pub fn decode_step(&self, cache: &mut KvCache, ids: &Tensor) -> Result<Tensor> {
        let ids = if ids.rank() == 1 {
            ids.unsqueeze(1)?
        } else {
            ids.clone()
        };
        self.step(cache, &ids)
    }

    /// Appends the chunk `ids` `(batch, t)` to the cache; logits of its last
    /// position.
    fn step(&self, cache: &mut KvCache, ids: &Tensor) -> Result<Tensor> {
        let (batch, t) = ids.dims2()?;
        if batch != cache.batch {
            candle_core::bail!(
                "ids have batch {batch}, the cache was made for {}",
                cache.batch
            );
        }
        if t == 0 || cache.len + t > cache.max_seq {
            candle_core::bail!(
                "{t} more tokens after {} exceed the cache's {} positions",
                cache.len,
                cache.max_seq
            );
        }
        let pos = cache.len;
        let mut x = self.layers.embed(ids)?; // (b·t, d)
        for (l, block) in self.layers.blocks.iter().enumerate() {
            let (k_cache, v_cache) = (&cache.k[l], &cache.v[l]);
            x = block
                .forward(x, Pass::Infer, |attn, h| {
                    self.attention(attn, h, batch, t, pos, k_cache, v_cache)
                })?
                .0;
        }
        cache.len += t;
        // Only the last position's logits are needed to pick the next token.
        let d = self.arch.width as usize;
        let last = x.reshape((batch, t, d))?.narrow(1, t - 1, 1)?.squeeze(1)?;
        self.layers.logits(&last, Pass::Infer)
    }

    /// Causal GQA attention of a chunk of `t` tokens at positions
    /// `pos..pos+t`, writing its keys and values into the layer's cache.
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        attn: &Attn,
        h: &Tensor,
        batch: usize,
        t: usize,
        pos: usize,
        k_cache: &Tensor,
        v_cache: &Tensor,
    ) -> Result<Tensor> {
        let heads = Heads::of(&self.arch);
        let (q, k, v) = attn.project(h, heads, batch, t, Pass::Infer)?;
        let cos = self.cos.narrow(0, pos, t)?;
        let sin = self.sin.narrow(0, pos, t)?;
        let q = candle_nn::rotary_emb::rope(&q.transpose(1, 2)?.contiguous()?, &cos, &sin)?;
        let k = candle_nn::rotary_emb::rope(&k.transpose(1, 2)?.contiguous()?, &cos, &sin)?;
        let v = v.transpose(1, 2)?.contiguous()?; // (b, nkv, t, hd)
        k_cache.slice_set(&k, 2, pos)?;
        v_cache.slice_set(&v, 2, pos)?;
        let len = pos + t;
        let keys = k_cache.narrow(2, 0, len)?; // (b, nkv, L, hd)
        let values = v_cache.narrow(2, 0, len)?;
        attn.attend(&q, &keys.t()?, &values, heads, |scores| {
            if t == 1 {
                // One query sees every cached key: nothing to mask.
                candle_nn::ops::softmax_last_dim(scores)
            } else if pos == 0 && scores.device().is_cpu() && scores.dtype() == DType::F32 {
                // A whole prompt: training's fused causal softmax.
                ops::causal_softmax(scores, &self.mask)
            } else {
                let mask = self.mask.narrow(0, pos, t)?.narrow(1, 0, len)?;
                candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&mask)?)
            }
        })
    }
}

/// Deterministic token ids `(batch, len)` drawn uniformly from the vocab.
pub fn random_ids(
    batch: usize,
    len: usize,
    vocab: usize,
    seed: u64,
    device: &Device,
) -> Result<Tensor> {
    let mut rng = rooflaw_stdlib::rng::SplitMix64::new(seed);
    let ids: Vec<u32> = (0..batch * len)
        .map(|_| rng.below(vocab as u64) as u32)
        .collect();
    Tensor::from_vec(ids, (batch, len), device)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rooflaw_stdlib::arch::Norm;

    fn max_rel_diff(a: &Tensor, b: &Tensor) -> f32 {
        let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
        let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
        assert_eq!(a.len(), b.len());
        let scale = b.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-6);
        a.iter()
            .zip(&b)
            .fold(0f32, |m, (x, y)| m.max((x - y).abs() / scale))
    }

    /// Prefill + cached decode must reproduce the training model's
    /// full-sequence logits at every generated position.
    fn cache_matches_full_forward(arch: &Architecture, batch: usize) {
        let (vocab, prompt, generate) = (arch.vocab as usize, 7, 5);
        let max_seq = prompt + generate;
        let dev = Device::Cpu;
        let m = Model::new(arch, vocab, max_seq, 3, &dev).unwrap();
        let inf = InferModel::from_model(&m, DType::F32, &dev).unwrap();
        let ids = random_ids(batch, max_seq, vocab, 11, &dev).unwrap();
        let full = m
            .forward(&ids)
            .unwrap()
            .logits
            .reshape((batch, max_seq, vocab))
            .unwrap();
        let mut cache = inf.cache(batch).unwrap();
        let got = inf
            .prefill(&mut cache, &ids.narrow(1, 0, prompt).unwrap())
            .unwrap();
        let want = full.narrow(1, prompt - 1, 1).unwrap().squeeze(1).unwrap();
        let diff = max_rel_diff(&got, &want);
        assert!(
            diff < 1e-4,
            "{}: prefill differs by {diff}",
            model::label(arch)
        );
        for p in prompt..max_seq {
            let got = inf
                .decode_step(&mut cache, &ids.narrow(1, p, 1).unwrap())
                .unwrap();
            let want = full.narrow(1, p, 1).unwrap().squeeze(1).unwrap();
            let diff = max_rel_diff(&got, &want);
            assert!(
                diff < 1e-4,
                "{}: decode at {p} differs by {diff}",
                model::label(arch)
            );
        }
        assert_eq!(cache.len(), max_seq);
    }

    fn small() -> Architecture {
        let mut a = Architecture::dense(2, 64, 4, 4, 96);
        a.vocab = 97;
        a
    }

    #[test]
    fn cached_decode_matches_full_forward_dense_and_gqa() {
        cache_matches_full_forward(&small(), 1);
        let mut gqa = small();
        gqa.kv_heads = 2;
        gqa.tied_embeddings = true;
        cache_matches_full_forward(&gqa, 3);
        let mut mqa = small();
        mqa.kv_heads = 1;
        mqa.qk_norm = true;
        mqa.qkv_bias = true;
        cache_matches_full_forward(&mqa, 2);
    }

    #[test]
    fn cached_decode_matches_full_forward_moe() {
        for top_k in [1, 2] {
            let mut moe = small();
            moe.kv_heads = 2;
            moe.experts = 4;
            moe.top_k = top_k;
            moe.ffn = 32;
            cache_matches_full_forward(&moe, 2);
        }
        let mut shared = small();
        shared.experts = 4;
        shared.top_k = 2;
        shared.shared_experts = 1;
        shared.shared_ffn = 48;
        shared.qk_norm = true;
        cache_matches_full_forward(&shared, 1);
    }

    #[test]
    fn layer_norm_and_post_norms_match_too() {
        let mut a = small();
        a.norm = Norm::Layer;
        a.norms_per_layer = 4;
        a.gated = false;
        cache_matches_full_forward(&a, 2);
    }

    #[test]
    fn half_precision_runs_close_to_f32() {
        let arch = small();
        let dev = Device::Cpu;
        let m = Model::new(&arch, 97, 12, 0, &dev).unwrap();
        let f32m = InferModel::from_model(&m, DType::F32, &dev).unwrap();
        let ids = random_ids(2, 8, 97, 1, &dev).unwrap();
        let want = f32m.prefill(&mut f32m.cache(2).unwrap(), &ids).unwrap();
        for dt in [DType::F16, DType::BF16] {
            let hm = InferModel::from_model(&m, dt, &dev).unwrap();
            let mut cache = hm.cache(2).unwrap();
            let got = hm.prefill(&mut cache, &ids).unwrap();
            hm.decode_step(&mut cache, &ids.narrow(1, 0, 1).unwrap())
                .unwrap();
            let got = got.to_dtype(DType::F32).unwrap();
            let diff = max_rel_diff(&got, &want);
            assert!(diff < 0.05, "{dt:?} differs by {diff}");
        }
    }

    #[test]
    fn cache_overflow_and_wrong_batch_are_errors() {
        let arch = small();
        let dev = Device::Cpu;
        let m = InferModel::random(&arch, 97, 4, 0, DType::F32, &dev).unwrap();
        let mut cache = m.cache(1).unwrap();
        let err = m
            .prefill(&mut cache, &random_ids(1, 5, 97, 0, &dev).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("exceed"), "{err}");
        let err = m
            .prefill(&mut cache, &random_ids(2, 2, 97, 0, &dev).unwrap())
            .unwrap_err()
            .to_string();
        assert!(err.contains("batch"), "{err}");
    }
}
