//! Numeric formats of weights, activations and the KV cache, and the
//! names users write: shorthands (`fp16`, `w8a16`, `w4a16kv8`), llama.cpp's
//! mixes (`Q4_K_M`), MLC's, MLX's and bitsandbytes' formats (`q4f16_1`,
//! `mlx_4bit`, `nf4`), NVFP4 and MXFP4.
use serde::{Deserialize, Serialize};

use crate::arch::Architecture;
use crate::format::{Mix, Named, Scheme, TensorBytes};

/// One storage or compute datatype.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    Fp32,
    Tf32,
    Bf16,
    Fp16,
    Fp8,
    Int8,
    Int4,
    /// FP4 (E2M1), Blackwell's NVFP4 and MXFP4 tensor-core type.
    Fp4,
}

impl Dtype {
    pub const ALL: [Dtype; 8] = [
        Dtype::Fp32,
        Dtype::Tf32,
        Dtype::Bf16,
        Dtype::Fp16,
        Dtype::Fp8,
        Dtype::Int8,
        Dtype::Int4,
        Dtype::Fp4,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Dtype::Fp32 => "fp32",
            Dtype::Tf32 => "tf32",
            Dtype::Bf16 => "bf16",
            Dtype::Fp16 => "fp16",
            Dtype::Fp8 => "fp8",
            Dtype::Int8 => "int8",
            Dtype::Int4 => "int4",
            Dtype::Fp4 => "fp4",
        }
    }

    pub fn parse(s: &str) -> Option<Dtype> {
        Dtype::ALL.into_iter().find(|d| d.name() == s)
    }

    /// Storage bits per element, before any group-scale overhead.
    pub fn bits(self) -> u32 {
        match self {
            Dtype::Fp32 | Dtype::Tf32 => 32,
            Dtype::Bf16 | Dtype::Fp16 => 16,
            Dtype::Fp8 | Dtype::Int8 => 8,
            Dtype::Int4 | Dtype::Fp4 => 4,
        }
    }
}

/// Precision of one workload: what weights, activations and the KV cache are
/// stored in, and the datatype the matmuls run in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Precision {
    pub weights: Dtype,
    pub activations: Dtype,
    pub kv: Dtype,
    /// Elements per quantisation group for int weights (each group stores one
    /// fp16 scale); 0 for float weights and for named formats.
    pub group_size: u32,
    /// How each tensor class is stored; `Plain` for the shorthands, whose
    /// serialised form (and so cache keys) this field leaves unchanged.
    #[serde(default, skip_serializing_if = "Scheme::is_plain")]
    pub scheme: Scheme,
}

/// Default quantisation group for int4 weights: GPTQ's and AWQ's `g128`.
pub const DEFAULT_INT4_GROUP: u32 = 128;

/// Why a precision name was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrecisionError {
    #[error(
        "unknown precision `{text}`{}: expected a shorthand (fp32, bf16, fp16, fp8, int8, \
         w8a16, w4a16, w4a8; optionally gN for the int4 group size and kv8, kv4, kvfp8 for the \
         cache), a llama.cpp mix (Q4_K_M, Q8_0, IQ4_XS, ...), an MLC format (q4f16_1, \
         q3f16_1), mlx_4bit, mlx_8bit, nf4, nvfp4 or mxfp4",
        close_ones(.close)
    )]
    Unknown { text: String, close: Vec<String> },
    #[error("precision `{0}`: the group size must be a whole number of at least 1 (w4a16g128)")]
    BadGroup(String),
    #[error(
        "precision `{text}`: a group size applies to int4 weights only (w4a16g{group}); \
         {base} weights carry one scale per output channel"
    )]
    GroupNotInt4 {
        text: String,
        base: String,
        group: u32,
    },
    #[error(
        "precision `{text}`: `{base}` fixes its own blocks; a group size (g{group}) applies to \
         the wXaY shorthands only"
    )]
    GroupOnNamed {
        text: String,
        base: String,
        group: u32,
    },
}

fn close_ones(close: &[String]) -> String {
    match close {
        [] => String::new(),
        [one] => format!(" (did you mean `{one}`?)"),
        many => {
            let quoted: Vec<String> = many.iter().map(|c| format!("`{c}`")).collect();
            format!(" (did you mean one of {}?)", quoted.join(", "))
        }
    }
}

/// Up to three known names close to `word`, closest first.
fn suggestions(word: &str) -> Vec<String> {
    let names = crate::format::names();
    let mut pool: Vec<&str> = names.iter().map(String::as_str).collect();
    let lower: Vec<String> = pool.iter().map(|n| n.to_ascii_lowercase()).collect();
    let mut out = Vec::new();
    while out.len() < 3 {
        let Some(hit) = rooflaw_dsl::did_you_mean(
            word,
            lower
                .iter()
                .map(String::as_str)
                .filter(|l| !out.iter().any(|o: &String| o.eq_ignore_ascii_case(l))),
        ) else {
            break;
        };
        if let Some(i) = lower.iter().position(|l| l == hit) {
            out.push(pool[i].to_owned());
            pool[i] = "";
        }
    }
    out
}

/// Names that mean a shorthand (`awq` is `w4a16g128`).
fn alias(base: &str) -> &str {
    match base {
        "awq" | "gptq" => "w4a16",
        "q0f16" => "fp16",
        "q0f32" => "fp32",
        "fp8_e4m3" | "e4m3" => "fp8",
        "mlx4" | "mlx_4" | "mlx-4bit" => "mlx_4bit",
        "mlx8" | "mlx_8" | "mlx-8bit" => "mlx_8bit",
        other => other,
    }
}

impl Precision {
    /// Parses the names users write, case-insensitively: a shorthand
    /// (`fp32`, `bf16`, `fp16`, `fp8`, `int8`, or `wXaY`) with an optional
    /// int4 group size (`g64`), or a named format (`Q4_K_M`, `q4f16_1`,
    /// `mlx_4bit`, `nf4`, `nvfp4`, `mxfp4`); either with an optional KV suffix
    /// (`kv8`, `kv4`, `kvfp8`, `kv16`, `kvbf16`; `Q4_K_M_kv8`).
    ///
    /// Without a KV suffix the cache is stored in the activation type when that
    /// is a float, and in fp16 when activations are int8: SmoothQuant-style
    /// W8A8 stacks quantise matmul inputs, not the cache.
    pub fn parse(text: &str) -> Result<Precision, PrecisionError> {
        let s = text.trim().to_ascii_lowercase();
        let unknown = || PrecisionError::Unknown {
            text: text.to_owned(),
            close: suggestions(&s),
        };
        let (rest, kv) = match s.find("kv") {
            Some(i) => {
                let kv = match &s[i + 2..] {
                    "32" | "fp32" => Dtype::Fp32,
                    "16" | "fp16" => Dtype::Fp16,
                    "bf16" => Dtype::Bf16,
                    "fp8" => Dtype::Fp8,
                    "8" | "int8" => Dtype::Int8,
                    "4" | "int4" => Dtype::Int4,
                    _ => return Err(unknown()),
                };
                (s[..i].trim_end_matches(['_', '-', '+']), Some(kv))
            }
            None => (s.as_str(), None),
        };
        let (base, group) = match rest.rfind('g') {
            Some(i) if i + 1 < rest.len() && rest[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
                let g: u32 = rest[i + 1..]
                    .parse()
                    .ok()
                    .filter(|g| *g > 0)
                    .ok_or_else(|| PrecisionError::BadGroup(text.to_owned()))?;
                (rest[..i].trim_end_matches(['_', '-']), Some(g))
            }
            _ => (rest, None),
        };
        let base = alias(base);
        if let Some(p) = Self::named(base) {
            if let Some(group) = group {
                return Err(PrecisionError::GroupOnNamed {
                    text: text.to_owned(),
                    base: base.to_owned(),
                    group,
                });
            }
            return Ok(Precision {
                kv: kv.unwrap_or(p.kv),
                ..p
            });
        }
        let (weights, activations) = match base {
            "fp32" => (Dtype::Fp32, Dtype::Fp32),
            "bf16" => (Dtype::Bf16, Dtype::Bf16),
            "fp16" => (Dtype::Fp16, Dtype::Fp16),
            "fp8" => (Dtype::Fp8, Dtype::Fp8),
            "int8" | "w8a8" => (Dtype::Int8, Dtype::Int8),
            "w8a16" => (Dtype::Int8, Dtype::Fp16),
            "w4a16" => (Dtype::Int4, Dtype::Fp16),
            "w4a8" => (Dtype::Int4, Dtype::Int8),
            "w4a4" => (Dtype::Int4, Dtype::Int4),
            _ => return Err(unknown()),
        };
        if let Some(group) = group
            && weights != Dtype::Int4
        {
            return Err(PrecisionError::GroupNotInt4 {
                text: text.to_owned(),
                base: base.to_owned(),
                group,
            });
        }
        let group_size = if weights == Dtype::Int4 {
            group.unwrap_or(DEFAULT_INT4_GROUP)
        } else {
            0
        };
        Ok(Precision {
            weights,
            activations,
            kv: kv.unwrap_or(default_kv(activations)),
            group_size,
            scheme: Scheme::Plain,
        })
    }

    /// A llama.cpp mix or another runtime's named format.
    fn named(base: &str) -> Option<Precision> {
        let (scheme, weights, activations) = if let Some(m) = Mix::parse(base) {
            let bits = m.default_type().bytes_per_weight() * 8.0;
            let weights = match m {
                Mix::F32 => Dtype::Fp32,
                Mix::F16 => Dtype::Fp16,
                Mix::BF16 => Dtype::Bf16,
                _ if bits <= 4.6 => Dtype::Int4,
                _ => Dtype::Int8,
            };
            // llama.cpp dequantises blocks to f16 for its large matmuls and
            // keeps the KV cache in f16 by default.
            let act = if weights.bits() >= 16 {
                weights
            } else {
                Dtype::Fp16
            };
            (Scheme::Llama(m), weights, act)
        } else {
            let n = Named::parse(base)?;
            let (w, a) = n.types();
            (Scheme::Named(n), w, a)
        };
        Some(Precision {
            weights,
            activations,
            kv: default_kv(activations),
            group_size: 0,
            scheme,
        })
    }

    /// A GGUF file's own tensor types, with llama.cpp's f16 cache and matmuls.
    pub fn of_file(bytes: crate::format::FileBytes) -> Precision {
        let base = bytes.mix.and_then(|m| Self::named(m.name()));
        let weights = base.map_or(Dtype::Int4, |p| p.weights);
        let activations = if weights.bits() >= 16 {
            weights
        } else {
            Dtype::Fp16
        };
        Precision {
            weights,
            activations,
            kv: default_kv(activations),
            group_size: 0,
            scheme: Scheme::File(bytes),
        }
    }

    /// The canonical name (`w4a16kvint8`, `Q4_K_M_kvint8`; the KV suffix only
    /// when it differs from the default); parses back to `self`, except for
    /// a GGUF file's own types, which are named after the file's type.
    pub fn label(&self) -> String {
        let named = match self.scheme {
            Scheme::Plain => None,
            Scheme::Llama(m) => Some(m.name().to_owned()),
            Scheme::Named(n) => Some(n.name().to_owned()),
            Scheme::File(f) => Some(match f.mix {
                Some(m) => format!("gguf:{}", m.name()),
                None => "gguf".to_owned(),
            }),
        };
        if let Some(base) = named {
            let default = Self::named(&base).map_or(Dtype::Fp16, |p| p.kv);
            return if self.kv == default {
                base
            } else {
                format!("{base}_kv{}", self.kv.name())
            };
        }
        let base = match (self.weights, self.activations) {
            (w, a) if w == a && w != Dtype::Int4 => w.name().to_owned(),
            (w, a) => format!("w{}a{}", w.bits(), a.bits()),
        };
        let group = if self.group_size > 0 && self.group_size != DEFAULT_INT4_GROUP {
            format!("g{}", self.group_size)
        } else {
            String::new()
        };
        if self.kv == default_kv(self.activations) {
            format!("{base}{group}")
        } else {
            format!("{base}{group}kv{}", self.kv.name())
        }
    }

    /// Bytes per weight of every tensor class of `arch`: what the roofline
    /// reads and the memory footprint holds. Computed once per evaluation.
    pub fn tensor_bytes(&self, arch: &Architecture) -> TensorBytes {
        let plain = || {
            TensorBytes::uniform(
                self.weight_bytes(),
                bytes_of(self.embedding()),
                bytes_of(self.vector()),
            )
        };
        match self.scheme {
            Scheme::Plain => plain(),
            Scheme::Llama(m) => TensorBytes::of_mix(m, arch),
            Scheme::Named(n) => TensorBytes::uniform(
                n.matrices().bytes_per_weight(),
                n.tables().bytes_per_weight(),
                bytes_of(self.vector()),
            ),
            Scheme::File(f) => {
                let guess = match f.mix {
                    Some(m) => TensorBytes::of_mix(m, arch),
                    None => plain(),
                };
                TensorBytes::of_file(&f, guess, arch.tied_embeddings)
            }
        }
    }

    /// Bytes per stored weight of a quantised matrix, including one fp16 scale
    /// per group (int4 g128: 4 + 16/128 = 4.125 bits). Int8 weights use one
    /// scale per output channel, which is negligible next to the rows. For a
    /// named format, the bytes of its main matrix type (`Q4_K` for `Q4_K_M`);
    /// [`Precision::tensor_bytes`] gives every class exactly.
    pub fn weight_bytes(&self) -> f64 {
        match self.scheme {
            Scheme::Plain => {}
            Scheme::Llama(m) => return m.default_type().bytes_per_weight(),
            Scheme::Named(n) => return n.matrices().bytes_per_weight(),
            Scheme::File(f) => {
                let (bytes, weights) = f.get(crate::format::Class::FfnUp);
                if weights > 0 {
                    return bytes as f64 / weights as f64;
                }
            }
        }
        let scale = if self.group_size > 0 {
            2.0 / f64::from(self.group_size)
        } else {
            0.0
        };
        f64::from(self.weights.bits()) / 8.0 + scale
    }

    /// Bytes per element of the matmul inputs.
    pub fn activation_bytes(&self) -> f64 {
        f64::from(self.activations.bits()) / 8.0
    }

    /// Bytes per element of the KV cache.
    pub fn kv_bytes(&self) -> f64 {
        f64::from(self.kv.bits()) / 8.0
    }

    /// The datatype the matmuls run in: weights are dequantised to the
    /// activation type (w4a16 computes in fp16), and both operands must be
    /// integer for the integer units (w8a8 runs in int8, w4a4 in int4).
    pub fn compute(&self) -> Dtype {
        if self.weights.bits() < self.activations.bits() {
            self.activations
        } else {
            self.weights
        }
    }

    /// The float type of norms, softmax, `RoPE` and activation functions, and of
    /// tensors between kernels: the activation type when it is a float of 16
    /// bits or more, fp16 otherwise (int8 and fp8 apply to matmul inputs only).
    pub fn vector(&self) -> Dtype {
        match self.activations {
            Dtype::Fp32 | Dtype::Tf32 | Dtype::Bf16 => self.activations,
            _ => Dtype::Fp16,
        }
    }

    /// The type the LM head computes in. The shorthands leave the embedding
    /// table and the LM head unquantised (GPTQ, AWQ, `SmoothQuant` and vLLM's
    /// fp8 all do), so the weight type when it has 16 bits or more, the
    /// vector type otherwise; a named format whose head is quantised (`Q6_K`,
    /// MLC's groups) dequantises it to the matmul type.
    pub fn embedding(&self) -> Dtype {
        if let Scheme::Named(n) = self.scheme
            && let Some(d) = n.tables().float()
        {
            return d;
        }
        if !self.scheme.is_plain() {
            return self.compute();
        }
        if self.weights.bits() >= 16 {
            self.weights
        } else {
            self.vector()
        }
    }
}

fn bytes_of(d: Dtype) -> f64 {
    f64::from(d.bits()) / 8.0
}

/// The KV type when no suffix is given: the activation type when it is a
/// float, fp16 when activations are integer (SmoothQuant-style W8A8 stacks
/// quantise matmul inputs, not the cache).
fn default_kv(activations: Dtype) -> Dtype {
    if activations.bits() >= 16 || activations == Dtype::Fp8 {
        activations
    } else {
        Dtype::Fp16
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.label())
    }
}

impl std::str::FromStr for Precision {
    type Err = PrecisionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Precision::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shorthands_parse_to_their_storage_and_compute_types() {
        let cases = [
            (
                "fp16",
                Dtype::Fp16,
                Dtype::Fp16,
                Dtype::Fp16,
                Dtype::Fp16,
                2.0,
            ),
            (
                "bf16",
                Dtype::Bf16,
                Dtype::Bf16,
                Dtype::Bf16,
                Dtype::Bf16,
                2.0,
            ),
            (
                "fp32",
                Dtype::Fp32,
                Dtype::Fp32,
                Dtype::Fp32,
                Dtype::Fp32,
                4.0,
            ),
            ("fp8", Dtype::Fp8, Dtype::Fp8, Dtype::Fp8, Dtype::Fp8, 1.0),
            (
                "int8",
                Dtype::Int8,
                Dtype::Int8,
                Dtype::Fp16,
                Dtype::Int8,
                1.0,
            ),
            (
                "w8a16",
                Dtype::Int8,
                Dtype::Fp16,
                Dtype::Fp16,
                Dtype::Fp16,
                1.0,
            ),
            (
                "w4a16",
                Dtype::Int4,
                Dtype::Fp16,
                Dtype::Fp16,
                Dtype::Fp16,
                0.515_625,
            ),
            (
                "w4a16kv8",
                Dtype::Int4,
                Dtype::Fp16,
                Dtype::Int8,
                Dtype::Fp16,
                0.515_625,
            ),
            (
                "w4a16g64kvfp8",
                Dtype::Int4,
                Dtype::Fp16,
                Dtype::Fp8,
                Dtype::Fp16,
                0.53125,
            ),
            (
                "W8A8kv4",
                Dtype::Int8,
                Dtype::Int8,
                Dtype::Int4,
                Dtype::Int8,
                1.0,
            ),
        ];
        for (text, w, a, kv, compute, wbytes) in cases {
            let p = Precision::parse(text).unwrap();
            assert_eq!(
                (p.weights, p.activations, p.kv, p.compute()),
                (w, a, kv, compute),
                "{text}"
            );
            assert!(
                (p.weight_bytes() - wbytes).abs() < 1e-12,
                "{text}: {}",
                p.weight_bytes()
            );
            assert_eq!(
                Precision::parse(&p.label()).unwrap(),
                p,
                "{text} -> {}",
                p.label()
            );
        }
    }

    #[test]
    fn bad_shorthands_are_rejected_with_the_text() {
        for bad in [
            "", "fp12", "w3a16", "w4a16kv3", "fp16g128", "w4a16g0", "kv8",
        ] {
            let err = Precision::parse(bad).unwrap_err();
            assert!(
                err.to_string().contains(&format!("`{bad}`")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn embeddings_stay_sixteen_bit_under_weight_quantisation() {
        assert_eq!(Precision::parse("w4a16").unwrap().embedding(), Dtype::Fp16);
        assert_eq!(Precision::parse("fp32").unwrap().embedding(), Dtype::Fp32);
        assert_eq!(Precision::parse("int8").unwrap().vector(), Dtype::Fp16);
    }

    #[test]
    fn runtime_formats_parse_case_insensitively_and_label_back() {
        for (text, label) in [
            ("q4_k_m", "Q4_K_M"),
            ("Q4_K_M", "Q4_K_M"),
            ("Q8_0", "Q8_0"),
            ("iq4_xs", "IQ4_XS"),
            ("Q4_K_M_kv8", "Q4_K_M_kvint8"),
            ("Q5_K_S-kvfp8", "Q5_K_S_kvfp8"),
            ("q4f16_1", "q4f16_1"),
            ("Q3F16_1", "q3f16_1"),
            ("mlx4", "mlx_4bit"),
            ("MLX_8bit", "mlx_8bit"),
            ("nf4", "nf4"),
            ("NVFP4", "nvfp4"),
            ("mxfp4", "mxfp4"),
            ("awq", "w4a16"),
            ("gptq_g64", "w4a16g64"),
            ("q0f16", "fp16"),
            ("fp8_e4m3", "fp8"),
        ] {
            let p = Precision::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(p.label(), label, "{text}");
            assert_eq!(Precision::parse(&p.label()).unwrap(), p, "{text}");
        }
        let nv = Precision::parse("nvfp4").unwrap();
        assert_eq!((nv.compute(), nv.kv), (Dtype::Fp4, Dtype::Fp16));
        let q = Precision::parse("Q4_K_M").unwrap();
        assert_eq!((q.compute(), q.kv), (Dtype::Fp16, Dtype::Fp16));
        assert_eq!(Precision::parse("q4f32_1").unwrap().compute(), Dtype::Fp32);
    }

    #[test]
    fn the_shorthands_serialise_as_before() {
        // Cache keys hold workloads: a plain precision's JSON must not change.
        let v = serde_json::to_value(Precision::parse("w4a16kv8").unwrap()).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"weights": "int4", "activations": "fp16", "kv": "int8", "group_size": 128})
        );
        let back: Precision = serde_json::from_value(v).unwrap();
        assert_eq!(back, Precision::parse("w4a16kv8").unwrap());
        let q: Precision = serde_json::from_value(
            serde_json::to_value(Precision::parse("Q4_K_M").unwrap()).unwrap(),
        )
        .unwrap();
        assert_eq!(q.label(), "Q4_K_M");
    }

    #[test]
    fn unknown_names_list_the_close_ones_and_groups_say_why() {
        let err = Precision::parse("q4_km").unwrap_err().to_string();
        assert!(
            err.starts_with("unknown precision `q4_km` (did you mean"),
            "{err}"
        );
        assert!(err.contains("`Q4_K_M`"), "{err}");
        let err = Precision::parse("q4f16").unwrap_err().to_string();
        assert!(err.contains("`q4f16_1`"), "{err}");
        assert_eq!(
            Precision::parse("w8a16g32").unwrap_err().to_string(),
            "precision `w8a16g32`: a group size applies to int4 weights only (w4a16g32); w8a16 \
             weights carry one scale per output channel"
        );
        assert_eq!(
            Precision::parse("Q4_K_Mg64").unwrap_err().to_string(),
            "precision `Q4_K_Mg64`: `q4_k_m` fixes its own blocks; a group size (g64) applies to \
             the wXaY shorthands only"
        );
    }
}
