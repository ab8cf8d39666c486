//! What a runtime stores per tensor: llama.cpp's GGUF types and mixes, MLC's,
//! MLX's and bitsandbytes' group formats, NVFP4 and MXFP4. A [`Scheme`]
//! gives every tensor class its storage, and [`TensorBytes`] the exact bytes
//! per weight of each class for one architecture, computed once per
//! evaluation so the roofline's inner loop stays arithmetic.
pub mod ggml;
pub mod mix;

use serde::{Deserialize, Serialize};

use crate::arch::Architecture;
use crate::precision::Dtype;

pub use ggml::GgmlType;
pub use mix::Mix;

/// The tensor classes a format may store differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    TokenEmbd,
    AttnQ,
    AttnK,
    AttnV,
    AttnO,
    FfnGate,
    FfnUp,
    FfnDown,
    /// The `MoE` router (expert gating).
    Router,
    /// The LM head (`output.weight`).
    Output,
    /// Norm weights and biases.
    Vector,
}

impl Class {
    pub const ALL: [Class; 11] = [
        Class::TokenEmbd,
        Class::AttnQ,
        Class::AttnK,
        Class::AttnV,
        Class::AttnO,
        Class::FfnGate,
        Class::FfnUp,
        Class::FfnDown,
        Class::Router,
        Class::Output,
        Class::Vector,
    ];

    /// The class of a GGUF tensor name (`blk.3.attn_v.weight`), as
    /// llama.cpp's `tensor_get_category` sorts them; `None` for tensors
    /// the roofline does not model (rope frequency tables, ...).
    pub fn of_gguf_name(name: &str) -> Option<Class> {
        let ends = |s: &str| name.ends_with(s);
        Some(match name {
            "token_embd.weight" => Class::TokenEmbd,
            "output.weight" => Class::Output,
            _ if ends("_norm.weight") || ends("_norm.bias") || ends(".bias") => Class::Vector,
            _ if name.contains("ffn_gate_inp") => Class::Router,
            _ if name.contains("attn_q.") => Class::AttnQ,
            _ if name.contains("attn_k.") => Class::AttnK,
            _ if name.contains("attn_v.") => Class::AttnV,
            _ if name.contains("attn_output.") => Class::AttnO,
            _ if name.contains("ffn_gate") => Class::FfnGate,
            _ if name.contains("ffn_up") => Class::FfnUp,
            _ if name.contains("ffn_down") => Class::FfnDown,
            _ => return None,
        })
    }
}

/// How one tensor's weights are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Storage {
    Dtype(Dtype),
    Ggml(GgmlType),
    /// `weights` elements in `bytes`, scales (and biases) included.
    Blocked {
        weights: u16,
        bytes: u16,
    },
}

impl Storage {
    pub fn bytes_per_weight(self) -> f64 {
        match self {
            Storage::Dtype(d) => f64::from(d.bits()) / 8.0,
            Storage::Ggml(t) => t.bytes_per_weight(),
            Storage::Blocked { weights, bytes } => f64::from(bytes) / f64::from(weights),
        }
    }

    /// The float type this storage is itself, if it is one.
    pub(crate) fn float(self) -> Option<Dtype> {
        match self {
            Storage::Dtype(d) if d.bits() >= 16 => Some(d),
            Storage::Ggml(GgmlType::F16) => Some(Dtype::Fp16),
            Storage::Ggml(GgmlType::BF16) => Some(Dtype::Bf16),
            Storage::Ggml(GgmlType::F32) => Some(Dtype::Fp32),
            _ => None,
        }
    }
}

/// Group formats of runtimes other than llama.cpp.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Named {
    /// MLC LLM: 4-bit, groups of 32 with an fp16 scale (16 + 2 bytes),
    /// embedding and LM head quantised too; fp16 compute.
    Q4f16_1,
    /// MLC LLM: as `q4f16_1` with an fp32 scale and fp32 compute.
    Q4f32_1,
    /// MLC LLM: 3-bit, groups of 40 packed ten to a u32 (16 bytes) plus an
    /// fp16 scale.
    Q3f16_1,
    /// MLX (`mlx_lm.convert -q`): 4-bit, groups of 64 with an fp16 scale and
    /// bias (32 + 4 bytes), embedding and LM head quantised too.
    Mlx4,
    /// MLX 8-bit: groups of 64 with an fp16 scale and bias (64 + 4 bytes).
    Mlx8,
    /// bitsandbytes NF4 (its default config): blocks of 64 with an fp32
    /// absmax (32 + 4 bytes); embedding and LM head stay 16-bit.
    Nf4,
    /// bitsandbytes NF4 with double quantisation: an 8-bit absmax per 64,
    /// an fp32 scale per 256 absmaxes (16384 weights in 8192 + 256 + 4 bytes).
    Nf4Dq,
    /// NVIDIA NVFP4: FP4 (E2M1) in blocks of 16 with an FP8 (E4M3) scale (8 +
    /// 1 bytes), activations FP4 too (W4A4 on Blackwell); tables 16-bit.
    Nvfp4,
    /// OCP MXFP4: FP4 (E2M1) in blocks of 32 with an E8M0 scale (16 + 1
    /// bytes), weights only (gpt-oss style); tables 16-bit.
    Mxfp4,
}

/// (format, name, matrices, embedding and LM head, nominal weight type,
/// activation type).
const NAMED: [(Named, &str, Storage, Storage, Dtype, Dtype); 9] = {
    const fn b(weights: u16, bytes: u16) -> Storage {
        Storage::Blocked { weights, bytes }
    }
    const FP16: Storage = Storage::Dtype(Dtype::Fp16);
    [
        (
            Named::Q4f16_1,
            "q4f16_1",
            b(32, 18),
            b(32, 18),
            Dtype::Int4,
            Dtype::Fp16,
        ),
        (
            Named::Q4f32_1,
            "q4f32_1",
            b(32, 20),
            b(32, 20),
            Dtype::Int4,
            Dtype::Fp32,
        ),
        (
            Named::Q3f16_1,
            "q3f16_1",
            b(40, 18),
            b(40, 18),
            Dtype::Int4,
            Dtype::Fp16,
        ),
        (
            Named::Mlx4,
            "mlx_4bit",
            b(64, 36),
            b(64, 36),
            Dtype::Int4,
            Dtype::Fp16,
        ),
        (
            Named::Mlx8,
            "mlx_8bit",
            b(64, 68),
            b(64, 68),
            Dtype::Int8,
            Dtype::Fp16,
        ),
        (Named::Nf4, "nf4", b(64, 36), FP16, Dtype::Int4, Dtype::Fp16),
        (
            Named::Nf4Dq,
            "nf4_dq",
            b(16384, 8452),
            FP16,
            Dtype::Int4,
            Dtype::Fp16,
        ),
        (
            Named::Nvfp4,
            "nvfp4",
            b(16, 9),
            FP16,
            Dtype::Fp4,
            Dtype::Fp4,
        ),
        (
            Named::Mxfp4,
            "mxfp4",
            Storage::Ggml(GgmlType::MXFP4),
            FP16,
            Dtype::Fp4,
            Dtype::Fp16,
        ),
    ]
};

impl Named {
    fn row(self) -> (Named, &'static str, Storage, Storage, Dtype, Dtype) {
        NAMED[self as usize]
    }

    pub fn name(self) -> &'static str {
        self.row().1
    }

    pub fn parse(s: &str) -> Option<Named> {
        NAMED
            .into_iter()
            .find(|r| r.1.eq_ignore_ascii_case(s))
            .map(|r| r.0)
    }

    pub fn all() -> impl Iterator<Item = Named> {
        NAMED.into_iter().map(|r| r.0)
    }

    pub fn matrices(self) -> Storage {
        self.row().2
    }

    pub fn tables(self) -> Storage {
        self.row().3
    }

    /// The nominal weight type (for the matmul type) and the activation type.
    pub fn types(self) -> (Dtype, Dtype) {
        let r = self.row();
        (r.4, r.5)
    }
}

/// Bytes and weights of each class as a GGUF file stores them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FileBytes {
    /// `(bytes, weights)` per [`Class::ALL`] entry.
    pub classes: [(u64, u64); 11],
    /// `general.file_type`, when the file records a known one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mix: Option<Mix>,
}

impl FileBytes {
    pub fn add(&mut self, class: Class, bytes: u64, weights: u64) {
        let slot = &mut self.classes[class as usize];
        slot.0 += bytes;
        slot.1 += weights;
    }

    pub fn get(&self, class: Class) -> (u64, u64) {
        self.classes[class as usize]
    }

    /// All bytes the modelled tensors take.
    pub fn total(&self) -> u64 {
        self.classes.iter().map(|c| c.0).sum()
    }

    fn per_weight(&self, class: Class) -> Option<f64> {
        let (bytes, weights) = self.get(class);
        (weights > 0).then(|| bytes as f64 / weights as f64)
    }
}

/// How the weights of a precision are stored.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    /// The `fp16` / `w4a16g128` shorthands: matrices in the weight type with
    /// one fp16 scale per group, embedding and LM head unquantised.
    #[default]
    Plain,
    /// A llama.cpp file type, each tensor typed as `llama-quantize` does.
    Llama(Mix),
    Named(Named),
    /// The types a GGUF file's header lists, summed per class.
    File(FileBytes),
}

impl Scheme {
    pub fn is_plain(&self) -> bool {
        *self == Scheme::Plain
    }
}

/// Bytes per weight of each tensor class, for one architecture.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TensorBytes {
    pub embedding: f64,
    pub q: f64,
    pub k: f64,
    pub v: f64,
    pub o: f64,
    pub gate: f64,
    pub up: f64,
    pub down: f64,
    pub router: f64,
    pub head: f64,
    /// Norm weights and biases.
    pub vector: f64,
}

impl TensorBytes {
    /// Every matrix in `matrix` bytes per weight, tables in `table`.
    pub(crate) fn uniform(matrix: f64, table: f64, vector: f64) -> TensorBytes {
        TensorBytes {
            embedding: table,
            q: matrix,
            k: matrix,
            v: matrix,
            o: matrix,
            gate: matrix,
            up: matrix,
            down: matrix,
            router: matrix,
            head: table,
            vector,
        }
    }

    fn set(&mut self, class: Class, v: f64) {
        let slot = match class {
            Class::TokenEmbd => &mut self.embedding,
            Class::AttnQ => &mut self.q,
            Class::AttnK => &mut self.k,
            Class::AttnV => &mut self.v,
            Class::AttnO => &mut self.o,
            Class::FfnGate => &mut self.gate,
            Class::FfnUp => &mut self.up,
            Class::FfnDown => &mut self.down,
            Class::Router => &mut self.router,
            Class::Output => &mut self.head,
            Class::Vector => &mut self.vector,
        };
        *slot = v;
    }

    /// The bytes a llama.cpp mix gives each class of `arch`: per layer as
    /// the type rules say, averaged over the layers.
    pub(crate) fn of_mix(mix: Mix, arch: &Architecture) -> TensorBytes {
        let s = mix::Shape {
            layers: arch.layers,
            gqa: arch.heads / arch.kv_heads.max(1),
            experts: arch.experts,
            tied: arch.tied_embeddings,
            is_70b: arch.layers == 80 && arch.heads > arch.kv_heads,
            width: u64::from(arch.width),
            q_dim: arch.q_dim(),
            ffn: u64::from(arch.ffn),
        };
        let mut out = TensorBytes::uniform(0.0, 0.0, 0.0);
        let n = arch.layers.max(1);
        for class in Class::ALL {
            let at = |i| mix.tensor_type(class, i, &s).bytes_per_weight();
            // One type inside a layer set and one outside: weigh the two by
            // the set's size rather than typing every layer.
            let bytes = match mix.layers(class, &s) {
                None => at(0),
                Some(set) => {
                    let k = set.count(n);
                    let inside = set.member(n, true).map_or(0.0, at);
                    let outside = set.member(n, false).map_or(0.0, at);
                    (f64::from(k) * inside + f64::from(n - k) * outside) / f64::from(n)
                }
            };
            out.set(class, bytes);
        }
        if arch.tied_embeddings {
            out.head = out.embedding;
        }
        out
    }

    /// A file's own bytes; a class the file lacks (no router in a dense
    /// model) keeps `fallback`'s figure.
    pub(crate) fn of_file(f: &FileBytes, fallback: TensorBytes, tied: bool) -> TensorBytes {
        let mut out = fallback;
        for class in Class::ALL {
            if let Some(b) = f.per_weight(class) {
                out.set(class, b);
            }
        }
        if tied {
            out.head = out.embedding;
        }
        out
    }
}

/// Every format name [`crate::Precision::parse`] knows, for listings and
/// did-you-mean.
pub fn names() -> Vec<String> {
    let mut v: Vec<String> = [
        "fp32",
        "bf16",
        "fp16",
        "fp8",
        "fp8_e4m3",
        "int8",
        "w8a8",
        "w8a16",
        "w4a16",
        "w4a8",
        "w4a4",
        "w4a16g128",
        "awq",
        "gptq",
        "q0f16",
        "q0f32",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    v.extend(Mix::all().map(|m| m.name().to_owned()));
    v.extend(Named::all().map(|n| n.name().to_owned()));
    v
}
