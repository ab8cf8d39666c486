//! Inference with a KV cache: the [`Model`](super::Model) transformer's
//! weights as plain tensors (no `Var`s, no autograd graph) in any float
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

use super::model::{self, Model};
use super::{TrainError, ops};
use rooflaw_stdlib::arch::{Architecture, Norm};

// Training's constants, so a trained checkpoint runs unchanged.
use super::model::{NORM_EPS, ROPE_THETA};

/// A transformer ready for inference. Weight matrices are `(in, out)` as in
/// training.
pub struct InferModel {
    pub arch: Architecture,
    pub vocab: usize,
    pub dtype: DType,
    max_seq: usize,
    embed: Tensor,
    head: Option<Tensor>,
    final_norm: NormW,
    blocks: Vec<Block>,
    /// RoPE tables `(max_seq, head_dim / 2)`: candle's fused rotary kernel
    /// takes the half that the "rotate half" layout repeats.
    cos: Tensor,
    sin: Tensor,
    /// Additive causal mask `(max_seq, max_seq)` for multi-token chunks off
    /// the fused CPU path.
    mask: Tensor,
    device: Device,
}

struct NormW {
    w: Tensor,
    b: Option<Tensor>,
}

struct Expert {
    w_in: Tensor,
    w_out: Tensor,
    gated: bool,
}

enum Ffn {
    Dense(Expert),
    Moe {
        router: Tensor,
        experts: Vec<Expert>,
        shared: Vec<Expert>,
        top_k: usize,
    },
}

struct Block {
    norms: Vec<NormW>,
    wqkv: Tensor,
    bqkv: Option<Tensor>,
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    wo: Tensor,
    ffn: Ffn,
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

impl Weights<'_> {
    fn get(&self, name: &str, dims: &[usize]) -> std::result::Result<Tensor, TrainError> {
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

    fn opt(
        &self,
        name: &str,
        dims: &[usize],
        present: bool,
    ) -> std::result::Result<Option<Tensor>, TrainError> {
        present.then(|| self.get(name, dims)).transpose()
    }

    fn norm(&self, name: &str, d: usize, kind: Norm) -> std::result::Result<NormW, TrainError> {
        Ok(NormW {
            w: self.get(&format!("{name}.weight"), &[d])?,
            b: self.opt(&format!("{name}.bias"), &[d], kind == Norm::Layer)?,
        })
    }

    fn expert(
        &self,
        name: &str,
        d: usize,
        f: usize,
        gated: bool,
    ) -> std::result::Result<Expert, TrainError> {
        let width = if gated { 2 * f } else { f };
        Ok(Expert {
            w_in: self.get(&format!("{name}.w_in"), &[d, width])?,
            w_out: self.get(&format!("{name}.w_out"), &[f, d])?,
            gated,
        })
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
        let w = Weights { map, dtype, device };
        let d = arch.width as usize;
        let hd = arch.head_dim as usize;
        let (q, kv) = (arch.q_dim() as usize, arch.kv_dim() as usize);
        let mut blocks = Vec::with_capacity(arch.layers as usize);
        for l in 0..arch.layers as usize {
            let p = format!("layers.{l}");
            let norms = (0..arch.norms_per_layer as usize)
                .map(|i| w.norm(&format!("{p}.norm{i}"), d, arch.norm))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let f = arch.ffn as usize;
            let ffn = if arch.is_moe() {
                Ffn::Moe {
                    router: w.get(&format!("{p}.moe.router"), &[d, arch.experts as usize])?,
                    experts: (0..arch.experts as usize)
                        .map(|e| w.expert(&format!("{p}.moe.expert{e}"), d, f, arch.gated))
                        .collect::<std::result::Result<_, _>>()?,
                    shared: (0..arch.shared_experts as usize)
                        .map(|s| {
                            w.expert(
                                &format!("{p}.moe.shared{s}"),
                                d,
                                arch.shared_ffn as usize,
                                arch.gated,
                            )
                        })
                        .collect::<std::result::Result<_, _>>()?,
                    top_k: arch.top_k as usize,
                }
            } else {
                Ffn::Dense(w.expert(&format!("{p}.ffn"), d, f, arch.gated)?)
            };
            blocks.push(Block {
                norms,
                wqkv: w.get(&format!("{p}.attn.wqkv"), &[d, q + 2 * kv])?,
                bqkv: w.opt(&format!("{p}.attn.bqkv"), &[q + 2 * kv], arch.qkv_bias)?,
                q_norm: w.opt(&format!("{p}.attn.q_norm"), &[hd], arch.qk_norm)?,
                k_norm: w.opt(&format!("{p}.attn.k_norm"), &[hd], arch.qk_norm)?,
                wo: w.get(&format!("{p}.attn.wo"), &[q, d])?,
                ffn,
            });
        }
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
            embed: w.get("embed", &[vocab, d])?,
            head: w.opt("head", &[d, vocab], !arch.tied_embeddings)?,
            final_norm: w.norm("final_norm", d, arch.norm)?,
            blocks,
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
            k: (0..self.blocks.len())
                .map(|_| zeros())
                .collect::<Result<_>>()?,
            v: (0..self.blocks.len())
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
        let mut x = self.embed.index_select(&ids.flatten_all()?, 0)?; // (b·t, d)
        for (l, block) in self.blocks.iter().enumerate() {
            let h = norm(&block.norms[0], &x)?;
            let mut a = self.attention(block, &h, batch, t, pos, &cache.k[l], &cache.v[l])?;
            if block.norms.len() == 4 {
                a = norm(&block.norms[2], &a)?;
            }
            x = (x + a)?;
            let h = norm(&block.norms[1], &x)?;
            let mut f = ffn(&block.ffn, &h)?;
            if block.norms.len() == 4 {
                f = norm(&block.norms[3], &f)?;
            }
            x = (x + f)?;
        }
        cache.len += t;
        // Only the last position's logits are needed to pick the next token.
        let d = self.arch.width as usize;
        let last = x.reshape((batch, t, d))?.narrow(1, t - 1, 1)?.squeeze(1)?;
        let last = norm(&self.final_norm, &last)?;
        match &self.head {
            Some(w) => last.matmul(w),
            None => last.matmul(&self.embed.t()?),
        }
    }

    /// Causal GQA attention of a chunk of `t` tokens at positions
    /// `pos..pos+t`, writing its keys and values into the layer's cache.
    #[allow(clippy::too_many_arguments)]
    fn attention(
        &self,
        block: &Block,
        h: &Tensor,
        batch: usize,
        t: usize,
        pos: usize,
        k_cache: &Tensor,
        v_cache: &Tensor,
    ) -> Result<Tensor> {
        let (nh, nkv, hd) = (
            self.arch.heads as usize,
            self.arch.kv_heads as usize,
            self.arch.head_dim as usize,
        );
        let group = nh / nkv;
        let mut qkv = h.matmul(&block.wqkv)?;
        if let Some(b) = &block.bqkv {
            qkv = qkv.broadcast_add(b)?;
        }
        let qkv = qkv.reshape((batch, t, nh + 2 * nkv, hd))?;
        let mut q = qkv.narrow(2, 0, nh)?;
        let mut k = qkv.narrow(2, nh, nkv)?;
        let v = qkv.narrow(2, nh + nkv, nkv)?;
        if let (Some(qn), Some(kn)) = (&block.q_norm, &block.k_norm) {
            q = candle_nn::ops::rms_norm(&q.contiguous()?, qn, NORM_EPS as f32)?;
            k = candle_nn::ops::rms_norm(&k.contiguous()?, kn, NORM_EPS as f32)?;
        }
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
        // The `group` query heads sharing a KV head are stacked along the
        // row axis of one batched matmul, as in training: K/V are never
        // repeated.
        let q = (q.reshape((batch, nkv, group * t, hd))? * (1.0 / (hd as f64).sqrt()))?;
        let scores = q.matmul(&keys.t()?)?.reshape((batch, nh, t, len))?;
        let p = if t == 1 {
            // One query sees every cached key: nothing to mask.
            candle_nn::ops::softmax_last_dim(&scores)?
        } else if pos == 0 && scores.device().is_cpu() && scores.dtype() == DType::F32 {
            // A whole prompt: training's fused causal softmax.
            ops::causal_softmax(&scores, &self.mask)?
        } else {
            let mask = self.mask.narrow(0, pos, t)?.narrow(1, 0, len)?;
            candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&mask)?)?
        };
        let p = p.reshape((batch, nkv, group * t, len))?;
        let y = p.matmul(&values)?.reshape((batch, nh, t, hd))?;
        let y = y.transpose(1, 2)?.reshape((batch * t, nh * hd))?;
        y.matmul(&block.wo)
    }
}

fn norm(n: &NormW, x: &Tensor) -> Result<Tensor> {
    let x = x.contiguous()?;
    match &n.b {
        None => candle_nn::ops::rms_norm(&x, &n.w, NORM_EPS as f32),
        Some(b) => candle_nn::ops::layer_norm(&x, &n.w, b, NORM_EPS as f32),
    }
}

impl Expert {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = x.matmul(&self.w_in)?;
        let h = if self.gated {
            ops::swiglu(&h)?
        } else {
            h.gelu()?
        };
        h.matmul(&self.w_out)
    }
}

fn ffn(ffn: &Ffn, x: &Tensor) -> Result<Tensor> {
    match ffn {
        Ffn::Dense(e) => e.forward(x),
        Ffn::Moe {
            router,
            experts,
            shared,
            top_k,
        } => {
            let r = model::route(x, router, experts.len(), *top_k)?;
            let mut out = model::dispatch(x, &r, |e, xs| experts[e].forward(xs))?;
            for s in shared {
                out = (out + s.forward(x)?)?;
            }
            Ok(out)
        }
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
