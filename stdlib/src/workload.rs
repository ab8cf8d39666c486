//! What one inference run asks of a model: how many sequences, how long the
//! prompt, how many tokens to generate, in which precision, and how attention
//! is executed.
use serde::{Deserialize, Serialize};

use crate::precision::Precision;
use crate::runtime::RuntimeRef;

/// How the attention scores are computed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attention {
    /// One fused kernel (`FlashAttention`, vLLM's paged attention, llama.cpp's
    /// flash-attn path): scores stay on chip, Q/K/V are read once and the
    /// output written once, and causal prefill skips the masked half. The
    /// default, because every serving stack one would measure against runs
    /// this way on GPUs and Jetson.
    #[default]
    Fused,
    /// Three kernels (QK^T, softmax, score·V) that write and re-read the
    /// `B·n_h·S_q·S` score matrix in DRAM over the full square, as the paper's
    /// Appendix E table does.
    Unfused,
}

impl Attention {
    pub fn parse(text: &str) -> Option<Attention> {
        match text {
            "fused" => Some(Attention::Fused),
            "unfused" => Some(Attention::Unfused),
            _ => None,
        }
    }
}

/// How a mixture-of-experts layer runs its experts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Experts {
    /// One grouped GEMM per projection over every routed token (vLLM's
    /// `fused_moe`, llama.cpp's `mul_mat_id`, Megablocks): a kernel per
    /// operator, whatever the number of experts hit. The default, as for
    /// attention: what serving stacks run.
    #[default]
    Grouped,
    /// A loop over the experts hit (Hugging Face transformers' eager `MoE`,
    /// candle, so rooflaw's own `measure`): gather the expert's tokens, its
    /// FFN, scale and scatter back — every expert operator is one kernel
    /// per distinct expert hit, so the launch overhead grows with them.
    Looped,
}

impl Experts {
    pub fn parse(text: &str) -> Option<Experts> {
        match text {
            "grouped" => Some(Experts::Grouped),
            "looped" => Some(Experts::Looped),
            _ => None,
        }
    }
}

/// The attention kernels of rooflaw's own `measure` (candle): three kernels
/// over the full masked S×S score matrix, exactly the roofline's `unfused`
/// accounting; a fused kernel would halve the causal prefill work and skip
/// the score traffic the runs did pay for.
pub const MEASURED_ATTENTION: Attention = Attention::Unfused;
/// The mixture-of-experts kernels of rooflaw's own `measure` (candle): it gathers, runs and
/// scatters each expert hit in turn, so launch overhead is paid per expert
/// hit, not once per grouped operator.
pub const MEASURED_EXPERTS: Experts = Experts::Looped;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Workload {
    /// Sequences processed together, B.
    pub batch: u32,
    /// Prompt tokens per sequence, `S_in`; 0 decodes from the cache as it is
    /// (llama-bench's `tgN`).
    pub prompt: u32,
    /// Output tokens per sequence, `S_out` (the first comes out of prefill);
    /// 0 runs the prompt only (llama-bench's `ppN`).
    pub generate: u32,
    /// Tokens per sequence already in the KV cache before the prompt: the
    /// history of a chat turn, or the chunks before this one in chunked
    /// prefill.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub context: u32,
    pub precision: Precision,
    #[serde(default)]
    pub attention: Attention,
    #[serde(default)]
    pub experts: Experts,
    /// The runtime that executes it; `ideal` (the hardware's own figures)
    /// is left out of the serialised form, so existing keys are unchanged.
    #[serde(default, skip_serializing_if = "RuntimeRef::is_ideal")]
    pub runtime: RuntimeRef,
}

impl Workload {
    /// This workload with the kernels rooflaw's `measure` runs, so a
    /// prediction compares with its measurement.
    #[must_use]
    pub fn as_measured(mut self) -> Self {
        self.attention = MEASURED_ATTENTION;
        self.experts = MEASURED_EXPERTS;
        self
    }

    pub fn new(batch: u32, prompt: u32, generate: u32, precision: Precision) -> Self {
        Self {
            batch,
            prompt,
            generate,
            context: 0,
            precision,
            attention: Attention::Fused,
            experts: Experts::Grouped,
            runtime: RuntimeRef::ideal(),
        }
    }

    /// This workload run by `rt`, with its attention and expert kernels
    /// where the runtime fixes them.
    #[must_use]
    pub fn on(mut self, rt: RuntimeRef) -> Self {
        if let Some(a) = rt.attention {
            self.attention = a;
        }
        if let Some(e) = rt.experts {
            self.experts = e;
        }
        self.runtime = rt;
        self
    }

    /// Decode steps: every output token after the first, which prefill
    /// emits; every output token when there is no prompt to prefill.
    pub fn decode_steps(&self) -> u32 {
        if self.prompt == 0 {
            self.generate
        } else {
            self.generate.saturating_sub(1)
        }
    }

    /// Tokens per sequence in the KV cache before the first decode step:
    /// the context and the prompt.
    pub fn cached(&self) -> u64 {
        u64::from(self.context) + u64::from(self.prompt)
    }

    /// Tokens per sequence held in the KV cache at the end of the run.
    pub fn final_context(&self) -> u64 {
        self.cached() + u64::from(self.generate)
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if signature
fn is_zero(v: &u32) -> bool {
    *v == 0
}
