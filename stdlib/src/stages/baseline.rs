//! `search(..., baseline: ...)`: the model a search is compared with, either
//! a model preset (`"qwen2.5-0.5b"`), a model file (`"config.json"`,
//! `"model.gguf"`, relative to the pipeline) or a shape written inline with
//! the field names of a `space`:
//!
//! ```text
//! baseline: { name: "qwen-tiny", layers: 3, width: 112, heads: 7, kv_heads: 1,
//!             ffn: 5.43, tied: 1, qkv_bias: 1, qk_norm: 0, vocab: 256 }
//! ```
//!
//! An inline shape is compiled as a one-candidate space, so its fields,
//! defaults and validity rules are exactly a space's (`ffn` is the ratio,
//! `heads` defaults to `width / 64`, ...), and a shape a space could hold is
//! the same architecture here.
//!
//! `baseline: ["qwen2.5-0.5b", { ... }]` compares with each of several.
use rooflaw_dsl::spec::{ArgValue, Expr, Space, SpaceField, Spec, Stage};
use rooflaw_dsl::{Code, Diagnostic, Name, Spanned, did_you_mean};
use serde_json::{Value, json};

use super::args;
use crate::space::{CompiledSpace, SPACE_FIELDS};

/// `[{ id, name, arch }, ...]`, one per baseline, in the order written
/// (empty when there is none).
pub(crate) fn resolve(stage: &Stage, spec: &Spec) -> Result<Value, Vec<Diagnostic>> {
    let Some(arg) = stage.arg("baseline") else {
        return Ok(json!([]));
    };
    let items: Vec<&Spanned<ArgValue>> = match &arg.value.node {
        ArgValue::List(items) => items.iter().collect(),
        _ => vec![&arg.value],
    };
    let mut out = Vec::new();
    let mut diags = Vec::new();
    for item in items {
        match one(item, stage, spec) {
            Ok(v) => out.push(v),
            Err(mut d) => diags.append(&mut d),
        }
    }
    if diags.is_empty() {
        Ok(Value::Array(out))
    } else {
        Err(diags)
    }
}

fn one(v: &Spanned<ArgValue>, stage: &Stage, spec: &Spec) -> Result<Value, Vec<Diagnostic>> {
    let span = v.span;
    match &v.node {
        ArgValue::Str(file) if rooflaw_dsl::spec::is_model_file(file) => {
            super::model_file::read(file, stage, spec, span)
        }
        ArgValue::Str(id) => {
            let m = crate::models::find(id).ok_or_else(|| {
                let ids = crate::models::ids();
                let mut d = Diagnostic::error(
                    Code::UnknownPreset,
                    format!("no model preset named `{id}`"),
                )
                .at(span, "unknown model");
                if let Some(s) = did_you_mean(id, ids.iter().copied()) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                vec![d]
            })?;
            Ok(json!({ "id": m.id, "name": m.name, "arch": args::json(&m.arch) }))
        }
        ArgValue::Map(kv) => inline(kv, span),
        _ => Err(vec![
            Diagnostic::error(
                Code::Type,
                "`baseline` is a model preset name, a map of architecture fields, or a list of them",
            )
            .at(span, "expected a string or a map"),
        ]),
    }
}

fn inline(
    kv: &[(Name, Spanned<ArgValue>)],
    span: rooflaw_dsl::Span,
) -> Result<Value, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut fields = Vec::new();
    let mut name = "baseline".to_string();
    for (key, v) in kv {
        if key.node == "name" {
            match &v.node {
                ArgValue::Str(s) => s.clone_into(&mut name),
                _ => diags.push(
                    Diagnostic::error(Code::Type, "the baseline's `name` is a string")
                        .at(v.span, "not a string"),
                ),
            }
            continue;
        }
        if !SPACE_FIELDS.contains(&key.node.as_str()) {
            let d = Diagnostic::error(
                Code::UnknownField,
                format!("`{}` is not an architecture field", key.node),
            )
            .at(key.span, "unknown field");
            diags.push(
                match did_you_mean(&key.node, SPACE_FIELDS.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!(
                        "fields are name, {} (as in a `space`)",
                        SPACE_FIELDS.join(", ")
                    )),
                },
            );
            continue;
        }
        let Some(value) = plain(v) else {
            diags.push(
                Diagnostic::error(Code::Type, format!("`{}` takes a plain number", key.node))
                    .at(v.span, "not a plain number"),
            );
            continue;
        };
        fields.push(SpaceField {
            names: vec![key.clone()],
            value: Spanned::new(Expr::Num(value), v.span),
            helper: false,
        });
    }
    diags.extend(missing_required(kv, span));
    if !diags.is_empty() {
        return Err(diags);
    }
    let space = Space {
        name: Spanned::new("baseline".into(), span),
        fields,
        requires: Vec::new(),
        span,
    };
    let compiled = CompiledSpace::compile(&space)?;
    let mut it = compiled.iter();
    if let Some(c) = it.next() {
        return Ok(json!({ "id": name, "name": name, "arch": args::json(&c.arch) }));
    }
    let why: Vec<String> = it.drops().invalid.keys().cloned().collect();
    Err(vec![
        Diagnostic::error(
            Code::InvalidArchitecture,
            format!(
                "this baseline is not a valid architecture: {}",
                why.join("; ")
            ),
        )
        .at(span, "this shape"),
    ])
}

/// A field's value as a space would hold it: a plain number, or a boolean
/// as 0 or 1.
fn plain(v: &Spanned<ArgValue>) -> Option<f64> {
    match &v.node {
        ArgValue::Quantity(q) if q.dim == rooflaw_dsl::Dim::NONE => Some(q.value),
        ArgValue::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// `layers` and `width` have no default, in a space or here.
fn missing_required(kv: &[(Name, Spanned<ArgValue>)], span: rooflaw_dsl::Span) -> Vec<Diagnostic> {
    ["layers", "width"]
        .into_iter()
        .filter(|f| !kv.iter().any(|(k, _)| k.node == *f))
        .map(|f| {
            Diagnostic::error(
                Code::MissingField,
                format!("the baseline shape needs `{f}`"),
            )
            .at(span, format!("add `{f}: ...`"))
        })
        .collect()
}
