//! A registry with the stage kinds and presets the stdlib will provide,
//! written out here so the DSL is tested against realistic signatures
//! without depending on the stdlib.
#![allow(dead_code)]
use std::path::{Component, Path, PathBuf};

use rooflaw_dsl::units::Dim;
use rooflaw_dsl::{Loader, Param, ParamType, PresetKind, Registry, Signature};

pub struct TestRegistry {
    sigs: Vec<Signature>,
}

const PRECISIONS: &[&str] = &[
    "fp32", "bf16", "fp16", "fp8", "int8", "int4", "w8a16", "w4a16", "w4a16kv8", "w8a8",
];

fn p(name: &'static str, ty: ParamType, required: bool, positional: bool) -> Param {
    Param {
        name,
        ty,
        required,
        positional,
        doc: "test parameter",
    }
}

impl Default for TestRegistry {
    // A table of signatures: long, flat, and clearest in one place.
    #[allow(clippy::too_many_lines)]
    fn default() -> Self {
        use ParamType as T;
        let sig = |kind, params| Signature {
            kind,
            doc: "test stage",
            params,
        };
        Self {
            sigs: vec![
                sig(
                    "enumerate",
                    vec![
                        p("space", T::Space, true, true),
                        p("limit", T::Integer, false, false),
                    ],
                ),
                sig(
                    "sample",
                    vec![
                        p("candidates", T::Stage, true, true),
                        p("n", T::Integer, true, true),
                        p(
                            "by",
                            T::Enum(&["grid", "random", "latin_hypercube"]),
                            false,
                            false,
                        ),
                        p("seed", T::Integer, false, false),
                    ],
                ),
                sig(
                    "roofline",
                    vec![
                        p("candidates", T::Stage, true, true),
                        p("hardware", T::Hardware, true, false),
                        p("workload", T::Workload, true, false),
                        p(
                            "precision",
                            T::OneOrMany(Box::new(T::Enum(PRECISIONS))),
                            false,
                            false,
                        ),
                    ],
                ),
                sig(
                    "law",
                    vec![
                        p(
                            "law",
                            T::Either(vec![T::Preset(PresetKind::Law), T::Stage]),
                            true,
                            true,
                        ),
                        p("extrapolate", T::Bool, false, false),
                    ],
                ),
                sig(
                    "fit",
                    vec![
                        p("data", T::Str, true, true),
                        p("form", T::Expr, false, false),
                        p("init", T::Map, false, false),
                    ],
                ),
                sig(
                    "pareto",
                    vec![
                        p("inputs", T::OneOrMany(Box::new(T::Stage)), true, true),
                        p("law", T::Stage, true, true),
                        p(
                            "objective",
                            T::Enum(&["prefill", "decode", "total", "per_token", "memory"]),
                            false,
                            false,
                        ),
                    ],
                ),
                sig(
                    "search",
                    vec![
                        p("frontier", T::Stage, true, true),
                        p("budget", T::Budget, true, false),
                        p("baseline", T::Preset(PresetKind::Model), false, false),
                        p("top", T::Integer, false, false),
                    ],
                ),
                sig(
                    "table",
                    vec![
                        p("stage", T::Stage, true, true),
                        p("columns", T::List(Box::new(T::Str)), false, false),
                        p("limit", T::Number(Dim::NONE), false, false),
                    ],
                ),
                sig(
                    "plot",
                    vec![
                        p("stage", T::Stage, true, true),
                        p(
                            "x",
                            T::Enum(&["params", "latency", "memory", "loss"]),
                            true,
                            false,
                        ),
                        p(
                            "y",
                            T::Enum(&["params", "latency", "memory", "loss"]),
                            true,
                            false,
                        ),
                        p("deadline", T::Number(Dim::TIME), false, false),
                    ],
                ),
            ],
        }
    }
}

impl Registry for TestRegistry {
    fn signature(&self, kind: &str) -> Option<&Signature> {
        self.sigs.iter().find(|s| s.kind == kind)
    }
    fn kinds(&self) -> Vec<&'static str> {
        self.sigs.iter().map(|s| s.kind).collect()
    }
    fn presets(&self, kind: PresetKind) -> Vec<String> {
        let names: &[&str] = match kind {
            PresetKind::Hardware => &[
                "jetson-agx-orin-64gb",
                "jetson-agx-orin-32gb",
                "jetson-orin-nano-8gb",
                "rtx-4090",
                "a100-80gb",
                "h100-sxm",
            ],
            PresetKind::Model => &["qwen2.5-0.5b", "llama-3.2-1b"],
            PresetKind::Budget => &[
                "embodied-ai",
                "smart-home",
                "autonomous-driving",
                "private-serving",
            ],
            PresetKind::Law => &["sun2026", "hoffmann2022", "besiroglu2024"],
            PresetKind::Workload | PresetKind::Corpus => &[],
        };
        names.iter().map(|s| (*s).to_string()).collect()
    }
    // Mirrors `rooflaw_stdlib::space::{SPACE_FIELDS, SPACE_BUILTINS}` (the
    // dsl cannot depend on the stdlib); `tests/check.rs` at the root checks
    // the bundled pipelines against the real registry.
    fn space_fields(&self) -> &[&'static str] {
        &[
            "layers",
            "width",
            "heads",
            "kv_heads",
            "head_dim",
            "ffn",
            "ffn_size",
            "experts",
            "top_k",
            "shared_experts",
            "vocab",
            "tied",
            "qk_norm",
            "gated",
            "qkv_bias",
        ]
    }
    fn space_builtins(&self) -> &[&'static str] {
        &[
            "params",
            "params_active",
            "params_non_embedding",
            "kv_dim",
            "gqa",
            "rho",
            "ffn_ratio",
        ]
    }
}

/// Reads imports from disk relative to the importing file, as the CLI does.
pub struct DirLoader;

impl Loader for DirLoader {
    fn load(&self, importer: &str, path: &str) -> Result<(String, String), String> {
        let full = Path::new(importer)
            .parent()
            .unwrap_or(Path::new(""))
            .join(path);
        let name = normalise(&full);
        let text = std::fs::read_to_string(&name).map_err(|e| e.to_string())?;
        Ok((name.to_string_lossy().into_owned(), text))
    }
}

/// Imports from a fixed table, for in-memory tests.
pub struct MapLoader(pub Vec<(&'static str, &'static str)>);

impl Loader for MapLoader {
    fn load(&self, importer: &str, path: &str) -> Result<(String, String), String> {
        let full = Path::new(importer)
            .parent()
            .unwrap_or(Path::new(""))
            .join(path);
        let name = normalise(&full).to_string_lossy().into_owned();
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(n, t)| ((*n).to_string(), (*t).to_string()))
            .ok_or_else(|| "no such file".to_string())
    }
}

fn normalise(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}
