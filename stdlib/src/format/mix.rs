//! llama.cpp's file types (`llama-quantize`'s `Q4_K_M`, `IQ4_XS`, ...) and
//! the ggml type each gives every tensor, following `llama_tensor_get_type`
//! in `src/llama-quant.cpp`: the output layer in `Q6_K`, attention V and FFN
//! down in a higher type for some layers of the `_M` mixes, shapes whose
//! rows do not fill a block falling back to a smaller block.
use serde::{Deserialize, Serialize};

use super::Class;
use super::ggml::GgmlType as G;

/// One llama.cpp file type (`LLAMA_FTYPE_MOSTLY_*`).
#[allow(non_camel_case_types)] // llama.cpp's own spelling
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Mix {
    F32,
    F16,
    BF16,
    Q4_0,
    Q4_1,
    Q5_0,
    Q5_1,
    Q8_0,
    Q2_K,
    Q2_K_S,
    Q3_K_S,
    Q3_K_M,
    Q3_K_L,
    Q4_K_S,
    Q4_K_M,
    Q5_K_S,
    Q5_K_M,
    Q6_K,
    IQ1_S,
    IQ1_M,
    IQ2_XXS,
    IQ2_XS,
    IQ2_S,
    IQ2_M,
    IQ3_XXS,
    IQ3_XS,
    IQ3_S,
    IQ3_M,
    IQ4_NL,
    IQ4_XS,
    TQ1_0,
    TQ2_0,
    MXFP4_MOE,
}

/// (mix, name, `general.file_type` id, default tensor type).
const MIXES: [(Mix, &str, u32, G); 33] = [
    (Mix::F32, "F32", 0, G::F32),
    (Mix::F16, "F16", 1, G::F16),
    (Mix::BF16, "BF16", 32, G::BF16),
    (Mix::Q4_0, "Q4_0", 2, G::Q4_0),
    (Mix::Q4_1, "Q4_1", 3, G::Q4_1),
    (Mix::Q5_0, "Q5_0", 8, G::Q5_0),
    (Mix::Q5_1, "Q5_1", 9, G::Q5_1),
    (Mix::Q8_0, "Q8_0", 7, G::Q8_0),
    (Mix::Q2_K, "Q2_K", 10, G::Q2_K),
    (Mix::Q2_K_S, "Q2_K_S", 21, G::Q2_K),
    (Mix::Q3_K_S, "Q3_K_S", 11, G::Q3_K),
    (Mix::Q3_K_M, "Q3_K_M", 12, G::Q3_K),
    (Mix::Q3_K_L, "Q3_K_L", 13, G::Q3_K),
    (Mix::Q4_K_S, "Q4_K_S", 14, G::Q4_K),
    (Mix::Q4_K_M, "Q4_K_M", 15, G::Q4_K),
    (Mix::Q5_K_S, "Q5_K_S", 16, G::Q5_K),
    (Mix::Q5_K_M, "Q5_K_M", 17, G::Q5_K),
    (Mix::Q6_K, "Q6_K", 18, G::Q6_K),
    (Mix::IQ1_S, "IQ1_S", 24, G::IQ1_S),
    (Mix::IQ1_M, "IQ1_M", 31, G::IQ1_M),
    (Mix::IQ2_XXS, "IQ2_XXS", 19, G::IQ2_XXS),
    (Mix::IQ2_XS, "IQ2_XS", 20, G::IQ2_XS),
    (Mix::IQ2_S, "IQ2_S", 28, G::IQ2_XS),
    (Mix::IQ2_M, "IQ2_M", 29, G::IQ2_S),
    (Mix::IQ3_XXS, "IQ3_XXS", 23, G::IQ3_XXS),
    (Mix::IQ3_XS, "IQ3_XS", 22, G::IQ3_S),
    (Mix::IQ3_S, "IQ3_S", 26, G::IQ3_S),
    (Mix::IQ3_M, "IQ3_M", 27, G::IQ3_S),
    (Mix::IQ4_NL, "IQ4_NL", 25, G::IQ4_NL),
    (Mix::IQ4_XS, "IQ4_XS", 30, G::IQ4_XS),
    (Mix::TQ1_0, "TQ1_0", 36, G::TQ1_0),
    (Mix::TQ2_0, "TQ2_0", 37, G::TQ2_0),
    (Mix::MXFP4_MOE, "MXFP4_MOE", 38, G::MXFP4),
];

/// What the type rules read of a model: its shape, as llama.cpp's `hparams`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Shape {
    pub layers: u32,
    /// Query heads per KV head (`n_gqa`).
    pub gqa: u32,
    pub experts: u32,
    /// No `output.weight`: the token embedding is the LM head.
    pub tied: bool,
    /// llama.cpp's `LLM_TYPE_70B` (80 layers with grouped KV heads).
    pub is_70b: bool,
    pub width: u64,
    pub q_dim: u64,
    pub ffn: u64,
}

impl Mix {
    fn row(self) -> (Mix, &'static str, u32, G) {
        MIXES[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.row().1
    }

    /// The `general.file_type` a GGUF file of this mix records.
    pub fn file_type(self) -> u32 {
        self.row().2
    }

    pub fn from_file_type(id: u32) -> Option<Mix> {
        MIXES.into_iter().find(|r| r.2 == id).map(|r| r.0)
    }

    /// Case-insensitive: `q4_k_m`, `Q4_K_M`.
    pub fn parse(s: &str) -> Option<Mix> {
        MIXES
            .into_iter()
            .find(|r| r.1.eq_ignore_ascii_case(s))
            .map(|r| r.0)
    }

    pub fn all() -> impl Iterator<Item = Mix> {
        MIXES.into_iter().map(|r| r.0)
    }

    /// The type of every tensor no rule singles out.
    pub fn default_type(self) -> G {
        self.row().3
    }

    /// Whether the file was made with an importance matrix. The I-quants
    /// are (`llama-quantize` refuses IQ1/IQ2 and `IQ3_XXS` without one, and
    /// published I-quants use one); legacy and K-quants are assumed without.
    fn imatrix(self) -> bool {
        self.name().starts_with("IQ")
    }

    /// Mixes that put the output layer in `Q5_K`, not `Q6_K`.
    fn low_bit(self) -> bool {
        matches!(
            self,
            Mix::IQ2_XXS
                | Mix::IQ2_XS
                | Mix::IQ3_XXS
                | Mix::IQ1_S
                | Mix::IQ2_S
                | Mix::IQ2_M
                | Mix::IQ1_M
        )
    }

    /// The ggml type of one tensor of `class` in layer `i` (ignored for the
    /// embedding and the LM head).
    pub(crate) fn tensor_type(self, class: Class, i: u32, s: &Shape) -> G {
        let default = self.default_type();
        match class {
            // Never quantised: expert gating and 1-D tensors stay F32.
            Class::Router | Class::Vector => return G::F32,
            _ if !default.is_quantized() => return default,
            _ => {}
        }
        let chosen = self.rule(class, i, s);
        fallback(chosen, columns(class, s))
    }

    /// The layers on which [`Mix::tensor_type`] of `class` can differ; `None`
    /// when it is the same in every layer.
    pub(crate) fn layers(self, class: Class, s: &Shape) -> Option<Layers> {
        use Mix as M;
        match (class, self) {
            (Class::AttnV, M::Q3_K_M) => Some(Layers::First(2)),
            (Class::AttnV, M::Q4_K_S) => Some(Layers::First(4)),
            (Class::AttnV | Class::FfnDown, M::Q4_K_M | M::Q5_K_M) => Some(Layers::MoreBits),
            (Class::FfnDown, M::Q3_K_M) => Some(Layers::FirstSixteenth),
            (Class::FfnDown, M::IQ3_M) if s.experts == 8 => Some(Layers::MoreBits),
            (
                Class::FfnDown,
                M::IQ1_S
                | M::IQ1_M
                | M::IQ2_XXS
                | M::IQ2_XS
                | M::IQ2_S
                | M::IQ2_M
                | M::IQ3_XXS
                | M::IQ3_M
                | M::IQ4_NL
                | M::IQ4_XS
                | M::Q2_K_S
                | M::Q4_K_S
                | M::Q4_0
                | M::Q5_0,
            ) => Some(Layers::FirstEighth),
            (Class::FfnGate | Class::FfnUp, M::IQ3_XS) => Some(Layers::Middle),
            _ => None,
        }
    }

    #[allow(clippy::too_many_lines)] // one rule table, read against llama-quant.cpp
    fn rule(self, class: Class, i: u32, s: &Shape) -> G {
        use Mix as M;
        let d = self.default_type();
        let n = s.layers;
        let more_bits = use_more_bits(i, n);
        let iq2 = matches!(self, M::IQ2_S | M::IQ2_M);
        if class == Class::Output || (s.tied && class == Class::TokenEmbd) {
            return if self == M::MXFP4_MOE || !s.width.is_multiple_of(u64::from(d.block().0)) {
                G::Q8_0
            } else if self.low_bit() {
                G::Q5_K
            } else if d == G::Q8_0 {
                d
            } else {
                G::Q6_K
            };
        }
        if self == M::MXFP4_MOE {
            let routed =
                s.experts > 1 && matches!(class, Class::FfnGate | Class::FfnUp | Class::FfnDown);
            return if routed { G::MXFP4 } else { G::Q8_0 };
        }
        if class == Class::TokenEmbd {
            return match self {
                M::IQ2_XXS | M::IQ2_XS | M::IQ1_S | M::IQ1_M => G::Q2_K,
                M::IQ2_S | M::IQ2_M | M::IQ3_XXS => G::IQ3_S,
                M::TQ1_0 | M::TQ2_0 => G::Q4_K,
                _ => d,
            };
        }
        if matches!(self, M::IQ2_XXS | M::IQ2_XS | M::IQ1_S | M::IQ1_M) || iq2 {
            let small = if iq2 { G::IQ3_S } else { G::Q2_K };
            return match class {
                Class::AttnV if s.gqa >= 4 || s.experts >= 4 => G::Q4_K,
                Class::AttnV => small,
                Class::AttnK if s.experts == 8 => G::Q4_K,
                Class::FfnDown if i < n / 8 => small,
                Class::AttnO if s.experts == 8 => G::Q5_K,
                Class::AttnO if matches!(self, M::IQ1_S | M::IQ1_M) => G::IQ2_XXS,
                Class::AttnO if iq2 => G::IQ3_S,
                _ => d,
            };
        }
        let gqa4 = s.gqa >= 4;
        match class {
            Class::AttnV => {
                let t = match self {
                    M::Q2_K | M::Q2_K_S | M::IQ3_XXS | M::IQ3_XS | M::IQ3_S if gqa4 => G::Q4_K,
                    M::Q2_K => G::Q3_K,
                    M::IQ3_XXS if !self.imatrix() => G::IQ3_S,
                    M::Q3_K_M if i < 2 => G::Q5_K,
                    M::IQ3_M | M::Q3_K_M => G::Q4_K,
                    M::Q3_K_L => G::Q5_K,
                    M::IQ4_NL | M::IQ4_XS if gqa4 => G::Q5_K,
                    M::Q4_K_M | M::Q5_K_M if more_bits => G::Q6_K,
                    M::Q4_K_S if i < 4 => G::Q5_K,
                    _ => d,
                };
                if s.experts == 8 {
                    G::Q8_0
                } else if s.is_70b && matches!(t, G::Q3_K | G::Q4_K) {
                    G::Q5_K
                } else {
                    t
                }
            }
            Class::AttnK if s.experts == 8 => G::Q8_0,
            Class::AttnK | Class::AttnQ => match self {
                M::IQ3_XS => G::IQ3_XXS,
                M::IQ3_XXS => G::IQ2_S,
                _ => d,
            },
            Class::FfnDown => match self {
                M::Q2_K => G::Q3_K,
                M::Q2_K_S if i < n / 8 => G::Q4_K,
                M::IQ3_XXS if !self.imatrix() && i < n / 8 => G::Q4_K,
                M::IQ3_XXS if !self.imatrix() => G::Q3_K,
                M::Q3_K_M if i < n / 16 => G::Q5_K,
                M::Q3_K_M => G::Q4_K,
                M::IQ3_M if i < n / 8 || (s.experts == 8 && more_bits) => G::Q4_K,
                M::Q3_K_L => G::Q5_K,
                M::Q4_K_M | M::Q5_K_M if more_bits => G::Q6_K,
                M::IQ4_NL | M::IQ4_XS if i < n / 8 && !self.imatrix() => G::Q5_K,
                M::Q4_K_S if i < n / 8 => G::Q5_K,
                M::Q4_0 if self.imatrix() && i < n / 8 => G::Q4_1,
                M::Q5_0 if self.imatrix() && i < n / 8 => G::Q5_1,
                _ => d,
            },
            Class::AttnO if s.experts == 8 => match self {
                M::Q2_K
                | M::IQ3_XS
                | M::IQ3_XXS
                | M::Q3_K_S
                | M::Q3_K_M
                | M::IQ4_NL
                | M::Q4_K_S
                | M::Q4_K_M
                | M::IQ3_S
                | M::IQ3_M
                | M::IQ4_XS => G::Q5_K,
                _ => d,
            },
            Class::AttnO => match self {
                M::Q2_K => G::Q3_K,
                M::IQ3_XXS => G::IQ3_S,
                M::Q3_K_M | M::IQ3_M => G::Q4_K,
                M::Q3_K_L => G::Q5_K,
                _ => d,
            },
            Class::FfnGate | Class::FfnUp if self == M::IQ3_XS && i >= n / 8 && i < 7 * n / 8 => {
                G::IQ3_XXS
            }
            _ => d,
        }
    }
}

/// llama.cpp's choice of layers that get more bits: the first and last
/// eighth, and every third layer between.
fn use_more_bits(i: u32, n: u32) -> bool {
    i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2
}

/// The layers on which a mix's type for one class may change: it gives one
/// type inside the set and another outside.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layers {
    /// `i < k`.
    First(u32),
    /// `i < n / 8`.
    FirstEighth,
    /// `i < n / 16`.
    FirstSixteenth,
    /// [`use_more_bits`].
    MoreBits,
    /// `n / 8 <= i < 7n / 8`.
    Middle,
}

impl Layers {
    fn contains(self, i: u32, n: u32) -> bool {
        match self {
            Layers::First(k) => i < k,
            Layers::FirstEighth => i < n / 8,
            Layers::FirstSixteenth => i < n / 16,
            Layers::MoreBits => use_more_bits(i, n),
            Layers::Middle => i >= n / 8 && i < 7 * n / 8,
        }
    }

    /// How many of `n` layers are in the set, in closed form.
    pub(crate) fn count(self, n: u32) -> u32 {
        match self {
            Layers::First(k) => k.min(n),
            Layers::FirstEighth => n / 8,
            Layers::FirstSixteenth => n / 16,
            // The first and last eighth, and every third layer between.
            Layers::MoreBits => n / 8 + (n - 7 * n / 8) + (7 * n / 8 - n / 8) / 3,
            Layers::Middle => 7 * n / 8 - n / 8,
        }
    }

    /// A layer inside (or outside) the set, when there is one.
    pub(crate) fn member(self, n: u32, inside: bool) -> Option<u32> {
        let b = n / 8;
        [0, n / 16, b, b + 2, 7 * n / 8, n.saturating_sub(1)]
            .into_iter()
            .find(|&i| i < n && self.contains(i, n) == inside)
    }
}

/// The row length (`ne[0]`, the input dimension) of a tensor of `class`.
fn columns(class: Class, s: &Shape) -> u64 {
    match class {
        Class::AttnO => s.q_dim,
        Class::FfnDown => s.ffn,
        _ => s.width,
    }
}

/// A type whose block does not divide the rows falls back as
/// `tensor_type_fallback` does, and to F16 when even that does not fit.
fn fallback(t: G, columns: u64) -> G {
    let fits = |t: G| columns.is_multiple_of(u64::from(t.block().0));
    if fits(t) {
        return t;
    }
    let next = match t {
        G::IQ1_S
        | G::IQ1_M
        | G::IQ2_XXS
        | G::IQ2_XS
        | G::IQ2_S
        | G::IQ3_XXS
        | G::IQ3_S
        | G::IQ4_XS => G::IQ4_NL,
        G::Q2_K | G::Q3_K | G::TQ1_0 | G::TQ2_0 => G::Q4_0,
        G::Q4_K => G::Q5_0,
        G::Q5_K => G::Q5_1,
        G::Q6_K => G::Q8_0,
        _ => G::F16,
    };
    if fits(next) { next } else { G::F16 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn llama3_8b() -> Shape {
        Shape {
            layers: 32,
            gqa: 4,
            experts: 1,
            tied: false,
            is_70b: false,
            width: 4096,
            q_dim: 4096,
            ffn: 14336,
        }
    }

    fn count(mix: Mix, class: Class, t: G, s: &Shape) -> usize {
        (0..s.layers)
            .filter(|&i| mix.tensor_type(class, i, s) == t)
            .count()
    }

    #[test]
    fn q4_k_m_bumps_half_the_v_and_down_layers_and_stores_the_head_in_q6_k() {
        let s = llama3_8b();
        let m = Mix::Q4_K_M;
        assert_eq!(m.tensor_type(Class::Output, 0, &s), G::Q6_K);
        assert_eq!(m.tensor_type(Class::TokenEmbd, 0, &s), G::Q4_K);
        // 4 first + 4 last + every third of the 24 between = 16 of 32.
        assert_eq!(count(m, Class::AttnV, G::Q6_K, &s), 16);
        assert_eq!(count(m, Class::FfnDown, G::Q6_K, &s), 16);
        assert_eq!(count(m, Class::AttnQ, G::Q4_K, &s), 32);
        assert_eq!(m.tensor_type(Class::Router, 3, &s), G::F32);
    }

    #[test]
    fn mixes_follow_their_rules() {
        let s = llama3_8b();
        assert_eq!(Mix::Q8_0.tensor_type(Class::Output, 0, &s), G::Q8_0);
        assert_eq!(Mix::Q4_0.tensor_type(Class::Output, 0, &s), G::Q6_K);
        assert_eq!(Mix::Q4_K_S.tensor_type(Class::AttnV, 3, &s), G::Q5_K);
        assert_eq!(Mix::Q4_K_S.tensor_type(Class::AttnV, 4, &s), G::Q4_K);
        assert_eq!(Mix::Q3_K_M.tensor_type(Class::AttnO, 9, &s), G::Q4_K);
        assert_eq!(Mix::Q3_K_M.tensor_type(Class::FfnDown, 1, &s), G::Q5_K);
        assert_eq!(Mix::Q3_K_M.tensor_type(Class::FfnDown, 2, &s), G::Q4_K);
        assert_eq!(Mix::Q2_K.tensor_type(Class::AttnV, 0, &s), G::Q4_K);
        assert_eq!(Mix::IQ2_XXS.tensor_type(Class::Output, 0, &s), G::Q5_K);
        assert_eq!(Mix::IQ2_XXS.tensor_type(Class::TokenEmbd, 0, &s), G::Q2_K);
        assert_eq!(Mix::F16.tensor_type(Class::AttnV, 0, &s), G::F16);
        let tied = Shape { tied: true, ..s };
        assert_eq!(Mix::Q4_K_M.tensor_type(Class::TokenEmbd, 0, &tied), G::Q6_K);
    }

    #[test]
    fn rows_that_do_not_fill_a_block_fall_back() {
        // Qwen2.5-0.5B: width 896 is not a multiple of 256.
        let s = Shape {
            layers: 24,
            gqa: 7,
            experts: 1,
            tied: true,
            is_70b: false,
            width: 896,
            q_dim: 896,
            ffn: 4864,
        };
        assert_eq!(Mix::Q4_K_M.tensor_type(Class::AttnQ, 5, &s), G::Q5_0);
        assert_eq!(Mix::Q4_K_M.tensor_type(Class::TokenEmbd, 0, &s), G::Q8_0);
        assert_eq!(Mix::Q4_K_M.tensor_type(Class::FfnDown, 4, &s), G::Q4_K);
        assert_eq!(Mix::Q4_K_M.tensor_type(Class::FfnDown, 0, &s), G::Q6_K);
        assert_eq!(fallback(G::Q4_0, 33), G::F16);
    }

    /// The closed form the roofline uses (a type inside and outside the
    /// layer set, and its size) equals the type of every layer, summed.
    #[test]
    fn layer_sets_account_for_every_layer() {
        for n in 1..=100 {
            for (gqa, experts, width) in [(1, 1, 4096), (4, 1, 4096), (8, 8, 4096), (7, 1, 896)] {
                let s = Shape {
                    layers: n,
                    gqa,
                    experts,
                    tied: false,
                    is_70b: n == 80,
                    width,
                    q_dim: width,
                    ffn: 4 * width,
                };
                for m in Mix::all() {
                    for class in [
                        Class::AttnV,
                        Class::FfnDown,
                        Class::FfnGate,
                        Class::FfnUp,
                        Class::AttnQ,
                    ] {
                        let each: Vec<G> = (0..n).map(|i| m.tensor_type(class, i, &s)).collect();
                        match m.layers(class, &s) {
                            None => assert!(
                                each.iter().all(|t| *t == each[0]),
                                "{m:?} {class:?} n={n} varies: {each:?}"
                            ),
                            Some(set) => {
                                let inside = (0..n).filter(|&i| set.contains(i, n)).count();
                                assert_eq!(set.count(n) as usize, inside, "{set:?} n={n}");
                                for (i, t) in each.iter().enumerate() {
                                    let rep = set.member(n, set.contains(i as u32, n)).unwrap();
                                    assert_eq!(
                                        *t,
                                        m.tensor_type(class, rep, &s),
                                        "{m:?} {class:?} {i}/{n}"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn names_and_file_types_round_trip() {
        for (i, m) in Mix::all().enumerate() {
            assert_eq!(m as usize, i);
            assert_eq!(Mix::parse(&m.name().to_ascii_lowercase()), Some(m));
            assert_eq!(Mix::from_file_type(m.file_type()), Some(m));
        }
    }
}
