//! The operators of one forward pass and their FLOPs and bytes, for prefill
//! (numbers) and for one decode step (affine in the context length).
use crate::arch::{Architecture, Norm};
use crate::format::TensorBytes;
use crate::workload::{Attention, Experts, Workload};

use super::affine::Affine;

/// Which peak an operator runs at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Engine {
    /// Projections and experts: the precision's matmul type (w4a16 → fp16).
    Matmul,
    /// The LM head: the embedding type when that is a float (the shorthands
    /// leave it unquantised), the matmul type when it is quantised.
    Head,
    /// Norms, `RoPE`, activations, softmax and attention scores: the float
    /// vector type (int8 and fp8 apply to matmul inputs only).
    Vector,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Matmul => "matmul",
            Engine::Head => "head",
            Engine::Vector => "vector",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Op {
    pub name: &'static str,
    /// Instances per forward pass: the layer count, or 1 for model-level ops.
    pub count: f64,
    /// Kernels each instance launches: 1, except for expert operators run
    /// in a loop over the experts hit ([`Experts::Looped`]), which launch
    /// one per distinct expert.
    pub launches: f64,
    pub engine: Engine,
    pub flops: Affine,
    pub weight: Affine,
    /// Activation bytes read plus written.
    pub act: Affine,
    pub kv_read: Affine,
    pub kv_write: Affine,
}

impl Op {
    pub fn bytes(&self) -> Affine {
        self.weight
            .plus(self.act)
            .plus(self.kv_read)
            .plus(self.kv_write)
    }
}

/// Where built ops go: evaluation folds them as they come, so nothing is
/// stored or allocated; the breakdown collects them.
pub(crate) struct Ops<F: FnMut(Op)>(F);

impl<F: FnMut(Op)> Ops<F> {
    fn push(&mut self, op: Op) {
        (self.0)(op);
    }
}

/// Which pass the ops describe.
pub(crate) use crate::phase::Phase;

/// Builder state: sizes as f64 once, so each formula reads like the table.
struct Dims {
    b: f64,
    /// Tokens in this pass, all sequences: B·S (prefill) or B (decode).
    t: f64,
    d: f64,
    qd: f64,
    kvd: f64,
    heads: f64,
    dh: f64,
    layers: f64,
    vocab: f64,
    /// Bytes per weight of each tensor class.
    w: TensorBytes,
    a_in: f64,
    a_v: f64,
    kvb: f64,
    /// Tokens already in the cache before this pass (`context`).
    past: f64,
}

fn bytes_of(d: crate::precision::Dtype) -> f64 {
    f64::from(d.bits()) / 8.0
}

/// FLOPs per element of a norm: square, sum, scale and weight for `RMSNorm`;
/// also the mean and bias for `LayerNorm`.
fn norm_flops(norm: Norm) -> f64 {
    match norm {
        Norm::Rms => 4.0,
        Norm::Layer => 7.0,
    }
}

/// The operators of one pass, handed to `sink` in order. Per-layer ops
/// carry `count = layers`.
#[allow(clippy::too_many_lines)] // one table, read top to bottom
pub(crate) fn build(
    arch: &Architecture,
    wl: &Workload,
    bytes: &TensorBytes,
    phase: Phase,
    sink: impl FnMut(Op),
) {
    let p = &wl.precision;
    let s = f64::from(wl.prompt);
    let b = f64::from(wl.batch);
    let z = Dims {
        b,
        t: if phase == Phase::Prefill { b * s } else { b },
        d: f64::from(arch.width),
        qd: arch.q_dim() as f64,
        kvd: arch.kv_dim() as f64,
        heads: f64::from(arch.heads),
        dh: f64::from(arch.head_dim),
        layers: f64::from(arch.layers),
        vocab: f64::from(arch.vocab),
        w: *bytes,
        a_in: p.activation_bytes(),
        a_v: bytes_of(p.vector()),
        kvb: p.kv_bytes(),
        past: f64::from(wl.context),
    };
    let (t, d, l) = (z.t, z.d, z.layers);
    let flat = Affine::flat;
    let mut ops = Ops(sink);
    let layer = |name, engine, flops, weight, act| Op {
        name,
        count: l,
        launches: 1.0,
        engine,
        flops: flat(flops),
        weight: flat(weight),
        act: flat(act),
        kv_read: Affine::ZERO,
        kv_write: Affine::ZERO,
    };
    // A matmul of `t` tokens through an `inp × out` matrix stored in `w`
    // bytes per weight; its input is in the matmul type, its output in the
    // vector type.
    let matmul = |name, tokens: f64, inp: f64, out: f64, rows_read: f64, w: f64| {
        layer(
            name,
            Engine::Matmul,
            2.0 * tokens * inp * out,
            rows_read * inp * out * w,
            tokens * (inp * z.a_in + out * z.a_v),
        )
    };
    let norm_weight = match arch.norm {
        Norm::Rms => d,
        Norm::Layer => 2.0 * d,
    } * z.w.vector;

    // Only the rows of the tokens in this pass are read, not the table.
    ops.push(Op {
        count: 1.0,
        ..layer(
            "embedding",
            Engine::Vector,
            0.0,
            t.min(z.vocab) * d * z.w.embedding,
            t * d * z.a_v,
        )
    });
    ops.push(layer(
        "input_norm",
        Engine::Vector,
        norm_flops(arch.norm) * t * d,
        norm_weight,
        t * d * (z.a_v + z.a_in),
    ));

    let bias = if arch.qkv_bias { 1.0 } else { 0.0 };
    let mut q = matmul("q_proj", t, d, z.qd, 1.0, z.w.q);
    q.flops.c0 += bias * t * z.qd;
    q.weight.c0 += bias * z.qd * z.w.vector;
    ops.push(q);
    for (name, w) in [("k_proj", z.w.k), ("v_proj", z.w.v)] {
        // K and V go straight to the cache, in the KV type.
        let mut kv = matmul(name, t, d, z.kvd, 1.0, w);
        kv.flops.c0 += bias * t * z.kvd;
        kv.weight.c0 += bias * z.kvd * z.w.vector;
        kv.act = flat(t * d * z.a_in);
        kv.kv_write = flat(t * z.kvd * z.kvb);
        ops.push(kv);
    }
    let qk = z.qd + z.kvd;
    if arch.qk_norm {
        let weight = if arch.qk_norm_full { qk } else { 2.0 * z.dh };
        ops.push(layer(
            "qk_norm",
            Engine::Vector,
            4.0 * t * qk,
            weight * z.w.vector,
            2.0 * t * qk * z.a_v,
        ));
    }
    // Rotation: two multiplies and an add per element of Q and K.
    ops.push(layer(
        "rope",
        Engine::Vector,
        3.0 * t * qk,
        0.0,
        2.0 * t * qk * z.a_v,
    ));
    push_attention(&mut ops, &z, wl, phase, s);
    ops.push(matmul("o_proj", t, z.qd, d, 1.0, z.w.o));
    if arch.norms_per_layer > 1 {
        // Residual add folded in: it reads the residual as well.
        ops.push(Op {
            count: l * f64::from(arch.norms_per_layer - 1),
            ..layer(
                "post_norm",
                Engine::Vector,
                (norm_flops(arch.norm) + 1.0) * t * d,
                norm_weight,
                t * d * (2.0 * z.a_v + z.a_in),
            )
        });
    }

    let gated = arch.gated;
    // SiLU·up: sigmoid, two multiplies; GELU alone is counted at 4 too.
    let act_flops = if gated { 5.0 } else { 4.0 };
    // `launches`: kernels per instance (see [`Op::launches`]).
    let ffn = |ops: &mut Ops<_>,
               prefix: [&'static str; 4],
               tokens: f64,
               f: f64,
               rows: f64,
               launches: f64| {
        let mut push = |op: Op| ops.push(Op { launches, ..op });
        if gated {
            push(matmul(prefix[0], tokens, d, f, rows, z.w.gate));
        }
        push(matmul(prefix[1], tokens, d, f, rows, z.w.up));
        let inputs = if gated { 2.0 } else { 1.0 };
        push(layer(
            prefix[2],
            Engine::Vector,
            act_flops * tokens * f,
            0.0,
            tokens * f * (inputs * z.a_v + z.a_in),
        ));
        push(matmul(prefix[3], tokens, f, d, rows, z.w.down));
    };
    if arch.is_moe() {
        let e = f64::from(arch.experts);
        let k = f64::from(arch.top_k);
        ffn_router(&mut ops, &z, e);
        // Expected distinct experts hit by t tokens each picking k of e
        // (uniform routing): e·(1 − (1 − k/e)^t).
        let distinct = e * (1.0 - (1.0 - k / e).powf(t));
        let routed = t * k;
        // A loop over experts launches each expert operator once per
        // distinct expert hit; a grouped GEMM once.
        let launches = match wl.experts {
            Experts::Grouped => 1.0,
            Experts::Looped => distinct,
        };
        ffn(
            &mut ops,
            ["expert_gate", "expert_up", "expert_act", "expert_down"],
            routed,
            f64::from(arch.ffn),
            distinct,
            launches,
        );
        // Weighting and scattering back each expert's outputs.
        ops.push(Op {
            launches,
            ..layer(
                "moe_combine",
                Engine::Vector,
                2.0 * routed * d,
                0.0,
                (routed + t) * d * z.a_v,
            )
        });
        if arch.shared_experts > 0 {
            let f = f64::from(arch.shared_experts) * f64::from(arch.shared_ffn);
            ffn(
                &mut ops,
                ["shared_gate", "shared_up", "shared_act", "shared_down"],
                t,
                f,
                1.0,
                1.0,
            );
        }
    } else {
        ffn(
            &mut ops,
            ["ffn_gate", "ffn_up", "ffn_act", "ffn_down"],
            t,
            f64::from(arch.ffn),
            1.0,
            1.0,
        );
    }

    ops.push(Op {
        count: 1.0,
        ..layer(
            "final_norm",
            Engine::Vector,
            norm_flops(arch.norm) * t * d,
            norm_weight,
            2.0 * t * d * z.a_v,
        )
    });
    // Sampling needs only the last position's logits, so prefill runs the
    // head on B rows, like decode (vLLM prunes hidden states the same way).
    // Logits are written in fp32 for sampling.
    ops.push(Op {
        name: "lm_head",
        count: 1.0,
        launches: 1.0,
        engine: Engine::Head,
        flops: flat(2.0 * z.b * d * z.vocab),
        weight: flat(d * z.vocab * z.w.head),
        act: flat(z.b * (d * z.a_v + z.vocab * 4.0)),
        kv_read: Affine::ZERO,
        kv_write: Affine::ZERO,
    });
}

fn ffn_router(ops: &mut Ops<impl FnMut(Op)>, z: &Dims, e: f64) {
    ops.push(Op {
        name: "router",
        count: z.layers,
        launches: 1.0,
        engine: Engine::Matmul,
        flops: Affine::flat(2.0 * z.t * z.d * e),
        weight: Affine::flat(z.d * e * z.w.router),
        act: Affine::flat(z.t * (z.d * z.a_in + e * z.a_v)),
        kv_read: Affine::ZERO,
        kv_write: Affine::ZERO,
    });
}

/// Attention scores. Decode: one query per sequence over L keys. Prefill:
/// S queries over a causal prefix (fused) or the full S×S square (unfused).
fn push_attention(ops: &mut Ops<impl FnMut(Op)>, z: &Dims, wl: &Workload, phase: Phase, s: f64) {
    let (b, h, dh, qd, kvd) = (z.b, z.heads, z.dh, z.qd, z.kvd);
    // Query tokens per sequence, and a function of "score elements per
    // sequence and head" → Affine in L.
    // Prefill queries see the `past` cached tokens whole and the prompt
    // causally.
    let c = z.past;
    let (sq, pairs) = match (phase, wl.attention) {
        (Phase::Prefill, Attention::Fused) => (s, Affine::flat(s * c + s * (s + 1.0) / 2.0)),
        (Phase::Prefill, Attention::Unfused) => (s, Affine::flat(s * (c + s))),
        (Phase::Decode, _) => (1.0, Affine::linear(1.0)),
    };
    // Keys read per sequence: all of them once (L in decode, past + S in
    // prefill).
    let keys = if phase == Phase::Prefill {
        Affine::flat(c + s)
    } else {
        Affine::linear(1.0)
    };
    let op = |name, flops: Affine, act: Affine, kv_read: Affine| Op {
        name,
        count: z.layers,
        launches: 1.0,
        engine: Engine::Vector,
        flops,
        weight: Affine::ZERO,
        act,
        kv_read,
        kv_write: Affine::ZERO,
    };
    let q_bytes = b * sq * qd * z.a_v;
    let scores = pairs.times(b * h * z.a_v);
    match wl.attention {
        Attention::Fused => ops.push(op(
            "attention",
            pairs.times(b * h * (4.0 * dh + 5.0)),
            Affine::flat(2.0 * q_bytes),
            keys.times(2.0 * b * kvd * z.kvb),
        )),
        Attention::Unfused => {
            let kv = keys.times(b * kvd * z.kvb);
            ops.push(op(
                "qk",
                pairs.times(2.0 * b * h * dh),
                scores.plus(Affine::flat(q_bytes)),
                kv,
            ));
            ops.push(op(
                "softmax",
                pairs.times(5.0 * b * h),
                scores.times(2.0),
                Affine::ZERO,
            ));
            ops.push(op(
                "score_v",
                pairs.times(2.0 * b * h * dh),
                scores.plus(Affine::flat(q_bytes)),
                kv,
            ));
        }
    }
}
