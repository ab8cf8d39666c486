//! A decoder-only transformer built from an [`Architecture`]: pre-norm
//! blocks with RMSNorm (or LayerNorm), RoPE, GQA causal attention with
//! optional QK-norm and QKV bias, a SwiGLU (or GELU) FFN of any size, MoE
//! with softmax top-K routing and the Switch load-balancing loss, shared
//! experts, and tied or untied embeddings.
//!
//! The vocabulary comes from the tokenizer, not from `arch.vocab`: a preset's
//! 151k vocab is meaningless for byte-level text, so the model is built with
//! `vocab` = the tokenizer's size and reports its own parameter count.
use super::{TrainError, ops};
use crate::arch::{Architecture, Norm};
use crate::rng::SplitMix64;
use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::VarMap;
use std::fmt::Write as _;

/// Init standard deviation of every matrix (GPT-2 / Qwen convention).
const INIT_STD: f64 = 0.02;
pub(crate) const NORM_EPS: f64 = 1e-6;
pub(crate) const ROPE_THETA: f64 = 10_000.0;

/// The trainable model. Weight matrices are stored `(in, out)` so a forward
/// pass is `x.matmul(w)` with no transposed copy.
pub struct Model {
    pub arch: Architecture,
    pub vocab: usize,
    varmap: VarMap,
    embed: Tensor,
    head: Option<Tensor>,
    final_norm: NormW,
    blocks: Vec<Block>,
    rope: ops::RopeTables,
    mask: Tensor,
    max_seq: usize,
}

struct NormW {
    w: Tensor,
    b: Option<Tensor>,
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

/// One FFN: `w_in` is `(d, 2f)` [gate | up] when gated, `(d, f)` otherwise.
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

/// Forward result: logits `(batch·seq, vocab)` and the summed MoE
/// load-balancing loss (zero for dense models).
pub struct Forward {
    pub logits: Tensor,
    pub aux_loss: Tensor,
}

struct Builder<'a> {
    varmap: &'a VarMap,
    rng: SplitMix64,
    device: &'a Device,
}

impl Builder<'_> {
    fn var(&mut self, name: &str, dims: &[usize], init: Init) -> Result<Tensor> {
        let n: usize = dims.iter().product();
        let data: Vec<f32> = match init {
            Init::Normal => (0..n)
                .map(|_| (self.rng.normal() * INIT_STD) as f32)
                .collect(),
            Init::Ones => vec![1.0; n],
            Init::Zeros => vec![0.0; n],
        };
        let var = Var::from_tensor(&Tensor::from_vec(data, dims, self.device)?)?;
        let t = var.as_tensor().clone();
        self.varmap
            .data()
            .lock()
            .expect("varmap lock poisoned")
            .insert(name.to_string(), var);
        Ok(t)
    }

    fn norm(&mut self, name: &str, dim: usize, kind: Norm) -> Result<NormW> {
        let w = self.var(&format!("{name}.weight"), &[dim], Init::Ones)?;
        let b = match kind {
            Norm::Rms => None,
            Norm::Layer => Some(self.var(&format!("{name}.bias"), &[dim], Init::Zeros)?),
        };
        Ok(NormW { w, b })
    }

    fn expert(&mut self, name: &str, d: usize, f: usize, gated: bool) -> Result<Expert> {
        let width = if gated { 2 * f } else { f };
        Ok(Expert {
            w_in: self.var(&format!("{name}.w_in"), &[d, width], Init::Normal)?,
            w_out: self.var(&format!("{name}.w_out"), &[f, d], Init::Normal)?,
            gated,
        })
    }
}

#[derive(Clone, Copy)]
enum Init {
    Normal,
    Ones,
    Zeros,
}

/// Checks that the architecture can be built: a valid one
/// ([`Architecture::validate`]) of a shape these layers implement. Errors
/// name the field.
pub fn validate(arch: &Architecture) -> std::result::Result<(), TrainError> {
    let bad = |why: String| Err(TrainError::Architecture(why));
    if let Err(e) = arch.validate() {
        return bad(e.to_string());
    }
    if !arch.head_dim.is_multiple_of(2) {
        return bad(format!("head_dim {} must be even (RoPE)", arch.head_dim));
    }
    if arch.norms_per_layer != 2 && arch.norms_per_layer != 4 {
        return bad(format!(
            "norms_per_layer {} is not supported (2: pre-norm; 4: pre- and post-norm)",
            arch.norms_per_layer
        ));
    }
    Ok(())
}

/// A short label naming an architecture in messages and tables.
pub fn label(arch: &Architecture) -> String {
    let mut s = format!(
        "L{} d{} h{}/{}x{} ffn{}",
        arch.layers, arch.width, arch.heads, arch.kv_heads, arch.head_dim, arch.ffn
    );
    if arch.is_moe() {
        let _ = write!(s, " E{}k{}", arch.experts, arch.top_k);
    }
    s
}

impl Model {
    /// Builds and initialises a model; the same `seed` gives the same weights.
    pub fn new(
        arch: &Architecture,
        vocab: usize,
        max_seq: usize,
        seed: u64,
        device: &Device,
    ) -> std::result::Result<Self, TrainError> {
        validate(arch)?;
        if vocab == 0 || max_seq == 0 {
            return Err(TrainError::Architecture(
                "vocab and max_seq must be positive".into(),
            ));
        }
        Ok(Self::build(arch, vocab, max_seq, seed, device)?)
    }

    fn build(
        arch: &Architecture,
        vocab: usize,
        max_seq: usize,
        seed: u64,
        device: &Device,
    ) -> Result<Self> {
        let varmap = VarMap::new();
        let mut b = Builder {
            varmap: &varmap,
            rng: SplitMix64::new(seed),
            device,
        };
        let d = arch.width as usize;
        let hd = arch.head_dim as usize;
        let (q, kv) = (arch.q_dim() as usize, arch.kv_dim() as usize);
        let embed = b.var("embed", &[vocab, d], Init::Normal)?;
        let mut blocks = Vec::with_capacity(arch.layers as usize);
        for l in 0..arch.layers as usize {
            let p = format!("layers.{l}");
            let norms = (0..arch.norms_per_layer as usize)
                .map(|i| b.norm(&format!("{p}.norm{i}"), d, arch.norm))
                .collect::<Result<Vec<_>>>()?;
            let wqkv = b.var(&format!("{p}.attn.wqkv"), &[d, q + 2 * kv], Init::Normal)?;
            let bqkv = if arch.qkv_bias {
                Some(b.var(&format!("{p}.attn.bqkv"), &[q + 2 * kv], Init::Zeros)?)
            } else {
                None
            };
            let (q_norm, k_norm) = if arch.qk_norm {
                (
                    Some(b.var(&format!("{p}.attn.q_norm"), &[hd], Init::Ones)?),
                    Some(b.var(&format!("{p}.attn.k_norm"), &[hd], Init::Ones)?),
                )
            } else {
                (None, None)
            };
            let wo = b.var(&format!("{p}.attn.wo"), &[q, d], Init::Normal)?;
            let f = arch.ffn as usize;
            let ffn = if arch.is_moe() {
                let router = b.var(
                    &format!("{p}.moe.router"),
                    &[d, arch.experts as usize],
                    Init::Normal,
                )?;
                let experts = (0..arch.experts as usize)
                    .map(|e| b.expert(&format!("{p}.moe.expert{e}"), d, f, arch.gated))
                    .collect::<Result<Vec<_>>>()?;
                let shared = (0..arch.shared_experts as usize)
                    .map(|s| {
                        b.expert(
                            &format!("{p}.moe.shared{s}"),
                            d,
                            arch.shared_ffn as usize,
                            arch.gated,
                        )
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ffn::Moe {
                    router,
                    experts,
                    shared,
                    top_k: arch.top_k as usize,
                }
            } else {
                Ffn::Dense(b.expert(&format!("{p}.ffn"), d, f, arch.gated)?)
            };
            blocks.push(Block {
                norms,
                wqkv,
                bqkv,
                q_norm,
                k_norm,
                wo,
                ffn,
            });
        }
        let final_norm = b.norm("final_norm", d, arch.norm)?;
        let head = if arch.tied_embeddings {
            None
        } else {
            Some(b.var("head", &[d, vocab], Init::Normal)?)
        };
        let rope = ops::RopeTables::new(max_seq, hd, ROPE_THETA, device)?;
        let mask = ops::causal_mask(max_seq, device)?;
        Ok(Self {
            arch: arch.clone(),
            vocab,
            varmap,
            embed,
            head,
            final_norm,
            blocks,
            rope,
            mask,
            max_seq,
        })
    }

    pub fn max_seq(&self) -> usize {
        self.max_seq
    }

    pub fn varmap(&self) -> &VarMap {
        &self.varmap
    }

    /// Parameters actually trained (with the tokenizer's vocab).
    pub fn num_params(&self) -> u64 {
        self.varmap
            .all_vars()
            .iter()
            .map(|v| v.elem_count() as u64)
            .sum()
    }

    /// Variables sorted by name: a stable order for optimizer state and
    /// checkpoints.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().expect("varmap lock poisoned");
        let mut v: Vec<_> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Forward pass over token ids `(batch, seq)` (u32).
    pub fn forward(&self, ids: &Tensor) -> Result<Forward> {
        let (batch, seq) = ids.dims2()?;
        if seq > self.max_seq {
            candle_core::bail!(
                "sequence length {seq} exceeds the model's max_seq {}",
                self.max_seq
            );
        }
        let d = self.arch.width as usize;
        let mask = self.mask.narrow(0, 0, seq)?.narrow(1, 0, seq)?;
        let mut x = self.embed.index_select(&ids.flatten_all()?, 0)?; // (b·t, d)
        let mut aux = Tensor::zeros((), DType::F32, ids.device())?;
        for block in &self.blocks {
            let h = norm(&block.norms[0], &x)?;
            let mut a = self.attention(block, &h, batch, seq, &mask)?;
            if block.norms.len() == 4 {
                a = norm(&block.norms[2], &a)?;
            }
            x = (x + a)?;
            let h = norm(&block.norms[1], &x)?;
            let (mut f, block_aux) = ffn(&block.ffn, &h)?;
            if block.norms.len() == 4 {
                f = norm(&block.norms[3], &f)?;
            }
            if let Some(block_aux) = block_aux {
                aux = (aux + block_aux)?;
            }
            x = (x + f)?;
        }
        let x = norm(&self.final_norm, &x)?;
        let logits = match &self.head {
            Some(w) => x.matmul(w)?,
            None => x.matmul(&self.embed.t()?)?,
        };
        debug_assert_eq!(x.dims(), &[batch * seq, d]);
        Ok(Forward {
            logits,
            aux_loss: aux,
        })
    }

    fn attention(
        &self,
        block: &Block,
        h: &Tensor,
        batch: usize,
        seq: usize,
        mask: &Tensor,
    ) -> Result<Tensor> {
        let (nh, nkv, hd) = (
            self.arch.heads as usize,
            self.arch.kv_heads as usize,
            self.arch.head_dim as usize,
        );
        let group = nh / nkv;
        // One matmul for Q, K and V together.
        let mut qkv = h.matmul(&block.wqkv)?;
        if let Some(b) = &block.bqkv {
            qkv = qkv.broadcast_add(b)?;
        }
        let qkv = qkv.reshape((batch, seq, nh + 2 * nkv, hd))?;
        let mut q = qkv.narrow(2, 0, nh)?;
        let mut k = qkv.narrow(2, nh, nkv)?;
        let v = qkv.narrow(2, nh + nkv, nkv)?;
        if let (Some(qn), Some(kn)) = (&block.q_norm, &block.k_norm) {
            q = ops::rms_norm(&q, qn, NORM_EPS)?;
            k = ops::rms_norm(&k, kn, NORM_EPS)?;
        }
        let q = self.rope.apply(&q.transpose(1, 2)?)?; // (b, nh, t, hd)
        let k = self.rope.apply(&k.transpose(1, 2)?)?; // (b, nkv, t, hd)
        let v = v.transpose(1, 2)?.contiguous()?;
        // GQA without repeating K/V: the `group` query heads that share a KV
        // head are stacked along the sequence axis of one batched matmul.
        let q = (q.reshape((batch, nkv, group * seq, hd))? * (1.0 / (hd as f64).sqrt()))?;
        let scores = q.matmul(&k.t()?.contiguous()?)?; // (b, nkv, g·t, t)
        let scores = scores.reshape((batch, nh, seq, seq))?;
        let p = ops::causal_softmax(&scores, mask)?.reshape((batch, nkv, group * seq, seq))?;
        let y = p.matmul(&v)?.reshape((batch, nh, seq, hd))?; // (b, nh, t, hd)
        let y = y.transpose(1, 2)?.reshape((batch * seq, nh * hd))?;
        y.matmul(&block.wo)
    }
}

fn norm(n: &NormW, x: &Tensor) -> Result<Tensor> {
    match &n.b {
        None => ops::rms_norm(x, &n.w, NORM_EPS),
        Some(b) => ops::layer_norm(x, &n.w, b, NORM_EPS),
    }
}

impl Expert {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = x.matmul(&self.w_in)?;
        let h = if self.gated {
            // One matmul for gate and up; SwiGLU = silu(gate) · up.
            ops::swiglu(&h)?
        } else {
            h.gelu()?
        };
        h.matmul(&self.w_out)
    }
}

/// FFN output and, for MoE, the block's load-balancing loss.
fn ffn(ffn: &Ffn, x: &Tensor) -> Result<(Tensor, Option<Tensor>)> {
    match ffn {
        Ffn::Dense(e) => Ok((e.forward(x)?, None)),
        Ffn::Moe {
            router,
            experts,
            shared,
            top_k,
        } => {
            let (out, aux) = moe(x, router, experts, *top_k)?;
            let mut out = out;
            for s in shared {
                out = (out + s.forward(x)?)?;
            }
            Ok((out, Some(aux)))
        }
    }
}

/// Top-K MoE over tokens `x` `(n, d)`: softmax router, the K largest
/// probabilities renormalised to sum to one, each expert run only on the
/// tokens routed to it. The Switch auxiliary loss is
/// `E · Σ_e f_e · P_e` with f_e the fraction of routing slots sent to expert
/// e and P_e its mean router probability (1 when perfectly balanced).
fn moe(x: &Tensor, router: &Tensor, experts: &[Expert], top_k: usize) -> Result<(Tensor, Tensor)> {
    let (n, _) = x.dims2()?;
    let e_count = experts.len();
    let r = route(x, router, e_count, top_k)?;
    let out = dispatch(x, &r, |e, xs| experts[e].forward(xs))?;
    let dev = x.device();
    let frac: Vec<f32> = r
        .rows
        .iter()
        .map(|r| r.len() as f32 / (n * top_k) as f32)
        .collect();
    let frac = Tensor::new(frac.as_slice(), dev)?;
    let aux = (r.probs.mean(0)? * frac)?
        .sum_all()?
        .affine(e_count as f64, 0.0)?;
    Ok((out, aux))
}

/// Where top-K routing sends `n` tokens: the router probabilities `(n, E)`,
/// the K weights of each token renormalised to sum to one `(n·K)`, and per
/// expert the token rows and routing slots sent to it.
pub(super) struct Routing {
    pub probs: Tensor,
    pub top_w: Tensor,
    pub rows: Vec<Vec<u32>>,
    pub slots: Vec<Vec<u32>>,
}

/// Softmax router over tokens `x` `(n, d)`, top-K; shared by training and
/// inference ([`super::infer`]) so both route identically.
pub(super) fn route(x: &Tensor, router: &Tensor, e_count: usize, top_k: usize) -> Result<Routing> {
    let probs = ops::softmax(&x.matmul(router)?)?; // (n, E)
    let top_idx = probs
        .arg_sort_last_dim(false)?
        .narrow(1, 0, top_k)?
        .contiguous()?;
    let top_p = probs.gather(&top_idx, 1)?;
    let top_w = top_p.broadcast_div(&top_p.sum_keepdim(1)?)?.flatten_all()?; // (n·K)
    // The expert choice goes to the host: candle has no grouped matmul, so
    // each expert runs on its own gathered rows.
    let idx: Vec<u32> = top_idx.flatten_all()?.to_vec1()?;
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); e_count];
    let mut slots: Vec<Vec<u32>> = vec![Vec::new(); e_count];
    for (slot, &e) in idx.iter().enumerate() {
        rows[e as usize].push((slot / top_k) as u32);
        slots[e as usize].push(slot as u32);
    }
    Ok(Routing {
        probs,
        top_w,
        rows,
        slots,
    })
}

/// Runs `expert(e, rows)` on the tokens routed to each expert and sums the
/// weighted outputs back per token.
pub(super) fn dispatch(
    x: &Tensor,
    r: &Routing,
    expert: impl Fn(usize, &Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let dev = x.device();
    let mut out = Tensor::zeros(x.shape(), x.dtype(), dev)?;
    for (e, (rows, slots)) in r.rows.iter().zip(&r.slots).enumerate() {
        if rows.is_empty() {
            continue;
        }
        let rows = Tensor::new(rows.as_slice(), dev)?;
        let slots = Tensor::new(slots.as_slice(), dev)?;
        let y = expert(e, &x.index_select(&rows, 0)?)?;
        let w = r.top_w.index_select(&slots, 0)?.unsqueeze(1)?;
        out = out.index_add(&rows, &y.broadcast_mul(&w)?, 0)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_architectures_are_errors_naming_the_field() {
        let mut a = Architecture::dense(2, 64, 4, 3, 128);
        let err = validate(&a).unwrap_err().to_string();
        assert!(err.contains("kv_heads"), "{err}");
        a.kv_heads = 2;
        a.top_k = 2;
        let err = validate(&a).unwrap_err().to_string();
        assert!(err.contains("top_k"), "{err}");
        a.top_k = 1;
        a.head_dim = 15;
        let err = validate(&a).unwrap_err().to_string();
        assert!(err.contains("head_dim 15 must be even"), "{err}");
    }

    #[test]
    fn parameter_count_matches_the_architecture_formula() {
        let mut a = Architecture::dense(2, 64, 4, 2, 96);
        a.vocab = 256;
        a.qk_norm = true;
        let m = Model::new(&a, 256, 32, 0, &Device::Cpu).unwrap();
        assert_eq!(m.num_params(), a.params_total());
        let mut moe = a.clone();
        moe.experts = 4;
        moe.top_k = 2;
        moe.shared_experts = 1;
        moe.shared_ffn = 48;
        moe.tied_embeddings = true;
        let m = Model::new(&moe, 256, 32, 0, &Device::Cpu).unwrap();
        assert_eq!(m.num_params(), moe.params_total());
    }
}
