//! A decoder-only transformer built from an [`Architecture`]: pre-norm
//! blocks with RMSNorm (or LayerNorm), RoPE, GQA causal attention with
//! optional QK-norm and QKV bias, a SwiGLU (or GELU) FFN of any size, MoE
//! with softmax top-K routing and the Switch load-balancing loss, shared
//! experts, and tied or untied embeddings.
//!
//! The layers are written once, here, for training ([`Model`]) and for
//! KV-cache inference ([`super::infer`]). The two passes differ in three
//! places only, each a parameter: where the weights come from ([`Source`]:
//! fresh trainable variables or loaded tensors), the attention core (the
//! whole causal sequence, or new tokens over the cache: a closure given to
//! [`Block::forward`]) and the norm kernels ([`Pass`]).
//!
//! The vocabulary comes from the tokenizer, not from `arch.vocab`: a preset's
//! 151k vocab is meaningless for byte-level text, so the model is built with
//! `vocab` = the tokenizer's size and reports its own parameter count.
use super::{TrainError, attention, ops};
use candle_core::{DType, Device, Result, Tensor, Var};
use candle_nn::VarMap;
use rooflaw_stdlib::arch::{Architecture, Norm};
use rooflaw_stdlib::rng::SplitMix64;
use std::fmt::Write as _;

/// Init standard deviation of every matrix (GPT-2 / Qwen convention).
const INIT_STD: f64 = 0.02;
pub(crate) const NORM_EPS: f64 = 1e-6;
pub(crate) const ROPE_THETA: f64 = 10_000.0;

/// Which kernels a forward pass runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pass {
    /// Differentiable ops ([`ops`]: fused CPU kernels with a hand-written
    /// backward, primitive candle ops elsewhere) and the MoE balance loss.
    Train,
    /// candle's fused norms, which have no backward pass but run every
    /// dtype and device; no balance loss.
    Infer,
}

/// The trainable model.
pub struct Model {
    pub arch: Architecture,
    pub vocab: usize,
    varmap: VarMap,
    layers: Layers,
    rope: ops::RopeTables,
    mask: Tensor,
    max_seq: usize,
    /// The float type of the forward pass's matmuls and activations; the
    /// variables stay fp32 ([`Model::mixed`]).
    compute: DType,
}

/// Every weight of the model. Matrices are stored `(in, out)` so a forward
/// pass is `x.matmul(w)` with no transposed copy.
pub(crate) struct Layers {
    embed: Tensor,
    head: Option<Tensor>,
    final_norm: NormW,
    pub(crate) blocks: Vec<Block>,
}

struct NormW {
    w: Tensor,
    b: Option<Tensor>,
}

pub(crate) struct Block {
    norms: Vec<NormW>,
    attn: Attn,
    ffn: Ffn,
}

/// Q, K and V in one matrix `(d, q + 2·kv)`, the output projection `(q, d)`.
pub(crate) struct Attn {
    wqkv: Tensor,
    bqkv: Option<Tensor>,
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    wo: Tensor,
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

/// Where the weights come from, by their training names
/// (`layers.0.attn.wqkv`) and shapes.
pub(crate) trait Source {
    fn get(
        &mut self,
        name: &str,
        dims: &[usize],
        init: Init,
    ) -> std::result::Result<Tensor, TrainError>;

    fn opt(
        &mut self,
        name: &str,
        dims: &[usize],
        init: Init,
        present: bool,
    ) -> std::result::Result<Option<Tensor>, TrainError> {
        present.then(|| self.get(name, dims, init)).transpose()
    }
}

/// Training's source: fresh variables, drawn from one seeded generator.
struct Builder<'a> {
    varmap: &'a VarMap,
    rng: SplitMix64,
    device: &'a Device,
}

impl Source for Builder<'_> {
    fn get(
        &mut self,
        name: &str,
        dims: &[usize],
        init: Init,
    ) -> std::result::Result<Tensor, TrainError> {
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
}

/// How training initialises a weight (inference loads it instead).
#[derive(Clone, Copy)]
pub(crate) enum Init {
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
        let varmap = VarMap::new();
        let mut b = Builder {
            varmap: &varmap,
            rng: SplitMix64::new(seed),
            device,
        };
        let layers = Layers::build(arch, vocab, &mut b)?;
        let hd = arch.head_dim as usize;
        let rope = ops::RopeTables::new(max_seq, hd, ROPE_THETA, device)?;
        let mask = ops::causal_mask(max_seq, device)?;
        Ok(Self {
            arch: arch.clone(),
            vocab,
            varmap,
            layers,
            rope,
            mask,
            max_seq,
            compute: DType::F32,
        })
    }

    /// Mixed precision: each forward pass casts the fp32 weights to
    /// `compute` (a differentiable cast, so gradients arrive in fp32) and
    /// runs its matmuls and activations in that type.
    #[must_use]
    pub fn mixed(mut self, compute: DType) -> Self {
        self.compute = compute;
        self
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
        let cast;
        let layers = if self.compute == DType::F32 {
            &self.layers
        } else {
            cast = self.layers.cast(self.compute)?;
            &cast
        };
        let mut x = layers.embed(ids)?; // (b·t, d)
        let mut aux = Tensor::zeros((), DType::F32, ids.device())?;
        for block in &layers.blocks {
            let (y, block_aux) = block.forward(x, Pass::Train, |attn, h| {
                self.attention(attn, h, batch, seq, &mask)
            })?;
            if let Some(block_aux) = block_aux {
                aux = (aux + block_aux)?;
            }
            x = y;
        }
        debug_assert_eq!(x.dims(), &[batch * seq, d]);
        Ok(Forward {
            logits: layers.logits(&x, Pass::Train)?,
            aux_loss: aux,
        })
    }

    /// Causal attention over the whole sequence: on the CPU the fused
    /// kernels for RoPE and attention, elsewhere RoPE and [`Attn::attend`].
    fn attention(
        &self,
        attn: &Attn,
        h: &Tensor,
        batch: usize,
        seq: usize,
        mask: &Tensor,
    ) -> Result<Tensor> {
        let heads = Heads::of(&self.arch);
        if ops::fusable(h) {
            let (cos, sin) = self.rope.shared();
            let op = attention::CausalAttention {
                heads: heads.q,
                kv_heads: heads.kv,
                seq,
                cos,
                sin,
            };
            // The packed rows the kernel reads, QK-normed per head where the
            // architecture has QK-norm.
            let qkv = if attn.q_norm.is_none() {
                attn.qkv(h)?
            } else {
                let (q, k, v) = attn.project(h, heads, batch, seq, Pass::Train)?;
                Tensor::cat(&[&q, &k, &v], 2)?.reshape((batch * seq, ()))?
            };
            return qkv.contiguous()?.apply_op1(op)?.matmul(&attn.wo);
        }
        let (q, k, v) = attn.project(h, heads, batch, seq, Pass::Train)?;
        let q = self.rope.apply(&q.transpose(1, 2)?)?; // (b, nh, t, hd)
        let k = self.rope.apply(&k.transpose(1, 2)?)?; // (b, nkv, t, hd)
        let v = v.transpose(1, 2)?.contiguous()?;
        attn.attend(&q, &k.t()?.contiguous()?, &v, heads, |scores| {
            ops::causal_softmax(scores, mask)
        })
    }
}

/// Head counts and size of an architecture's attention.
#[derive(Clone, Copy)]
pub(crate) struct Heads {
    pub q: usize,
    pub kv: usize,
    pub dim: usize,
}

impl Heads {
    pub(crate) fn of(arch: &Architecture) -> Self {
        Self {
            q: arch.heads as usize,
            kv: arch.kv_heads as usize,
            dim: arch.head_dim as usize,
        }
    }
}

fn norm_w(
    src: &mut dyn Source,
    name: &str,
    dim: usize,
    kind: Norm,
) -> std::result::Result<NormW, TrainError> {
    Ok(NormW {
        w: src.get(&format!("{name}.weight"), &[dim], Init::Ones)?,
        b: src.opt(
            &format!("{name}.bias"),
            &[dim],
            Init::Zeros,
            kind == Norm::Layer,
        )?,
    })
}

fn expert(
    src: &mut dyn Source,
    name: &str,
    d: usize,
    f: usize,
    gated: bool,
) -> std::result::Result<Expert, TrainError> {
    let width = if gated { 2 * f } else { f };
    Ok(Expert {
        w_in: src.get(&format!("{name}.w_in"), &[d, width], Init::Normal)?,
        w_out: src.get(&format!("{name}.w_out"), &[f, d], Init::Normal)?,
        gated,
    })
}

/// Every tensor of a part mapped through `f`, the structure kept.
trait MapTensors: Sized {
    fn map(&self, f: &dyn Fn(&Tensor) -> Result<Tensor>) -> Result<Self>;
}

fn map_opt(t: Option<&Tensor>, f: &dyn Fn(&Tensor) -> Result<Tensor>) -> Result<Option<Tensor>> {
    t.map(f).transpose()
}

fn map_all<T: MapTensors>(v: &[T], f: &dyn Fn(&Tensor) -> Result<Tensor>) -> Result<Vec<T>> {
    v.iter().map(|x| x.map(f)).collect()
}

impl MapTensors for NormW {
    fn map(&self, f: &dyn Fn(&Tensor) -> Result<Tensor>) -> Result<Self> {
        Ok(Self {
            w: f(&self.w)?,
            b: map_opt(self.b.as_ref(), f)?,
        })
    }
}

impl MapTensors for Expert {
    fn map(&self, f: &dyn Fn(&Tensor) -> Result<Tensor>) -> Result<Self> {
        Ok(Self {
            w_in: f(&self.w_in)?,
            w_out: f(&self.w_out)?,
            gated: self.gated,
        })
    }
}

impl MapTensors for Block {
    fn map(&self, f: &dyn Fn(&Tensor) -> Result<Tensor>) -> Result<Self> {
        let a = &self.attn;
        Ok(Self {
            norms: map_all(&self.norms, f)?,
            attn: Attn {
                wqkv: f(&a.wqkv)?,
                bqkv: map_opt(a.bqkv.as_ref(), f)?,
                q_norm: map_opt(a.q_norm.as_ref(), f)?,
                k_norm: map_opt(a.k_norm.as_ref(), f)?,
                wo: f(&a.wo)?,
            },
            ffn: match &self.ffn {
                Ffn::Dense(e) => Ffn::Dense(e.map(f)?),
                Ffn::Moe {
                    router,
                    experts,
                    shared,
                    top_k,
                } => Ffn::Moe {
                    router: f(router)?,
                    experts: map_all(experts, f)?,
                    shared: map_all(shared, f)?,
                    top_k: *top_k,
                },
            },
        })
    }
}

impl Layers {
    /// The weights cast to `dtype`: differentiable, so the gradients of a
    /// pass over the cast weights reach the original variables.
    fn cast(&self, dtype: DType) -> Result<Self> {
        let f = |t: &Tensor| t.to_dtype(dtype);
        Ok(Self {
            embed: f(&self.embed)?,
            head: map_opt(self.head.as_ref(), &f)?,
            final_norm: self.final_norm.map(&f)?,
            blocks: map_all(&self.blocks, &f)?,
        })
    }

    /// The weights of `arch` with a `vocab`-token embedding. Training draws
    /// its random weights in this order, so it fixes what a seed gives.
    pub(crate) fn build(
        arch: &Architecture,
        vocab: usize,
        src: &mut dyn Source,
    ) -> std::result::Result<Self, TrainError> {
        let d = arch.width as usize;
        let hd = arch.head_dim as usize;
        let (q, kv) = (arch.q_dim() as usize, arch.kv_dim() as usize);
        let embed = src.get("embed", &[vocab, d], Init::Normal)?;
        let mut blocks = Vec::with_capacity(arch.layers as usize);
        for l in 0..arch.layers as usize {
            let p = format!("layers.{l}");
            let norms = (0..arch.norms_per_layer as usize)
                .map(|i| norm_w(src, &format!("{p}.norm{i}"), d, arch.norm))
                .collect::<std::result::Result<Vec<_>, _>>()?;
            let attn = Attn {
                wqkv: src.get(&format!("{p}.attn.wqkv"), &[d, q + 2 * kv], Init::Normal)?,
                bqkv: src.opt(
                    &format!("{p}.attn.bqkv"),
                    &[q + 2 * kv],
                    Init::Zeros,
                    arch.qkv_bias,
                )?,
                q_norm: src.opt(&format!("{p}.attn.q_norm"), &[hd], Init::Ones, arch.qk_norm)?,
                k_norm: src.opt(&format!("{p}.attn.k_norm"), &[hd], Init::Ones, arch.qk_norm)?,
                wo: src.get(&format!("{p}.attn.wo"), &[q, d], Init::Normal)?,
            };
            let f = arch.ffn as usize;
            let ffn = if arch.is_moe() {
                let router = src.get(
                    &format!("{p}.moe.router"),
                    &[d, arch.experts as usize],
                    Init::Normal,
                )?;
                let experts = (0..arch.experts as usize)
                    .map(|e| expert(src, &format!("{p}.moe.expert{e}"), d, f, arch.gated))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                let shared = (0..arch.shared_experts as usize)
                    .map(|s| {
                        expert(
                            src,
                            &format!("{p}.moe.shared{s}"),
                            d,
                            arch.shared_ffn as usize,
                            arch.gated,
                        )
                    })
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ffn::Moe {
                    router,
                    experts,
                    shared,
                    top_k: arch.top_k as usize,
                }
            } else {
                Ffn::Dense(expert(src, &format!("{p}.ffn"), d, f, arch.gated)?)
            };
            blocks.push(Block { norms, attn, ffn });
        }
        let final_norm = norm_w(src, "final_norm", d, arch.norm)?;
        let head = src.opt("head", &[d, vocab], Init::Normal, !arch.tied_embeddings)?;
        Ok(Self {
            embed,
            head,
            final_norm,
            blocks,
        })
    }

    /// Embeddings of token ids of any shape, flattened: `(n, d)`.
    pub(crate) fn embed(&self, ids: &Tensor) -> Result<Tensor> {
        self.embed.index_select(&ids.flatten_all()?, 0)
    }

    /// Final norm and LM head (the embedding, transposed, when tied):
    /// logits `(n, vocab)` of `x` `(n, d)`.
    pub(crate) fn logits(&self, x: &Tensor, pass: Pass) -> Result<Tensor> {
        let x = norm(&self.final_norm, x, pass)?;
        match &self.head {
            Some(w) => x.matmul(w),
            None => x.matmul(&self.embed.t()?),
        }
    }
}

impl Block {
    /// The block on `x` `(n, d)`: attention of the normed input through
    /// `attention` (the pass's core, see [`Attn`]), then the FFN, each added
    /// back to the residual stream and post-normed when the architecture has
    /// four norms per layer. Returns the new stream and, training an MoE,
    /// the block's load-balancing loss.
    pub(crate) fn forward(
        &self,
        x: Tensor,
        pass: Pass,
        attention: impl FnOnce(&Attn, &Tensor) -> Result<Tensor>,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let post = self.norms.len() == 4;
        let h = norm(&self.norms[0], &x, pass)?;
        let mut a = attention(&self.attn, &h)?;
        if post {
            a = norm(&self.norms[2], &a, pass)?;
        }
        let x = (x + a)?;
        let h = norm(&self.norms[1], &x, pass)?;
        let (mut f, aux) = self.ffn.forward(&h, pass)?;
        if post {
            f = norm(&self.norms[3], &f, pass)?;
        }
        Ok(((x + f)?, aux))
    }
}

impl Attn {
    /// Q, K and V of `h` `(batch·t, d)` in one matmul (with the bias),
    /// packed per row: `(batch·t, (heads + 2·kv_heads)·head_dim)`.
    fn qkv(&self, h: &Tensor) -> Result<Tensor> {
        let qkv = h.matmul(&self.wqkv)?;
        match &self.bqkv {
            Some(b) => qkv.broadcast_add(b),
            None => Ok(qkv),
        }
    }

    /// Q, K and V of `h` `(batch·t, d)` in one matmul, each
    /// `(batch, t, heads, head_dim)`; Q and K normed per head with QK-norm.
    pub(crate) fn project(
        &self,
        h: &Tensor,
        heads: Heads,
        batch: usize,
        t: usize,
        pass: Pass,
    ) -> Result<(Tensor, Tensor, Tensor)> {
        let (nh, nkv) = (heads.q, heads.kv);
        let qkv = self.qkv(h)?.reshape((batch, t, nh + 2 * nkv, heads.dim))?;
        let mut q = qkv.narrow(2, 0, nh)?;
        let mut k = qkv.narrow(2, nh, nkv)?;
        let v = qkv.narrow(2, nh + nkv, nkv)?;
        if let (Some(qn), Some(kn)) = (&self.q_norm, &self.k_norm) {
            q = rms_norm(&q, qn, pass)?;
            k = rms_norm(&k, kn, pass)?;
        }
        Ok((q, k, v))
    }

    /// Grouped-query attention of the queries `q` `(batch, heads, t,
    /// head_dim)` (rotated) over `keys_t` `(batch, kv_heads, head_dim, L)`
    /// (rotated, transposed) and `values` `(batch, kv_heads, L, head_dim)`,
    /// then the output projection: `(batch·t, d)`. `softmax` turns the
    /// scores `(batch, heads, t, L)` into probabilities, masking as its pass
    /// needs.
    ///
    /// K and V are never repeated per query head: the `group` query heads
    /// that share a KV head are stacked along the row axis of one batched
    /// matmul.
    pub(crate) fn attend(
        &self,
        q: &Tensor,
        keys_t: &Tensor,
        values: &Tensor,
        heads: Heads,
        softmax: impl FnOnce(&Tensor) -> Result<Tensor>,
    ) -> Result<Tensor> {
        let (batch, nh, t, hd) = q.dims4()?;
        let len = values.dim(2)?;
        let group = nh / heads.kv;
        let q = (q.reshape((batch, heads.kv, group * t, hd))? * (1.0 / (hd as f64).sqrt()))?;
        let scores = q.matmul(keys_t)?.reshape((batch, nh, t, len))?;
        let p = softmax(&scores)?.reshape((batch, heads.kv, group * t, len))?;
        let y = p.matmul(values)?.reshape((batch, nh, t, hd))?;
        let y = y.transpose(1, 2)?.reshape((batch * t, nh * hd))?;
        y.matmul(&self.wo)
    }
}

fn rms_norm(x: &Tensor, w: &Tensor, pass: Pass) -> Result<Tensor> {
    match pass {
        Pass::Train => ops::rms_norm(x, w, NORM_EPS),
        Pass::Infer => candle_nn::ops::rms_norm(&x.contiguous()?, w, NORM_EPS as f32),
    }
}

fn norm(n: &NormW, x: &Tensor, pass: Pass) -> Result<Tensor> {
    match (&n.b, pass) {
        (None, _) => rms_norm(x, &n.w, pass),
        (Some(b), Pass::Train) => ops::layer_norm(x, &n.w, b, NORM_EPS),
        (Some(b), Pass::Infer) => {
            candle_nn::ops::layer_norm(&x.contiguous()?, &n.w, b, NORM_EPS as f32)
        }
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

impl Ffn {
    /// FFN output and, training an MoE, the block's load-balancing loss.
    fn forward(&self, x: &Tensor, pass: Pass) -> Result<(Tensor, Option<Tensor>)> {
        match self {
            Ffn::Dense(e) => Ok((e.forward(x)?, None)),
            Ffn::Moe {
                router,
                experts,
                shared,
                top_k,
            } => {
                let r = route(x, router, experts.len(), *top_k)?;
                let mut out = dispatch(x, &r, |e, xs| experts[e].forward(xs))?;
                for s in shared {
                    out = (out + s.forward(x)?)?;
                }
                let aux = match pass {
                    Pass::Train => Some(balance_loss(&r, x.dim(0)?, *top_k)?),
                    Pass::Infer => None,
                };
                Ok((out, aux))
            }
        }
    }
}

/// Where top-K routing sends `n` tokens: the router probabilities `(n, E)`,
/// the K weights of each token renormalised to sum to one `(n·K)`, and per
/// expert the token rows and routing slots sent to it.
struct Routing {
    probs: Tensor,
    top_w: Tensor,
    rows: Vec<Vec<u32>>,
    slots: Vec<Vec<u32>>,
}

/// Softmax router over tokens `x` `(n, d)`, top-K.
fn route(x: &Tensor, router: &Tensor, e_count: usize, top_k: usize) -> Result<Routing> {
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
fn dispatch(
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

/// The Switch load-balancing loss of a routing of `n` tokens,
/// `E · Σ_e f_e · P_e` with f_e the fraction of routing slots sent to expert
/// e and P_e its mean router probability (1 when perfectly balanced).
fn balance_loss(r: &Routing, n: usize, top_k: usize) -> Result<Tensor> {
    let e_count = r.rows.len();
    let frac: Vec<f32> = r
        .rows
        .iter()
        .map(|r| r.len() as f32 / (n * top_k) as f32)
        .collect();
    let frac = Tensor::new(frac.as_slice(), r.probs.device())?;
    (r.probs.to_dtype(DType::F32)?.mean(0)? * frac)?
        .sum_all()?
        .affine(e_count as f64, 0.0)
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
