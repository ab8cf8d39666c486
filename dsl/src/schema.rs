//! The fields of the language's own blocks (`hardware`, `workload`,
//! `budget`). These are part of the language, unlike stage kinds: the
//! lowering checks names and dimensions here, the stdlib gives them meaning.
use crate::units::Dim;

/// What a block field holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldType {
    Number(Dim),
    /// A whole number with no unit.
    Count,
    /// A fraction in (0, 1].
    Fraction,
    Str,
    /// A precision word (`fp16`, `w4a16kv8`) or a list of them.
    Precision,
    /// One bare word of a fixed set.
    Choice(&'static [&'static str]),
    /// A name, as a bare word or a string (`mlc`, `"llama.cpp"`,
    /// `"profile.yaml"`), checked by whoever resolves it.
    Name,
}

pub struct FieldSpec {
    /// Dotted path; a trailing `*` matches one segment (`peak.*`).
    pub path: &'static str,
    pub ty: FieldType,
    pub doc: &'static str,
}

/// Compute datatypes a `peak.*` field may name.
pub const DTYPES: &[&str] = &[
    "fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4", "fp4",
];

/// DRAM technologies a hardware block's `memory_technology` may name. Mirrors
/// `rooflaw_stdlib::hardware::MemoryTechnology` (the dsl cannot depend on the
/// stdlib; `stdlib/tests/presets.rs` checks that the two lists agree).
pub const MEMORY_TECHNOLOGIES: &[&str] = &[
    "ddr4", "ddr5", "lpddr4", "lpddr4x", "lpddr5", "lpddr5x", "gddr6", "gddr6x", "gddr7", "hbm2",
    "hbm2e", "hbm3", "hbm3e",
];

pub const HARDWARE_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        path: "name",
        ty: FieldType::Str,
        doc: "display name",
    },
    FieldSpec {
        path: "peak.*",
        ty: FieldType::Number(Dim::COMPUTE),
        doc: "dense peak compute of one datatype (fp32, bf16, fp16, fp8, int8, int4)",
    },
    FieldSpec {
        path: "bandwidth",
        ty: FieldType::Number(Dim::BANDWIDTH),
        doc: "peak DRAM bandwidth",
    },
    FieldSpec {
        path: "memory",
        ty: FieldType::Number(Dim::BYTES),
        doc: "memory capacity usable by the model",
    },
    FieldSpec {
        path: "efficiency.compute",
        ty: FieldType::Fraction,
        doc: "achieved fraction of peak compute",
    },
    FieldSpec {
        path: "efficiency.memory",
        ty: FieldType::Fraction,
        doc: "achieved fraction of peak bandwidth",
    },
    FieldSpec {
        path: "efficiency.vector",
        ty: FieldType::Fraction,
        doc: "achieved fraction of peak bandwidth of element-wise operators (default: efficiency.memory)",
    },
    FieldSpec {
        path: "launch",
        ty: FieldType::Number(Dim::TIME),
        doc: "fixed overhead per kernel launch",
    },
    FieldSpec {
        path: "memory_technology",
        ty: FieldType::Choice(MEMORY_TECHNOLOGIES),
        doc: "the DRAM behind `bandwidth` (lpddr5x, gddr6x, hbm3e, ...); runtime profiles key their memory efficiency by its class",
    },
];

pub const WORKLOAD_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        path: "batch",
        ty: FieldType::Count,
        doc: "sequences processed together",
    },
    FieldSpec {
        path: "prompt",
        ty: FieldType::Number(Dim::TOKENS),
        doc: "prompt tokens per sequence (0: decode from the cache as it is, llama-bench's tgN)",
    },
    FieldSpec {
        path: "generate",
        ty: FieldType::Number(Dim::TOKENS),
        doc: "generated tokens per sequence (0: the prompt only, llama-bench's ppN)",
    },
    FieldSpec {
        path: "context",
        ty: FieldType::Number(Dim::TOKENS),
        doc: "tokens per sequence already in the KV cache before the prompt (a chat turn's history; default 0)",
    },
    FieldSpec {
        path: "precision",
        ty: FieldType::Precision,
        doc: "weights/activations/KV format, e.g. fp16, w4a16kv8, Q4_K_M, q4f16_1, mlx_4bit, nvfp4, or a list",
    },
    FieldSpec {
        path: "attention",
        ty: FieldType::Choice(&["fused", "unfused"]),
        doc: "attention kernels: `fused` (FlashAttention-style, the default) or `unfused` (scores written to memory, the paper's Appendix E table)",
    },
    FieldSpec {
        path: "experts",
        ty: FieldType::Choice(&["grouped", "looped"]),
        doc: "MoE kernels: `grouped` (one grouped GEMM per projection, the default) or `looped` (one kernel per expert hit, as candle and eager frameworks run them)",
    },
    FieldSpec {
        path: "runtime",
        ty: FieldType::Name,
        doc: "the runtime that executes it: a preset (llama.cpp, mlc, mlx, vllm, \"tensorrt-llm\", executorch, qnn, candle, tinychat, ideal) or a profile file (\"profile.yaml\", or `runtime from \"profile.yaml\"`); sets attention and MoE kernels unless given",
    },
];

/// Token id types of pre-tokenized corpus files.
pub const TOKEN_DTYPES: &[&str] = &["uint16", "uint32"];

pub const CORPUS_FIELDS: &[FieldSpec] = &[
    FieldSpec {
        path: "train",
        ty: FieldType::Str,
        doc: "training split: a file, or a pattern such as `notes/*.txt` (relative to the pipeline file)",
    },
    FieldSpec {
        path: "valid",
        ty: FieldType::Str,
        doc: "validation split: a file or a pattern",
    },
    FieldSpec {
        path: "tokens",
        ty: FieldType::Choice(TOKEN_DTYPES),
        doc: "the files are pre-tokenized flat arrays of little-endian token ids of this type (nanoGPT/Megatron `.bin`)",
    },
    FieldSpec {
        path: "vocab",
        ty: FieldType::Count,
        doc: "vocabulary size: every token id is below it (required with `tokens`; pads a tokenizer's vocabulary otherwise)",
    },
    FieldSpec {
        path: "tokenizer",
        ty: FieldType::Str,
        doc: "a Hugging Face `tokenizer.json` that tokenizes text files (default: one token per byte)",
    },
];

/// Metrics a budget may constrain, with their dimension.
pub const BUDGET_METRICS: &[(&str, Dim)] = &[
    ("latency.prefill", Dim::TIME),
    ("latency.ttft", Dim::TIME),
    ("latency.decode", Dim::TIME),
    ("latency.per_token", Dim::TIME),
    ("latency.total", Dim::TIME),
    ("memory", Dim::BYTES),
    ("params", Dim::NONE),
    ("params.active", Dim::NONE),
    ("throughput", Dim::THROUGHPUT),
];

/// Find the spec of a field path, matching `*` against one segment.
pub fn lookup<'a>(fields: &'a [FieldSpec], path: &str) -> Option<&'a FieldSpec> {
    fields.iter().find(|f| match f.path.strip_suffix('*') {
        Some(prefix) => path
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && !rest.contains('.')),
        None => f.path == path,
    })
}
