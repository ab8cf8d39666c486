//! Memory footprint: weights in their storage types, the KV cache at the
//! final context, and the peak of transient activations.
use crate::arch::Architecture;
use crate::workload::Workload;

use super::ops::Ops;

fn bytes_of(d: crate::precision::Dtype) -> f64 {
    f64::from(d.bits()) / 8.0
}

/// Weight bytes: matrices in the weight type (with group scales), norms and
/// biases in the vector type, embedding and LM head unquantised.
pub(crate) fn weights(arch: &Architecture, wl: &Workload) -> f64 {
    let p = &wl.precision;
    let d = u64::from(arch.width);
    let ffn_m = if arch.gated { 3 } else { 2 };
    let matrices = 2 * d * arch.q_dim()
        + 2 * d * arch.kv_dim()
        + u64::from(arch.experts) * arch.expert_params()
        + u64::from(arch.shared_experts) * ffn_m * d * u64::from(arch.shared_ffn)
        + arch.router_params();
    let all_matrices = u64::from(arch.layers) * matrices;
    let vectors = arch.params_non_embedding() - all_matrices;
    let tables = arch.embedding_params() + arch.head_params();
    all_matrices as f64 * p.weight_bytes()
        + vectors as f64 * bytes_of(p.vector())
        + tables as f64 * bytes_of(p.embedding())
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
/// operator's inputs and outputs, over the prefill pass (the larger one).
pub(crate) fn activations(arch: &Architecture, wl: &Workload, prefill: &Ops, prompt: f64) -> f64 {
    let largest = prefill
        .as_slice()
        .iter()
        .map(|o| o.act.at(prompt))
        .fold(0.0, f64::max);
    let residual = f64::from(wl.batch) * f64::from(wl.prompt) * f64::from(arch.width);
    largest + residual * bytes_of(wl.precision.vector())
}
