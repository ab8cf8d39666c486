//! `hardware`, `workload` and `budget` blocks: fields checked against the
//! language's schema, units normalised.
use std::collections::HashMap;

use super::values::quantity;
use crate::ast::{self, BlockKind, Entry, Expr, ExprKind};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::schema::{self, BUDGET_METRICS, DTYPES, FieldSpec, FieldType};
use crate::signature::{PresetKind, Registry};
use crate::span::{Span, Spanned};
use crate::spec::{Block, Budget, Constraint, Field, Value};
use crate::units::{Dim, Quantity};

pub(crate) fn lower_block(
    b: &ast::Block,
    registry: &dyn Registry,
    diags: &mut Diagnostics,
) -> Block {
    let (fields_schema, preset_kind) = match b.kind {
        BlockKind::Hardware => (schema::HARDWARE_FIELDS, PresetKind::Hardware),
        BlockKind::Corpus => (schema::CORPUS_FIELDS, PresetKind::Corpus),
        _ => (schema::WORKLOAD_FIELDS, PresetKind::Workload),
    };
    let preset = check_preset(b, preset_kind, registry, diags);
    let mut fields = Vec::new();
    let mut seen: HashMap<&str, Span> = HashMap::new();
    for entry in &b.entries {
        let Entry::Field { path, value } = entry else {
            misplaced(b.kind, entry, diags);
            continue;
        };
        if let Some(first) = seen.insert(&path.node, path.span) {
            diags.push(
                Diagnostic::error(Code::Duplicate, format!("`{}` is set twice", path.node))
                    .at(path.span, "set again here")
                    .also(first, "first set here"),
            );
            continue;
        }
        let Some(spec) = field_spec(b.kind, fields_schema, path, diags) else {
            continue;
        };
        match field_value(spec, &path.node, value) {
            Ok(v) => fields.push(Field {
                path: path.clone(),
                value: Spanned::new(v, value.span),
            }),
            Err(d) => diags.push(d),
        }
    }
    Block {
        name: b.name.clone(),
        preset,
        fields,
        span: b.span,
    }
}

/// A `corpus` block: its fields, and which combinations make sense (the
/// files themselves are the stdlib's to read).
pub(crate) fn lower_corpus(
    b: &ast::Block,
    registry: &dyn Registry,
    diags: &mut Diagnostics,
) -> Block {
    let block = lower_block(b, registry, diags);
    if let Some(p) = &block.preset {
        diags.push(
            Diagnostic::error(
                Code::Misplaced,
                "a corpus block names its files; it has no preset",
            )
            .at(p.span, "not allowed here")
            .help(format!(
                "use the bundled corpus as `corpus: \"{}\"` in `train`, or write `train = ...` and `valid = ...`",
                p.node
            )),
        );
    }
    for required in ["train", "valid"] {
        if block.field(required).is_none() {
            diags.push(
                Diagnostic::error(
                    Code::MissingField,
                    format!("corpus `{}` needs `{required}`", b.name.node),
                )
                .at(b.name.span, format!("no `{required}` file"))
                .help(format!("e.g. `{required} = \"data/{required}.bin\"`")),
            );
        }
    }
    let tokens = block.field("tokens");
    if let (Some(t), Some(k)) = (tokens, block.field("tokenizer")) {
        diags.push(
            Diagnostic::error(
                Code::Conflict,
                "`tokens` (pre-tokenized files) and `tokenizer` (text files) exclude each other",
            )
            .at(k.path.span, "text files")
            .also(t.path.span, "pre-tokenized files")
            .help("pre-tokenized files are already ids; drop `tokenizer`, or `tokens` if the files are text"),
        );
    }
    if let Some(t) = tokens {
        match block.field("vocab").map(|v| &v.value.node) {
            None => diags.push(
                Diagnostic::error(
                    Code::MissingField,
                    format!(
                        "corpus `{}` has pre-tokenized files but no `vocab`",
                        b.name.node
                    ),
                )
                .at(t.path.span, "token ids of an unknown vocabulary")
                .help("say how many ids the tokenizer has, e.g. `vocab = 50304`"),
            ),
            Some(Value::Quantity(q))
                if t.value.node == Value::Word("uint16".into()) && q.value > 65_536.0 =>
            {
                diags.push(
                    Diagnostic::error(
                        Code::OutOfRange,
                        format!("`vocab = {}` does not fit `uint16` token ids", q.value),
                    )
                    .at(t.value.span, "at most 65536 ids")
                    .help("write `tokens = uint32` if the files hold 32-bit ids"),
                );
            }
            Some(_) => {}
        }
    }
    block
}

pub(crate) fn lower_budget(
    b: &ast::Block,
    registry: &dyn Registry,
    diags: &mut Diagnostics,
) -> Budget {
    let preset = check_preset(b, PresetKind::Budget, registry, diags);
    let mut constraints = Vec::new();
    let mut confidence: Option<Spanned<f64>> = None;
    for entry in &b.entries {
        if let Entry::Field { path, value } = entry
            && path.node == CONFIDENCE
        {
            if let Some(first) = &confidence {
                diags.push(
                    Diagnostic::error(Code::Duplicate, "`confidence` is set twice")
                        .at(path.span, "set again here")
                        .also(first.span, "first set here"),
                );
                continue;
            }
            match budget_confidence(value) {
                Ok(c) => confidence = Some(Spanned::new(c, value.span)),
                Err(d) => diags.push(d),
            }
            continue;
        }
        let Entry::Constraint {
            path,
            op,
            value,
            span,
        } = entry
        else {
            misplaced(b.kind, entry, diags);
            continue;
        };
        let Some(&(_, dim)) = BUDGET_METRICS.iter().find(|(m, _)| *m == path.node) else {
            let d = Diagnostic::error(
                Code::UnknownField,
                format!("unknown budget metric `{}`", path.node),
            )
            .at(path.span, "not a metric");
            diags.push(suggest(
                d,
                &path.node,
                BUDGET_METRICS.iter().map(|(m, _)| *m),
            ));
            continue;
        };
        match quantity(value, dim, &format!("`{}`", path.node)) {
            Ok(q) => constraints.push(Constraint {
                metric: path.clone(),
                op: op.node,
                bound: Spanned::new(q, value.span),
                span: *span,
            }),
            Err(d) => diags.push(d),
        }
    }
    Budget {
        name: b.name.clone(),
        preset,
        constraints,
        confidence,
        span: b.span,
    }
}

/// The one field a budget block has besides its comparisons.
const CONFIDENCE: &str = "confidence";

/// `confidence = 0.9`: a probability strictly between 0 and 1 (at 0 or 1 a
/// band's end is the smallest or largest error ever seen, not a confidence).
fn budget_confidence(value: &Expr) -> Result<f64, Diagnostic> {
    let q = quantity(value, Dim::NONE, "`confidence`")?;
    if q.value > 0.0 && q.value < 1.0 {
        return Ok(q.value);
    }
    let help = if (50.0..100.0).contains(&q.value) {
        format!(
            "a probability, not a percentage: `confidence = {}`",
            q.value / 100.0
        )
    } else {
        "a probability such as `confidence = 0.9`: nine runs in ten meet the latency limits".into()
    };
    Err(Diagnostic::error(
        Code::OutOfRange,
        format!(
            "`confidence` is a probability between 0 and 1 (exclusive), got {}",
            q.value
        ),
    )
    .at(value.span, "not in (0, 1)")
    .help(help))
}

fn check_preset(
    b: &ast::Block,
    kind: PresetKind,
    registry: &dyn Registry,
    diags: &mut Diagnostics,
) -> Option<Spanned<String>> {
    let preset = b.preset.clone()?;
    // A hardware file is read (and checked) by the stdlib, which does IO.
    if kind == PresetKind::Hardware && crate::spec::is_file_name(&preset.node) {
        return Some(preset);
    }
    let known = registry.presets(kind);
    if !known.contains(&preset.node) {
        let d = Diagnostic::error(
            Code::UnknownPreset,
            format!("unknown {} preset `{}`", kind.noun(), preset.node),
        )
        .at(preset.span, "no such preset");
        let d = match did_you_mean(&preset.node, known.iter().map(String::as_str)) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None if known.is_empty() => d.help(format!(
                "there are no {} presets; write the fields in the block instead",
                kind.noun()
            )),
            None => d.help(format!(
                "`rooflaw presets` lists them: {}",
                known.join(", ")
            )),
        };
        diags.push(d);
    }
    Some(preset)
}

/// An entry of the wrong kind for its block, with the fix.
fn misplaced(kind: BlockKind, entry: &Entry, diags: &mut Diagnostics) {
    let (span, what) = match entry {
        Entry::Field { path, value } => (path.span.to(value.span), "a field `name = value`"),
        Entry::Tuple { span, .. } => (*span, "a tuple binding"),
        Entry::Let { name, value } => (name.span.to(value.span), "`let`"),
        Entry::Require(e) => (e.span, "`require`"),
        Entry::Constraint { span, .. } => (*span, "a comparison"),
    };
    let help = match (kind, entry) {
        (BlockKind::Budget, Entry::Field { path, .. }) => format!(
            "a budget bounds a metric: `{} <= ...`; its one field is `confidence = 0.9`",
            path.node
        ),
        (BlockKind::Budget, _) => {
            "a budget holds comparisons like `latency.total <= 100 ms`".into()
        }
        (_, Entry::Constraint { path, .. }) => format!("set the field with `{} = ...`", path.node),
        _ => "`let`, `require` and tuple bindings belong in a `space` block".into(),
    };
    diags.push(
        Diagnostic::error(
            Code::Misplaced,
            format!("{what} is not allowed in a {} block", kind.keyword()),
        )
        .at(span, "not allowed here")
        .help(help),
    );
}

fn field_spec<'a>(
    kind: BlockKind,
    fields: &'a [FieldSpec],
    path: &Spanned<String>,
    diags: &mut Diagnostics,
) -> Option<&'a FieldSpec> {
    if let Some(dtype) = path.node.strip_prefix("peak.")
        && kind == BlockKind::Hardware
        && !DTYPES.contains(&dtype)
    {
        let d = Diagnostic::error(
            Code::UnknownField,
            format!("unknown datatype `{dtype}` in `{}`", path.node),
        )
        .at(path.span, "not a datatype");
        diags.push(match did_you_mean(dtype, DTYPES.iter().copied()) {
            Some(s) => d.help(format!("did you mean `peak.{s}`?")),
            None => d.help(format!("datatypes are {}", DTYPES.join(", "))),
        });
        return None;
    }
    if let Some(spec) = schema::lookup(fields, &path.node) {
        return Some(spec);
    }
    let names: Vec<String> = fields
        .iter()
        .flat_map(|f| match f.path.strip_suffix('*') {
            Some(prefix) => DTYPES.iter().map(|d| format!("{prefix}{d}")).collect(),
            None => vec![f.path.to_string()],
        })
        .collect();
    let d = Diagnostic::error(
        Code::UnknownField,
        format!("unknown {} field `{}`", kind.keyword(), path.node),
    )
    .at(path.span, "not a field");
    diags.push(suggest(d, &path.node, names.iter().map(String::as_str)));
    None
}

fn suggest<'a>(
    d: Diagnostic,
    name: &str,
    names: impl Iterator<Item = &'a str> + Clone,
) -> Diagnostic {
    match did_you_mean(name, names.clone()) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(format!("known: {}", names.collect::<Vec<_>>().join(", "))),
    }
}

fn field_value(spec: &FieldSpec, path: &str, e: &Expr) -> Result<Value, Diagnostic> {
    let what = format!("`{path}`");
    let plain = |e: &Expr| -> Result<f64, Diagnostic> { Ok(quantity(e, Dim::NONE, &what)?.value) };
    match spec.ty {
        FieldType::Number(dim) => Ok(Value::Quantity(quantity(e, dim, &what)?)),
        FieldType::Count => {
            let v = plain(e)?;
            if v < 0.0 || v.fract() != 0.0 {
                return Err(Diagnostic::error(
                    Code::Type,
                    format!("{what} must be a whole number, found `{v}`"),
                )
                .at(e.span, "not a whole number"));
            }
            Ok(Value::Quantity(Quantity::plain(v)))
        }
        FieldType::Fraction => {
            let v = plain(e)?;
            if v <= 0.0 || v > 1.0 {
                return Err(Diagnostic::error(
                    Code::OutOfRange,
                    format!("{what} must be a fraction in (0, 1], found `{v}`"),
                )
                .at(e.span, "out of range")
                .help("efficiencies are fractions of peak: 0.7 means 70%"));
            }
            Ok(Value::Quantity(Quantity::plain(v)))
        }
        FieldType::Str => match &e.node {
            ExprKind::Str(s) => Ok(Value::Str(s.clone())),
            other => Err(Diagnostic::error(
                Code::Type,
                format!("{what} expects a string, found {}", other.describe()),
            )
            .at(e.span, "expected a string")),
        },
        FieldType::Name => match &e.node {
            ExprKind::Str(s) => Ok(Value::Str(s.clone())),
            ExprKind::Ident(w) => Ok(Value::Word(w.clone())),
            other => Err(Diagnostic::error(
                Code::Type,
                format!("{what} expects a name, found {}", other.describe()),
            )
            .at(e.span, "expected a word or a string")
            .help("names with dots or dashes are quoted: `runtime = \"llama.cpp\"`")),
        },
        FieldType::Choice(options) => match &e.node {
            ExprKind::Ident(w) if options.contains(&w.as_str()) => Ok(Value::Word(w.clone())),
            other => {
                let listed: Vec<String> = options.iter().map(|o| format!("`{o}`")).collect();
                let mut d = Diagnostic::error(
                    Code::Type,
                    format!(
                        "{what} expects one of {}, found {}",
                        listed.join(", "),
                        other.describe()
                    ),
                )
                .at(e.span, "not one of the choices");
                if let ExprKind::Ident(w) = other
                    && let Some(s) = crate::did_you_mean(w, options.iter().copied())
                {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                Err(d)
            }
        },
        FieldType::Precision => {
            let word = |e: &Expr| match &e.node {
                ExprKind::Ident(w) => Ok(Spanned::new(Value::Word(w.clone()), e.span)),
                other => Err(Diagnostic::error(
                    Code::Type,
                    format!(
                        "{what} expects a precision such as `fp16` or `w4a16kv8`, found {}",
                        other.describe()
                    ),
                )
                .at(e.span, "expected a precision word")),
            };
            match &e.node {
                ExprKind::List(items) if !items.is_empty() => Ok(Value::List(
                    items.iter().map(word).collect::<Result<_, _>>()?,
                )),
                _ => word(e).map(|w| w.node),
            }
        }
    }
}
