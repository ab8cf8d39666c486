//! `rooflaw check FILE...`: parse, load imports, lower and validate pipeline
//! files without running anything.
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use rooflaw_dsl::diagnostic::{JsonDiagnostic, to_json};
use rooflaw_dsl::{Diagnostic, RenderOptions, SourceMap, compile, render};

use crate::loader::{FsLoader, normalise};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Rendered diagnostics on stderr.
    Human,
    /// One JSON array of diagnostics on stdout, for editors and CI.
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// Pipeline files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Print what each valid file lowers to: units in SI, names resolved,
    /// space fields in dependency order.
    #[arg(long)]
    pub summary: bool,
}

/// Exit 0 when every file is valid, 1 when any has an error.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let registry = registry();
    let mut json: Vec<JsonDiagnostic> = Vec::new();
    let mut errors = 0usize;
    let width = 100;
    for path in &args.files {
        // Normalised like import names, so a file importing itself is
        // recognised as the same file.
        let name = normalise(path).to_string_lossy().into_owned();
        let (diags, sources) = match std::fs::read_to_string(path) {
            Ok(text) => {
                let out = compile(&name, &text, &FsLoader, &registry);
                if let (true, Some(spec)) = (args.summary, &out.spec) {
                    print!("{}", spec.summary());
                }
                (out.diagnostics.0, out.sources)
            }
            Err(e) => {
                // A file that cannot be read has no span to point at: report
                // it as a located-nowhere diagnostic so JSON consumers see it.
                let d = Diagnostic::error("rooflaw::io", format!("cannot read `{name}`: {e}"));
                (vec![d], SourceMap::default())
            }
        };
        errors += diags.iter().filter(|d| d.is_error()).count();
        match args.format {
            Format::Json => json.extend(to_json(&diags, &sources).into_iter().map(|mut d| {
                if d.file.is_none() {
                    d.file = Some(name.clone());
                }
                d
            })),
            Format::Human => {
                let color = std::io::stderr().is_terminal();
                eprint!(
                    "{}",
                    render(&diags, &sources, RenderOptions { color, width })
                );
            }
        }
    }
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&json)?),
        Format::Human if errors == 0 => {
            eprintln!("ok: {} file(s) checked", args.files.len());
        }
        Format::Human => {
            eprintln!("{errors} error(s) in {} file(s) checked", args.files.len());
        }
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

// TEMPORARY, for the lead to replace with `rooflaw_stdlib::registry()` once the
// stdlib registers its stage kinds. The signatures and preset names below are
// those the stdlib is expected to ship (same as the DSL's test registry), so
// `rooflaw check` is useful before that merge.
fn registry() -> temporary::Registry {
    temporary::Registry::default()
}

mod temporary {
    use rooflaw_dsl::units::Dim;
    use rooflaw_dsl::{Param, ParamType as T, PresetKind, Signature};

    const PRECISIONS: &[&str] = &[
        "fp32", "bf16", "fp16", "fp8", "int8", "int4", "w8a16", "w4a16", "w4a16kv8", "w8a8",
    ];
    const OBJECTIVES: &[&str] = &["prefill", "decode", "total", "per_token", "memory"];
    const AXES: &[&str] = &["params", "latency", "memory", "loss"];

    fn p(name: &'static str, ty: T, required: bool, positional: bool, doc: &'static str) -> Param {
        Param {
            name,
            ty,
            required,
            positional,
            doc,
        }
    }

    pub(super) struct Registry {
        sigs: Vec<Signature>,
    }

    impl Default for Registry {
        // A table of signatures: long, flat, and clearest in one place.
        #[allow(clippy::too_many_lines)]
        fn default() -> Self {
            let sig = |kind, doc, params| Signature { kind, doc, params };
            Self {
                sigs: vec![
                    sig(
                        "enumerate",
                        "every architecture of a space",
                        vec![
                            p("space", T::Space, true, true, "the space to enumerate"),
                            p(
                                "limit",
                                T::Integer,
                                false,
                                false,
                                "stop after this many candidates",
                            ),
                        ],
                    ),
                    sig(
                        "sample",
                        "a subset of candidates",
                        vec![
                            p(
                                "candidates",
                                T::Stage,
                                true,
                                true,
                                "the stage to sample from",
                            ),
                            p("n", T::Integer, true, true, "how many to keep"),
                            p(
                                "by",
                                T::Enum(&["grid", "random", "latin_hypercube"]),
                                false,
                                false,
                                "sampling method",
                            ),
                            p("seed", T::Integer, false, false, "random seed"),
                        ],
                    ),
                    sig(
                        "roofline",
                        "latency and memory of each candidate",
                        vec![
                            p("candidates", T::Stage, true, true, "the candidates"),
                            p("hardware", T::Hardware, true, false, "the device"),
                            p("workload", T::Workload, true, false, "the request shape"),
                            p(
                                "precision",
                                T::OneOrMany(Box::new(T::Enum(PRECISIONS))),
                                false,
                                false,
                                "override the workload's precision",
                            ),
                        ],
                    ),
                    sig(
                        "law",
                        "a loss law",
                        vec![
                            p(
                                "law",
                                T::Either(vec![T::Preset(PresetKind::Law), T::Stage]),
                                true,
                                true,
                                "a published law or a fit stage",
                            ),
                            p(
                                "extrapolate",
                                T::Bool,
                                false,
                                false,
                                "allow use outside the fitted range",
                            ),
                        ],
                    ),
                    sig(
                        "fit",
                        "fit a loss law to measured losses",
                        vec![
                            p("data", T::Str, true, true, "CSV of measured losses"),
                            p("form", T::Expr, false, false, "the law's functional form"),
                            p("init", T::Map, false, false, "initial coefficients"),
                        ],
                    ),
                    sig(
                        "pareto",
                        "the loss-latency frontier",
                        vec![
                            p(
                                "inputs",
                                T::OneOrMany(Box::new(T::Stage)),
                                true,
                                true,
                                "stages with latencies",
                            ),
                            p("law", T::Stage, true, true, "the law stage predicting loss"),
                            p(
                                "objective",
                                T::Enum(OBJECTIVES),
                                false,
                                false,
                                "which latency to trade against loss",
                            ),
                        ],
                    ),
                    sig(
                        "search",
                        "the best candidate within a budget",
                        vec![
                            p("frontier", T::Stage, true, true, "the frontier to search"),
                            p("budget", T::Budget, true, false, "the constraints"),
                            p(
                                "baseline",
                                T::Preset(PresetKind::Model),
                                false,
                                false,
                                "a model to compare with",
                            ),
                            p("top", T::Integer, false, false, "how many to keep"),
                        ],
                    ),
                    sig(
                        "table",
                        "a table of a stage's rows",
                        vec![
                            p("stage", T::Stage, true, true, "the stage"),
                            p(
                                "columns",
                                T::List(Box::new(T::Str)),
                                false,
                                false,
                                "columns to show",
                            ),
                            p("limit", T::Number(Dim::NONE), false, false, "rows to show"),
                        ],
                    ),
                    sig(
                        "plot",
                        "a scatter plot of a stage",
                        vec![
                            p("stage", T::Stage, true, true, "the stage"),
                            p("x", T::Enum(AXES), true, false, "horizontal axis"),
                            p("y", T::Enum(AXES), true, false, "vertical axis"),
                            p(
                                "deadline",
                                T::Number(Dim::TIME),
                                false,
                                false,
                                "a latency line to draw",
                            ),
                        ],
                    ),
                ],
            }
        }
    }

    impl rooflaw_dsl::Registry for Registry {
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
        fn space_fields(&self) -> &[&'static str] {
            &[
                "layers",
                "width",
                "heads",
                "kv_heads",
                "head_dim",
                "ffn",
                "gated",
                "experts",
                "top_k",
                "shared_experts",
                "shared_ffn",
                "vocab",
                "tied_embeddings",
            ]
        }
        fn space_builtins(&self) -> &[&'static str] {
            &["params", "active_params", "ffn_ratio"]
        }
    }
}
