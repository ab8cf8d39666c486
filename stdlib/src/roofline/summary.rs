//! The result of one evaluation, in SI units inside and in the stable JSON
//! shape (milliseconds, bytes) outside.
use serde::{Serialize, Serializer};

/// Whether an operator (or a phase, by the larger share of its time) is
/// limited by compute or by memory traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bound {
    Compute,
    Memory,
}

impl Bound {
    pub fn name(self) -> &'static str {
        match self {
            Bound::Compute => "compute",
            Bound::Memory => "memory",
        }
    }
}

/// Prefill, decode and memory of one architecture on one chip and workload.
/// Times in seconds, sizes in bytes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Summary {
    /// The prompt's forward pass, including the first token's logits.
    pub prefill: f64,
    /// Time to first token; equals `prefill` (queueing is not modelled).
    pub ttft: f64,
    /// All decode steps (output tokens 2..=generate).
    pub decode: f64,
    /// Mean time per output token after the first (vLLM's TPOT); 0 when only
    /// one token is generated.
    pub decode_per_token: f64,
    /// Output tokens of all sequences per second of `total`.
    pub tokens_per_s: f64,
    pub total: f64,
    /// All weights, every expert included.
    pub weights_bytes: f64,
    /// KV cache at the final context, `B·(S_in` + `S_out)·2·l·d_kv·b_kv`.
    pub kv_cache_bytes: f64,
    /// Peak transient activations (largest op's inputs and outputs plus the
    /// residual stream), reached during prefill.
    pub activation_bytes: f64,
    pub memory_bytes: f64,
    pub fits_memory: bool,
    pub params_total: u64,
    pub params_active: u64,
    pub prefill_flops: f64,
    /// FLOPs of all decode steps.
    pub decode_flops: f64,
    pub prefill_bound: Bound,
    pub decode_bound: Bound,
}

#[derive(Serialize)]
struct Json {
    prefill_ms: f64,
    ttft_ms: f64,
    decode_ms: f64,
    decode_ms_per_token: f64,
    tokens_per_s: f64,
    total_ms: f64,
    weights_bytes: f64,
    kv_cache_bytes: f64,
    activation_bytes: f64,
    memory_bytes: f64,
    fits_memory: bool,
    params_total: u64,
    params_active: u64,
    prefill_flops: f64,
    decode_flops: f64,
    prefill_bound: Bound,
    decode_bound: Bound,
}

impl Serialize for Summary {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Json {
            prefill_ms: self.prefill * 1e3,
            ttft_ms: self.ttft * 1e3,
            decode_ms: self.decode * 1e3,
            decode_ms_per_token: self.decode_per_token * 1e3,
            tokens_per_s: self.tokens_per_s,
            total_ms: self.total * 1e3,
            weights_bytes: self.weights_bytes,
            kv_cache_bytes: self.kv_cache_bytes,
            activation_bytes: self.activation_bytes,
            memory_bytes: self.memory_bytes,
            fits_memory: self.fits_memory,
            params_total: self.params_total,
            params_active: self.params_active,
            prefill_flops: self.prefill_flops,
            decode_flops: self.decode_flops,
            prefill_bound: self.prefill_bound,
            decode_bound: self.decode_bound,
        }
        .serialize(s)
    }
}
