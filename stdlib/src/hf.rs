//! Import a Hugging Face `config.json` into an [`Architecture`].
//!
//! Supported `model_type`s: `llama` (Llama 2/3, `SmolLM`, `TinyLlama`),
//! `mistral`, `qwen2` (Qwen2 and Qwen2.5), `qwen3`, `gemma`, `gemma2`,
//! `phi3`, `mixtral`, `qwen2_moe`, `qwen3_moe` and `olmoe`. Shapes that the
//! architecture cannot represent (biases on the output projection or MLP,
//! dense layers inside a sparse model) are refused with an error naming the
//! field rather than imported with a wrong parameter count. Sliding-window
//! attention is ignored: it changes neither the parameters nor, for contexts
//! within the window, the traffic.
use serde_json::{Map, Value};

use crate::arch::{ArchError, Architecture, Norm};

#[derive(Debug, thiserror::Error)]
pub enum HfError {
    #[error("config.json is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("config.json must be a JSON object")]
    NotObject,
    #[error("config.json has no `model_type`")]
    NoModelType,
    #[error(
        "model_type `{0}` is not supported (supported: llama, mistral, qwen2, qwen3, gemma, \
         gemma2, phi3, mixtral, qwen2_moe, qwen3_moe, olmoe)"
    )]
    Unsupported(String),
    #[error("{model_type} config.json is missing `{field}`")]
    Missing {
        model_type: String,
        field: &'static str,
    },
    #[error("`{field}` must be {expected}, got {got}")]
    Type {
        field: &'static str,
        expected: &'static str,
        got: String,
    },
    #[error("{model_type}: `{field}` = {got} is not supported: {why}")]
    Feature {
        model_type: String,
        field: &'static str,
        got: String,
        why: &'static str,
    },
    #[error("{model_type}: architecture: {source}")]
    Invalid {
        model_type: String,
        #[source]
        source: ArchError,
    },
}

const SUPPORTED: [&str; 11] = [
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "gemma",
    "gemma2",
    "phi3",
    "mixtral",
    "qwen2_moe",
    "qwen3_moe",
    "olmoe",
];

/// Parses the text of a `config.json`.
pub fn from_json(text: &str) -> Result<Architecture, HfError> {
    from_value(&serde_json::from_str(text)?)
}

struct Config<'a> {
    map: &'a Map<String, Value>,
    model_type: &'a str,
}

impl Config<'_> {
    /// A present, non-null field.
    fn get(&self, field: &str) -> Option<&Value> {
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn opt_u32(&self, field: &'static str) -> Result<Option<u32>, HfError> {
        self.get(field)
            .map(|v| {
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .ok_or_else(|| HfError::Type {
                        field,
                        expected: "a non-negative integer",
                        got: v.to_string(),
                    })
            })
            .transpose()
    }

    fn u32(&self, field: &'static str) -> Result<u32, HfError> {
        self.opt_u32(field)?.ok_or_else(|| HfError::Missing {
            model_type: self.model_type.to_owned(),
            field,
        })
    }

    fn bool_or(&self, field: &'static str, default: bool) -> Result<bool, HfError> {
        match self.get(field) {
            None => Ok(default),
            Some(v) => v.as_bool().ok_or_else(|| HfError::Type {
                field,
                expected: "true or false",
                got: v.to_string(),
            }),
        }
    }

    fn refuse(&self, field: &'static str, got: &Value, why: &'static str) -> HfError {
        HfError::Feature {
            model_type: self.model_type.to_owned(),
            field,
            got: got.to_string(),
            why,
        }
    }

    /// Fails when `field` is present and true.
    fn refuse_true(&self, field: &'static str, why: &'static str) -> Result<(), HfError> {
        if self.bool_or(field, false)? {
            Err(self.refuse(field, &Value::Bool(true), why))
        } else {
            Ok(())
        }
    }
}

/// Converts a parsed `config.json`.
pub fn from_value(value: &Value) -> Result<Architecture, HfError> {
    let map = value.as_object().ok_or(HfError::NotObject)?;
    let model_type = map
        .get("model_type")
        .and_then(Value::as_str)
        .ok_or(HfError::NoModelType)?;
    if !SUPPORTED.contains(&model_type) {
        return Err(HfError::Unsupported(model_type.to_owned()));
    }
    let c = Config { map, model_type };
    let moe = matches!(model_type, "mixtral" | "qwen2_moe" | "qwen3_moe" | "olmoe");

    c.refuse_true(
        "attention_bias",
        "a bias on the output projection is not modelled",
    )?;
    c.refuse_true("mlp_bias", "MLP biases are not modelled")?;
    if let Some(step) = c.opt_u32("decoder_sparse_step")?
        && step != 1
    {
        return Err(c.refuse(
            "decoder_sparse_step",
            &step.into(),
            "only all-MoE layers are modelled",
        ));
    }
    if let Some(v) = c.get("mlp_only_layers")
        && v.as_array().is_none_or(|a| !a.is_empty())
    {
        return Err(c.refuse(
            "mlp_only_layers",
            v,
            "dense layers inside an MoE model are not modelled",
        ));
    }

    let width = c.u32("hidden_size")?;
    let heads = c.u32("num_attention_heads")?;
    let kv_heads = c.opt_u32("num_key_value_heads")?.unwrap_or(heads);
    let head_dim = match c.opt_u32("head_dim")? {
        Some(d) => d,
        None if heads > 0 && width % heads == 0 => width / heads,
        None => {
            return Err(c.refuse(
                "hidden_size",
                &width.into(),
                "not a multiple of num_attention_heads and no head_dim given",
            ));
        }
    };
    let (experts, top_k, ffn) = if moe {
        let experts_field = if model_type == "mixtral" {
            "num_local_experts"
        } else {
            "num_experts"
        };
        let ffn_field = if model_type.starts_with("qwen") {
            "moe_intermediate_size"
        } else {
            "intermediate_size"
        };
        (
            c.u32(experts_field)?,
            c.u32("num_experts_per_tok")?,
            c.u32(ffn_field)?,
        )
    } else {
        (1, 1, c.u32("intermediate_size")?)
    };
    let shared_ffn = if model_type == "qwen2_moe" {
        c.opt_u32("shared_expert_intermediate_size")?.unwrap_or(0)
    } else {
        0
    };
    let arch = Architecture {
        layers: c.u32("num_hidden_layers")?,
        width,
        heads,
        kv_heads,
        head_dim,
        ffn,
        // Every supported family uses a gated MLP (SwiGLU, or GeGLU for Gemma).
        gated: true,
        experts,
        top_k,
        shared_experts: u32::from(shared_ffn > 0),
        shared_ffn,
        vocab: c.u32("vocab_size")?,
        // Gemma's config class defaults to tying; the others to untied.
        tied_embeddings: c.bool_or("tie_word_embeddings", model_type.starts_with("gemma"))?,
        qkv_bias: matches!(model_type, "qwen2" | "qwen2_moe"),
        qk_norm: matches!(model_type, "qwen3" | "qwen3_moe" | "olmoe"),
        qk_norm_full: model_type == "olmoe",
        shared_expert_gate: shared_ffn > 0,
        norm: Norm::Rms,
        norms_per_layer: if model_type == "gemma2" { 4 } else { 2 },
        max_context: c.opt_u32("max_position_embeddings")?,
    };
    arch.validate().map_err(|source| HfError::Invalid {
        model_type: model_type.to_owned(),
        source,
    })?;
    Ok(arch)
}

/// The architecture as a Hugging Face `config.json` for a trainer of the
/// user's own: the closest `model_type` (`llama`, `qwen2`, `qwen3`,
/// `mixtral`, `qwen2_moe`, `qwen3_moe`) with the standard field names, the
/// corpus's vocabulary and the sequence length, and the exact shape under
/// `rooflaw_architecture` for what no standard field says.
pub fn to_config(arch: &Architecture, vocab: u32, seq_len: u32) -> Value {
    let moe = arch.experts > 1;
    let model_type = match (moe, arch.qk_norm, arch.qkv_bias || arch.shared_ffn > 0) {
        (false, true, _) => "qwen3",
        (false, false, true) => "qwen2",
        (false, false, false) => "llama",
        (true, _, true) => "qwen2_moe",
        (true, true, false) => "qwen3_moe",
        (true, false, false) => "mixtral",
    };
    let mut c = serde_json::json!({
        "model_type": model_type,
        "architectures": [match model_type {
            "qwen3" => "Qwen3ForCausalLM",
            "qwen2" => "Qwen2ForCausalLM",
            "llama" => "LlamaForCausalLM",
            "qwen2_moe" => "Qwen2MoeForCausalLM",
            "qwen3_moe" => "Qwen3MoeForCausalLM",
            _ => "MixtralForCausalLM",
        }],
        "num_hidden_layers": arch.layers,
        "hidden_size": arch.width,
        "num_attention_heads": arch.heads,
        "num_key_value_heads": arch.kv_heads,
        "head_dim": arch.head_dim,
        "intermediate_size": arch.ffn,
        "vocab_size": vocab,
        "max_position_embeddings": seq_len,
        "tie_word_embeddings": arch.tied_embeddings,
        "hidden_act": "silu",
        "rms_norm_eps": 1e-6,
    });
    if moe {
        let experts = if model_type == "mixtral" {
            "num_local_experts"
        } else {
            "num_experts"
        };
        c[experts] = arch.experts.into();
        c["num_experts_per_tok"] = arch.top_k.into();
        c["moe_intermediate_size"] = arch.ffn.into();
        if arch.shared_ffn > 0 {
            c["shared_expert_intermediate_size"] = arch.shared_ffn.into();
        }
    }
    let mut exact = arch.clone();
    exact.vocab = vocab;
    c["rooflaw_architecture"] = serde_json::to_value(&exact).unwrap_or_default();
    c
}
