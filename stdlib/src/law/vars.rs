//! The variables a loss law may read: an architecture's fields and derived
//! quantities, plus the training-token count. Laws and fits share this one
//! table so a CSV column, a pipeline expression and an `Architecture` all
//! name the same thing the same way.
use serde::{Deserialize, Serialize};

use crate::arch::Architecture;

/// One law variable. The names are the CSV column names and the names a
/// custom form's expression uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Var {
    Layers,
    Width,
    Heads,
    KvHeads,
    HeadDim,
    /// Activated FFN expansion r = K · ffn / width.
    FfnRatio,
    /// `MoE` activation rate ρ = K / E.
    Rho,
    Experts,
    TopK,
    /// `d_m` = `head_dim` · `kv_heads`.
    KvDim,
    /// All parameters, embeddings and LM head included.
    Params,
    ParamsActive,
    ParamsNonEmbedding,
    /// Training tokens D.
    Tokens,
}

impl Var {
    pub const ALL: [Var; 14] = [
        Var::Layers,
        Var::Width,
        Var::Heads,
        Var::KvHeads,
        Var::HeadDim,
        Var::FfnRatio,
        Var::Rho,
        Var::Experts,
        Var::TopK,
        Var::KvDim,
        Var::Params,
        Var::ParamsActive,
        Var::ParamsNonEmbedding,
        Var::Tokens,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Var::Layers => "layers",
            Var::Width => "width",
            Var::Heads => "heads",
            Var::KvHeads => "kv_heads",
            Var::HeadDim => "head_dim",
            Var::FfnRatio => "ffn_ratio",
            Var::Rho => "rho",
            Var::Experts => "experts",
            Var::TopK => "top_k",
            Var::KvDim => "kv_dim",
            Var::Params => "params",
            Var::ParamsActive => "params_active",
            Var::ParamsNonEmbedding => "params_non_embedding",
            Var::Tokens => "tokens",
        }
    }

    pub fn from_name(name: &str) -> Option<Var> {
        Var::ALL.into_iter().find(|v| v.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Values of the law variables for one model; a variable that is not known
/// (a CSV without that column, no token count given) is `None`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Vars {
    values: [Option<f64>; 14],
}

impl Vars {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every architecture variable, and `tokens` when given.
    pub fn of(arch: &Architecture, tokens: Option<f64>) -> Self {
        let mut v = Self::new();
        v.set(Var::Layers, f64::from(arch.layers));
        v.set(Var::Width, f64::from(arch.width));
        v.set(Var::Heads, f64::from(arch.heads));
        v.set(Var::KvHeads, f64::from(arch.kv_heads));
        v.set(Var::HeadDim, f64::from(arch.head_dim));
        v.set(Var::FfnRatio, arch.ffn_ratio());
        v.set(Var::Rho, arch.rho());
        v.set(Var::Experts, f64::from(arch.experts));
        v.set(Var::TopK, f64::from(arch.top_k));
        v.set(Var::KvDim, arch.kv_dim() as f64);
        v.set(Var::Params, arch.params_total() as f64);
        v.set(Var::ParamsActive, arch.params_active() as f64);
        v.set(Var::ParamsNonEmbedding, arch.params_non_embedding() as f64);
        if let Some(t) = tokens {
            v.set(Var::Tokens, t);
        }
        v
    }

    #[must_use]
    pub fn with(mut self, var: Var, value: f64) -> Self {
        self.set(var, value);
        self
    }

    pub fn set(&mut self, var: Var, value: f64) {
        self.values[var.index()] = Some(value);
    }

    pub fn get(&self, var: Var) -> Option<f64> {
        self.values[var.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for v in Var::ALL {
            assert_eq!(Var::from_name(v.name()), Some(v));
        }
        assert_eq!(Var::from_name("depth"), None);
    }

    #[test]
    fn of_arch_fills_everything_but_unknown_tokens() {
        let a = Architecture::dense(24, 896, 14, 2, 4864);
        let v = Vars::of(&a, None);
        assert_eq!(v.get(Var::KvDim), Some(128.0));
        assert_eq!(v.get(Var::Rho), Some(1.0));
        assert_eq!(v.get(Var::Tokens), None);
        assert_eq!(Vars::of(&a, Some(1e9)).get(Var::Tokens), Some(1e9));
    }
}
