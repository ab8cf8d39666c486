//! Numeric formats of weights, activations and the KV cache, and the
//! shorthands users write (`fp16`, `w8a16`, `w4a16kv8`).
use serde::{Deserialize, Serialize};

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
}

impl Dtype {
    pub const ALL: [Dtype; 7] = [
        Dtype::Fp32,
        Dtype::Tf32,
        Dtype::Bf16,
        Dtype::Fp16,
        Dtype::Fp8,
        Dtype::Int8,
        Dtype::Int4,
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
            Dtype::Int4 => 4,
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
    /// fp16 scale); 0 for float weights.
    pub group_size: u32,
}

/// Default quantisation group for int4 weights: GPTQ's and AWQ's `g128`.
pub const DEFAULT_INT4_GROUP: u32 = 128;

/// Why a precision shorthand was rejected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PrecisionError {
    #[error(
        "unknown precision `{0}`: expected fp32, bf16, fp16, fp8, int8, or wXaY (w4a16, w8a16, \
         w8a8, w4a8), optionally followed by gN (int4 group size) and kvN (kv16, kv8, kv4, kvfp8)"
    )]
    Unknown(String),
    #[error("precision `{0}`: group size must be a positive integer")]
    BadGroup(String),
}

impl Precision {
    /// Parses the shorthands users write: a base (`fp32`, `bf16`, `fp16`,
    /// `fp8`, `int8`, or `wXaY`), an optional int4 group size (`g64`) and an
    /// optional KV suffix (`kv8`, `kv4`, `kvfp8`, `kv16`, `kvbf16`).
    ///
    /// Without a KV suffix the cache is stored in the activation type when that
    /// is a float, and in fp16 when activations are int8: SmoothQuant-style
    /// W8A8 stacks quantise matmul inputs, not the cache.
    pub fn parse(text: &str) -> Result<Precision, PrecisionError> {
        let unknown = || PrecisionError::Unknown(text.to_owned());
        let s = text.trim().to_ascii_lowercase();
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
                (&s[..i], Some(kv))
            }
            None => (s.as_str(), None),
        };
        let (base, group) = match rest.rfind('g') {
            Some(i) if rest[i + 1..].bytes().all(|b| b.is_ascii_digit()) => {
                let g: u32 = rest[i + 1..]
                    .parse()
                    .ok()
                    .filter(|g| *g > 0)
                    .ok_or_else(|| PrecisionError::BadGroup(text.to_owned()))?;
                (&rest[..i], Some(g))
            }
            _ => (rest, None),
        };
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
        if group.is_some() && weights != Dtype::Int4 {
            return Err(PrecisionError::BadGroup(text.to_owned()));
        }
        let default_kv = if activations.bits() >= 16 || activations == Dtype::Fp8 {
            activations
        } else {
            Dtype::Fp16
        };
        let group_size = if weights == Dtype::Int4 {
            group.unwrap_or(DEFAULT_INT4_GROUP)
        } else {
            0
        };
        Ok(Precision {
            weights,
            activations,
            kv: kv.unwrap_or(default_kv),
            group_size,
        })
    }

    /// The canonical shorthand (`w4a16g128kv8`); parses back to `self`.
    pub fn label(&self) -> String {
        let base = match (self.weights, self.activations) {
            (w, a) if w == a && w != Dtype::Int4 => w.name().to_owned(),
            (w, a) => format!("w{}a{}", w.bits(), a.bits()),
        };
        let group = if self.group_size > 0 && self.group_size != DEFAULT_INT4_GROUP {
            format!("g{}", self.group_size)
        } else {
            String::new()
        };
        format!("{base}{group}kv{}", self.kv.name())
    }

    /// Bytes per stored weight of a quantised matrix, including one fp16 scale
    /// per group (int4 g128: 4 + 16/128 = 4.125 bits). Int8 weights use one
    /// scale per output channel, which is negligible next to the rows.
    pub fn weight_bytes(&self) -> f64 {
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

    /// The type of the embedding table and the LM head: unquantised
    /// (GPTQ, AWQ, `SmoothQuant` and vLLM's fp8 all leave them in 16-bit), so
    /// the weight type when it has 16 bits or more, the vector type otherwise.
    pub fn embedding(&self) -> Dtype {
        if self.weights.bits() >= 16 {
            self.weights
        } else {
            self.vector()
        }
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
}
