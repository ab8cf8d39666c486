//! A decoder-only transformer's shape: the paper's θ plus what real models
//! need (head dim, gating, shared experts, vocab, tying). The roofline, the
//! laws, training and search all take this one type.
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Norm {
    /// `RMSNorm`: a weight per channel.
    #[default]
    Rms,
    /// `LayerNorm`: a weight and a bias per channel.
    Layer,
}

// The flags mirror independent switches of Hugging Face configs.
#[allow(clippy::struct_excessive_bools)]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Architecture {
    /// Transformer blocks, l.
    pub layers: u32,
    /// Hidden size, d.
    pub width: u32,
    /// Query heads, `n_h`.
    pub heads: u32,
    /// Key/value heads, `n_kv` (GQA when < heads; gqa = heads / `kv_heads`).
    pub kv_heads: u32,
    /// Per-head dimension `d_h` (usually width / heads; Qwen3 and Gemma differ).
    pub head_dim: u32,
    /// FFN intermediate size of one expert (of the dense FFN when experts = 1).
    pub ffn: u32,
    /// SwiGLU-style gated FFN (gate, up, down) rather than two matrices.
    #[serde(default = "yes")]
    pub gated: bool,
    /// Routed experts E (1 = dense).
    #[serde(default = "one")]
    pub experts: u32,
    /// Experts active per token K.
    #[serde(default = "one")]
    pub top_k: u32,
    /// Shared (always active) experts.
    #[serde(default)]
    pub shared_experts: u32,
    /// Intermediate size of one shared expert.
    #[serde(default)]
    pub shared_ffn: u32,
    pub vocab: u32,
    /// Input embedding and LM head share one matrix.
    #[serde(default)]
    pub tied_embeddings: bool,
    /// Bias on the Q, K and V projections (Qwen2).
    #[serde(default)]
    pub qkv_bias: bool,
    /// `RMSNorm` on queries and keys per head (Qwen3, `OLMoE`, the paper's recipe).
    #[serde(default)]
    pub qk_norm: bool,
    /// The QK norms span all heads (`OLMoE`: widths `q_dim` and `kv_dim`) rather
    /// than one head (Qwen3: `head_dim` each).
    #[serde(default)]
    pub qk_norm_full: bool,
    /// A sigmoid gate (a width-long vector) scales the shared experts'
    /// output (Qwen2-MoE).
    #[serde(default)]
    pub shared_expert_gate: bool,
    #[serde(default)]
    pub norm: Norm,
    /// Norms per block (2 pre-norm; Gemma-2 has 4).
    #[serde(default = "two")]
    pub norms_per_layer: u32,
    /// The longest sequence the model was trained for (`config.json`'s
    /// `max_position_embeddings`, GGUF's `context_length`), when known: a
    /// workload that runs past it is an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_context: Option<u32>,
}

/// Why a shape is not an architecture. Every part of rooflaw (the roofline,
/// the laws, training, spaces, baselines, imported and preset models) holds
/// an architecture to these rules through [`Architecture::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ArchError {
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    #[error("heads ({heads}) must be a multiple of kv_heads ({kv_heads})")]
    Gqa { heads: u32, kv_heads: u32 },
    #[error("top_k ({top_k}) must be between 1 and experts ({experts})")]
    TopK { top_k: u32, experts: u32 },
    #[error("shared_experts is {0} but shared_ffn is 0")]
    SharedFfn(u32),
}

impl ArchError {
    /// The rule broken without this architecture's numbers, so that the
    /// many candidates of a space dropped for one rule count under one
    /// reason.
    pub fn rule(self) -> String {
        match self {
            Self::Zero(field) => format!("`{field}` is below 1"),
            Self::Gqa { .. } => "kv_heads does not divide heads".into(),
            Self::TopK { top_k: 0, .. } => "`top_k` is below 1".into(),
            Self::TopK { .. } => "top_k exceeds experts".into(),
            Self::SharedFfn(_) => "shared_experts without shared_ffn".into(),
        }
    }
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn two() -> u32 {
    2
}

impl Architecture {
    /// A dense `SwiGLU` model with head dim 64 and an untied 32k vocabulary,
    /// for tests and examples.
    pub fn dense(layers: u32, width: u32, heads: u32, kv_heads: u32, ffn: u32) -> Self {
        Self {
            layers,
            width,
            heads,
            kv_heads,
            head_dim: width / heads,
            ffn,
            gated: true,
            experts: 1,
            top_k: 1,
            shared_experts: 0,
            shared_ffn: 0,
            vocab: 32_000,
            tied_embeddings: false,
            qkv_bias: false,
            qk_norm: false,
            qk_norm_full: false,
            shared_expert_gate: false,
            norm: Norm::Rms,
            norms_per_layer: 2,
            max_context: None,
        }
    }

    /// The one definition of a valid architecture: positive sizes, query
    /// heads in whole groups per KV head, 1 ≤ `top_k` ≤ experts, and shared
    /// experts with a size. Callers with needs of their own (training's
    /// kernels) add their checks on top of this one.
    pub fn validate(&self) -> Result<(), ArchError> {
        let positive = [
            ("layers", self.layers),
            ("width", self.width),
            ("heads", self.heads),
            ("kv_heads", self.kv_heads),
            ("head_dim", self.head_dim),
            ("ffn", self.ffn),
            ("experts", self.experts),
            ("vocab", self.vocab),
            ("norms_per_layer", self.norms_per_layer),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(ArchError::Zero(name));
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return Err(ArchError::Gqa {
                heads: self.heads,
                kv_heads: self.kv_heads,
            });
        }
        if self.top_k == 0 || self.top_k > self.experts {
            return Err(ArchError::TopK {
                top_k: self.top_k,
                experts: self.experts,
            });
        }
        if self.shared_experts > 0 && self.shared_ffn == 0 {
            return Err(ArchError::SharedFfn(self.shared_experts));
        }
        Ok(())
    }

    pub fn is_moe(&self) -> bool {
        self.experts > 1
    }

    /// Query heads per KV head.
    pub fn gqa(&self) -> f64 {
        f64::from(self.heads) / f64::from(self.kv_heads)
    }

    /// KV dimension per token and layer for K (or V): `d_m` = `d_h` · `n_kv`.
    pub fn kv_dim(&self) -> u64 {
        u64::from(self.head_dim) * u64::from(self.kv_heads)
    }

    /// Query/output dimension: `d_h` · `n_h`.
    pub fn q_dim(&self) -> u64 {
        u64::from(self.head_dim) * u64::from(self.heads)
    }

    /// `MoE` activation rate ρ = K / E (1 for dense).
    pub fn rho(&self) -> f64 {
        f64::from(self.top_k) / f64::from(self.experts)
    }

    /// The paper's FFN ratio r: the activated intermediate size over width
    /// (r = K · `r_single` for `MoE`).
    pub fn ffn_ratio(&self) -> f64 {
        f64::from(self.top_k) * f64::from(self.ffn) / f64::from(self.width)
    }

    fn ffn_matrices(&self) -> u64 {
        if self.gated { 3 } else { 2 }
    }

    fn norm_params(&self) -> u64 {
        let per = match self.norm {
            Norm::Rms => 1,
            Norm::Layer => 2,
        };
        per * u64::from(self.width)
    }

    /// Attention parameters of one block.
    pub fn attention_params(&self) -> u64 {
        let d = u64::from(self.width);
        let q = self.q_dim();
        let kv = self.kv_dim();
        let mut p = d * q + 2 * d * kv + q * d;
        if self.qkv_bias {
            p += q + 2 * kv;
        }
        if self.qk_norm {
            p += if self.qk_norm_full {
                q + kv
            } else {
                2 * u64::from(self.head_dim)
            };
        }
        p
    }

    /// Parameters of one expert (or of the dense FFN).
    pub fn expert_params(&self) -> u64 {
        self.ffn_matrices() * u64::from(self.width) * u64::from(self.ffn)
    }

    /// Parameters of the shared experts of one block, their gate included.
    pub fn shared_params(&self) -> u64 {
        let gate = if self.shared_experts > 0 && self.shared_expert_gate {
            u64::from(self.width)
        } else {
            0
        };
        u64::from(self.shared_experts)
            * self.ffn_matrices()
            * u64::from(self.width)
            * u64::from(self.shared_ffn)
            + gate
    }

    /// Router weights of one block (0 for dense).
    pub fn router_params(&self) -> u64 {
        if self.is_moe() {
            u64::from(self.width) * u64::from(self.experts)
        } else {
            0
        }
    }

    /// All parameters of one block.
    pub fn layer_params(&self) -> u64 {
        self.attention_params()
            + u64::from(self.experts) * self.expert_params()
            + self.shared_params()
            + self.router_params()
            + u64::from(self.norms_per_layer) * self.norm_params()
    }

    /// Parameters of one block that one token uses.
    pub fn layer_params_active(&self) -> u64 {
        self.attention_params()
            + u64::from(self.top_k) * self.expert_params()
            + self.shared_params()
            + self.router_params()
            + u64::from(self.norms_per_layer) * self.norm_params()
    }

    pub fn embedding_params(&self) -> u64 {
        u64::from(self.vocab) * u64::from(self.width)
    }

    /// The LM head's own parameters (0 when tied).
    pub fn head_params(&self) -> u64 {
        if self.tied_embeddings {
            0
        } else {
            self.embedding_params()
        }
    }

    /// Everything except embeddings and the LM head.
    pub fn params_non_embedding(&self) -> u64 {
        u64::from(self.layers) * self.layer_params() + self.norm_params()
    }

    /// All parameters, as Hugging Face counts them.
    pub fn params_total(&self) -> u64 {
        self.params_non_embedding() + self.embedding_params() + self.head_params()
    }

    /// Parameters touched per token, counted the way `MoE` model cards count
    /// "active" parameters (OLMoE-1B-7B's 1.3B, Qwen3-30B-A3B's 3.3B): the
    /// active experts plus everything dense, the embedding table and the LM
    /// head included.
    pub fn params_active(&self) -> u64 {
        u64::from(self.layers) * self.layer_params_active()
            + self.norm_params()
            + self.embedding_params()
            + self.head_params()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broken(change: impl Fn(&mut Architecture)) -> ArchError {
        let mut a = Architecture::dense(2, 64, 4, 2, 128);
        assert_eq!(a.validate(), Ok(()));
        change(&mut a);
        a.validate().unwrap_err()
    }

    #[test]
    fn every_size_must_be_positive() {
        type Field = fn(&mut Architecture) -> &mut u32;
        let fields: [(&str, Field); 9] = [
            ("layers", |a| &mut a.layers),
            ("width", |a| &mut a.width),
            ("heads", |a| &mut a.heads),
            ("kv_heads", |a| &mut a.kv_heads),
            ("head_dim", |a| &mut a.head_dim),
            ("ffn", |a| &mut a.ffn),
            ("experts", |a| &mut a.experts),
            ("vocab", |a| &mut a.vocab),
            ("norms_per_layer", |a| &mut a.norms_per_layer),
        ];
        for (name, field) in fields {
            assert_eq!(broken(|a| *field(a) = 0), ArchError::Zero(name), "{name}");
        }
    }

    #[test]
    fn heads_come_in_whole_groups_per_kv_head() {
        let e = broken(|a| a.kv_heads = 3);
        assert_eq!(
            e,
            ArchError::Gqa {
                heads: 4,
                kv_heads: 3
            }
        );
        assert_eq!(
            e.to_string(),
            "heads (4) must be a multiple of kv_heads (3)"
        );
        assert_eq!(e.rule(), "kv_heads does not divide heads");
    }

    #[test]
    fn top_k_lies_between_one_and_experts() {
        let e = broken(|a| a.top_k = 2);
        assert_eq!(
            e,
            ArchError::TopK {
                top_k: 2,
                experts: 1
            }
        );
        assert_eq!(e.rule(), "top_k exceeds experts");
        let e = broken(|a| a.top_k = 0);
        assert_eq!(e.rule(), "`top_k` is below 1");
        let mut all_active = Architecture::dense(2, 64, 4, 2, 128);
        all_active.experts = 8;
        all_active.top_k = 8;
        assert_eq!(all_active.validate(), Ok(()));
    }

    #[test]
    fn shared_experts_need_a_size() {
        let e = broken(|a| a.shared_experts = 2);
        assert_eq!(e, ArchError::SharedFfn(2));
        let mut a = Architecture::dense(2, 64, 4, 2, 128);
        a.shared_experts = 2;
        a.shared_ffn = 64;
        assert_eq!(a.validate(), Ok(()));
    }
}
