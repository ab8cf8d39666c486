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
    "fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "int8", "int4",
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
        doc: "prompt tokens per sequence",
    },
    FieldSpec {
        path: "generate",
        ty: FieldType::Number(Dim::TOKENS),
        doc: "generated tokens per sequence",
    },
    FieldSpec {
        path: "precision",
        ty: FieldType::Precision,
        doc: "weights/activations/KV precision, e.g. fp16, w8a16, w4a16kv8, or a list",
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
        doc: "the runtime that executes it: a preset (`llama_cpp` or \"llama.cpp\", mlc, mlx, vllm, \"tensorrt-llm\", executorch, qnn, candle, tinychat, ideal) or a profile file (\"profile.yaml\"); sets attention and MoE kernels unless given",
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
