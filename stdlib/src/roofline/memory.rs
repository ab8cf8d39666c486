//! Memory footprint: weights in their storage types, the KV cache at the
//! final context, and the peak of transient activations.
use crate::arch::Architecture;
use crate::format::TensorBytes;
use crate::workload::Workload;

fn bytes_of(d: crate::precision::Dtype) -> f64 {
    f64::from(d.bits()) / 8.0
}

/// Weight bytes: every tensor class in its own storage (`bytes`), norms
/// and biases in the vector type.
pub(crate) fn weights(arch: &Architecture, bytes: &TensorBytes) -> f64 {
    let d = u64::from(arch.width) as f64;
    let (q, kv) = (arch.q_dim() as f64, arch.kv_dim() as f64);
    // Gate, up and down of every routed and shared expert.
    let f = f64::from(arch.experts) * f64::from(arch.ffn)
        + f64::from(arch.shared_experts) * f64::from(arch.shared_ffn);
    let gate = if arch.gated { bytes.gate } else { 0.0 };
    let per_layer = d * q * (bytes.q + bytes.o)
        + d * kv * (bytes.k + bytes.v)
        + d * f * (gate + bytes.up + bytes.down)
        + arch.router_params() as f64 * bytes.router;
    let ffn_m = if arch.gated { 3 } else { 2 };
    let matrices = 2 * u64::from(arch.width) * arch.q_dim()
        + 2 * u64::from(arch.width) * arch.kv_dim()
        + u64::from(arch.experts) * arch.expert_params()
        + u64::from(arch.shared_experts)
            * ffn_m
            * u64::from(arch.width)
            * u64::from(arch.shared_ffn)
        + arch.router_params();
    let vectors = arch.params_non_embedding() - u64::from(arch.layers) * matrices;
    f64::from(arch.layers) * per_layer
        + vectors as f64 * bytes.vector
        + arch.embedding_params() as f64 * bytes.embedding
        + arch.head_params() as f64 * bytes.head
}

/// The KV cache reserved for the final context of every sequence.
pub(crate) fn kv_cache(arch: &Architecture, wl: &Workload) -> f64 {
    f64::from(wl.batch)
        * wl.final_context() as f64
        * 2.0
        * f64::from(arch.layers)
        * arch.kv_dim() as f64
        * wl.precision.kv_bytes()
}

/// Peak transient activations: the residual stream plus the largest single
/// operator's inputs and outputs (`largest`, taken over the prefill pass,
/// the larger one).
pub(crate) fn activations(arch: &Architecture, wl: &Workload, largest: f64) -> f64 {
    let residual = f64::from(wl.batch) * f64::from(wl.prompt) * f64::from(arch.width);
    largest + residual * bytes_of(wl.precision.vector())
}
