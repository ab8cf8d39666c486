//! A pipeline's `workload` block, resolved into one [`Workload`] per
//! precision it lists (`precision = [fp16, w4a16]` gives two).
use std::path::{Path, PathBuf};

use rooflaw_dsl::spec::{Block, Value};
use rooflaw_dsl::{Code, Diagnostic, Spanned};

use crate::precision::{Precision, PrecisionError};
use crate::runtime::RuntimeRef;
use crate::workload::{Attention, Experts, Workload};

/// Where a file named in the block is: relative to its pipeline, checked
/// against the project's boundary.
pub(crate) type Locate<'a> = &'a dyn Fn(&Spanned<String>) -> Result<PathBuf, Vec<Diagnostic>>;

pub(crate) fn from_block(block: &Block, locate: Locate) -> Result<Vec<Workload>, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let count = |path: &str, default: Option<u32>, diags: &mut Vec<Diagnostic>| -> u32 {
        match block.field(path) {
            Some(f) => match &f.value.node {
                Value::Quantity(q)
                    if q.value >= 0.0
                        && q.value.fract() == 0.0
                        && q.value <= f64::from(u32::MAX) =>
                {
                    q.value as u32
                }
                _ => {
                    diags.push(
                        Diagnostic::error(
                            Code::InvalidValue,
                            format!("`{path}` must be a whole number"),
                        )
                        .at(f.value.span, "expected a whole number"),
                    );
                    0
                }
            },
            None => default.unwrap_or_else(|| {
                diags.push(
                    Diagnostic::error(
                        Code::MissingField,
                        format!("workload `{}` needs `{path}`", block.name.node),
                    )
                    .at(block.name.span, format!("add `{path} = ...`")),
                );
                0
            }),
        }
    };
    let batch = count("batch", Some(1), &mut diags);
    let prompt = count("prompt", None, &mut diags);
    let generate = count("generate", None, &mut diags);
    let context = count("context", Some(0), &mut diags);
    if batch == 0
        && let Some(f) = block.field("batch")
    {
        diags.push(
            Diagnostic::error(Code::InvalidValue, "`batch` must be at least 1")
                .at(f.value.span, "zero"),
        );
    }
    if prompt == 0 && generate == 0 {
        diags.extend(nothing_to_run(block));
    }
    let words = precision_words(block, &mut diags);
    let attention = choice(block, "attention", Attention::parse, &mut diags);
    let experts = choice(block, "experts", Experts::parse, &mut diags);
    let runtime = runtime(block, locate, &mut diags);
    let mut out = Vec::new();
    for w in &words {
        match Precision::parse(&w.node) {
            Ok(p) => {
                let mut wl = Workload::new(batch.max(1), prompt, generate, p);
                if let Some(rt) = runtime {
                    wl = wl.on(rt);
                }
                wl.context = context;
                // What the block says wins over the runtime's kernels.
                if let Some(a) = attention {
                    wl.attention = a;
                }
                if let Some(e) = experts {
                    wl.experts = e;
                }
                out.push(wl);
            }
            Err(e) => diags.push(
                Diagnostic::error(Code::InvalidPrecision, e.to_string())
                    .at(
                        w.span,
                        if matches!(e, PrecisionError::Unknown { .. }) {
                            "unknown precision"
                        } else {
                            "not a valid precision"
                        },
                    )
                    .help("formats: fp32, bf16, fp16, fp8, int8, w8a16, w4a16 (g64: group size), llama.cpp's Q4_K_M, Q8_0, IQ4_XS, ..., MLC's q4f16_1, mlx_4bit, nf4, nvfp4, mxfp4; a KV suffix such as kv8 (w4a16kv8, Q4_K_M_kv8)"),
            ),
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

/// The precision words of the block (`fp16` when it names none), each
/// with its span.
fn precision_words(block: &Block, diags: &mut Vec<Diagnostic>) -> Vec<Spanned<String>> {
    let mut words: Vec<Spanned<String>> = Vec::new();
    match block.field("precision").map(|f| &f.value) {
        None => words.push(Spanned::new("fp16".into(), block.name.span)),
        Some(v) => match &v.node {
            Value::Word(w) | Value::Str(w) => words.push(Spanned::new(w.clone(), v.span)),
            Value::List(items) => {
                for i in items {
                    match &i.node {
                        Value::Word(w) | Value::Str(w) => {
                            words.push(Spanned::new(w.clone(), i.span));
                        }
                        _ => diags.push(
                            Diagnostic::error(Code::InvalidValue, "expected a precision")
                                .at(i.span, "here"),
                        ),
                    }
                }
            }
            _ => diags.push(
                Diagnostic::error(
                    Code::InvalidValue,
                    "expected a precision such as `fp16` or `w4a16kv8`",
                )
                .at(v.span, "here"),
            ),
        },
    }
    words
}

/// Both phases empty: `prompt = 0` and `generate = 0`.
fn nothing_to_run(block: &Block) -> Option<Diagnostic> {
    let (p, g) = (block.field("prompt")?, block.field("generate")?);
    Some(
        Diagnostic::error(
            Code::InvalidValue,
            "`prompt` and `generate` are both 0: there is nothing to run",
        )
        .at(p.value.span, "no prompt")
        .at(g.value.span, "and nothing generated")
        .help(
            "`prompt = 0` decodes from the cache (llama-bench tgN); `generate = 0` runs the \
             prompt only (ppN)",
        ),
    )
}

/// The `runtime` field: a preset or a profile file (`.yaml`, relative to
/// the pipeline).
fn runtime(block: &Block, locate: Locate, diags: &mut Vec<Diagnostic>) -> Option<RuntimeRef> {
    let v = &block.field("runtime")?.value;
    let (Value::Word(name) | Value::Str(name)) = &v.node else {
        return None;
    };
    let is_file = Path::new(name)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    let found = if is_file {
        match locate(&Spanned::new(name.clone(), v.span)) {
            Ok(path) => crate::runtime::load(&path),
            Err(d) => {
                diags.extend(d);
                return None;
            }
        }
    } else {
        crate::runtime::resolve(name)
    };
    match found {
        Ok(p) => Some(RuntimeRef::new(p.runtime)),
        Err(e) => {
            diags.push(
                Diagnostic::error(Code::InvalidRuntime, e.to_string())
                    .at(v.span, "not a runtime")
                    .help(format!(
                        "runtimes: {} (quote names with dots or dashes), or a profile \"FILE.yaml\"",
                        crate::runtime::ids().join(", ")
                    )),
            );
            None
        }
    }
}

/// A choice field (`attention = unfused`): the language has checked the
/// word against the schema, so an unknown one here is a schema/parser
/// mismatch, still reported rather than ignored.
fn choice<T>(
    block: &Block,
    field: &str,
    parse: fn(&str) -> Option<T>,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    let v = &block.field(field)?.value;
    match &v.node {
        Value::Word(w) | Value::Str(w) => parse(w).or_else(|| {
            diags.push(
                Diagnostic::error(Code::InvalidValue, format!("unknown {field} `{w}`"))
                    .at(v.span, "not one of the choices"),
            );
            None
        }),
        _ => None,
    }
}
