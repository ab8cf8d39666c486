//! The `form:` and `coefs:` arguments of `fit`: a preset form by name, or a
//! custom form written in the pipeline file,
//!
//! ```text
//! fit(runs, form: e + a / params ** alpha + b / tokens ** beta,
//!     coefs: { e: 0 .. 10, a: 0 .. 1e4, alpha: 0 .. 2, b: 0 .. 1e4, beta: 0 .. 2 })
//! ```
//!
//! Every name in the expression is a law variable ([`Var`]) or a coefficient
//! declared in `coefs` with its bounds `lo .. hi`. Errors point at the name
//! or bound at fault; the law's own checks ([`CustomForm::new`]) run last.
use rooflaw_dsl::spec::{ArgValue, Expr, Stage};
use rooflaw_dsl::{Code, Diagnostic, Name, Spanned, did_you_mean};
use serde_json::Value;

use super::args;
use crate::law::{CoefSpec, CustomForm, Form, LawError, Var};

/// The preset forms `form:` names with a bare word.
pub(crate) const FORMS: &[&str] = &["sun2026", "chinchilla"];

/// The form as stage parameters: a preset's name, or the custom form (whose
/// spans the engine strips, so moving it in the file does not rerun the fit).
pub(crate) fn resolve(stage: &Stage) -> Result<Value, Vec<Diagnostic>> {
    let coefs = stage.arg("coefs");
    let expr = match args::value(stage, "form") {
        None | Some(ArgValue::Enum(_)) => {
            if let Some(c) = coefs {
                return Err(vec![
                    Diagnostic::error(
                        Code::InvalidArgument,
                        "`coefs` declares the coefficients of a custom form, but this fit uses a preset form",
                    )
                    .at(c.value.span, "not used")
                    .help("write the form as an expression, e.g. `form: e + a / params ** alpha`, or drop `coefs`"),
                ]);
            }
            return Ok(Value::from(
                args::string(stage, "form").unwrap_or("sun2026"),
            ));
        }
        Some(ArgValue::Expr(e)) => Spanned::new(e.clone(), args::span(stage, "form")),
        Some(_) => return Err(vec![args::missing(stage, "form")]),
    };
    let names = names_in(&expr);
    // A lone word that is neither a variable nor declared is a misspelt preset.
    if let (Expr::Var(w), None) = (&expr.node, coefs)
        && Var::from_name(w).is_none()
    {
        let d = Diagnostic::error(Code::UnknownOption, format!("unknown law form `{w}`"))
            .at(expr.span, "not a form");
        return Err(vec![match did_you_mean(w, FORMS.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None => d.help(format!(
                "forms are {}, or an expression over law variables and coefficients",
                FORMS.join(", ")
            )),
        }]);
    }
    let mut diags = Vec::new();
    let declared = match coefs.map(|a| &a.value) {
        Some(Spanned {
            node: ArgValue::Map(kv),
            ..
        }) => bounds(kv, &mut diags),
        Some(v) => {
            return Err(vec![
                Diagnostic::error(Code::Type, "`coefs` expects a map `{ NAME: LO .. HI }`")
                    .at(v.span, "not a map"),
            ]);
        }
        None => Vec::new(),
    };
    diags.extend(unknown_names(&names, &declared, coefs.is_none()));
    for (key, _) in &declared {
        if !names.iter().any(|n| n.node == key.node) {
            diags.push(
                Diagnostic::error(
                    Code::Unused,
                    format!("coefficient `{}` does not appear in the form", key.node),
                )
                .at(key.span, "declared here")
                .also(expr.span, "the form"),
            );
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    let coefs = declared.into_iter().map(|(_, c)| c).collect();
    let form = CustomForm::new(expr, coefs).map_err(|e| {
        let span = match &e {
            LawError::Custom { span: Some(s), .. } => *s,
            _ => args::span(stage, "form"),
        };
        vec![Diagnostic::error(Code::InvalidForm, e.to_string()).at(span, "here")]
    })?;
    Ok(args::json(&Form::Custom(form)))
}

/// The form that [`resolve`] wrote into the parameters.
pub(crate) fn form(params: &Value) -> Result<Form, String> {
    match params {
        Value::String(s) if s == "chinchilla" => Ok(Form::Chinchilla),
        Value::String(_) | Value::Null => Ok(Form::Sun2026),
        v => serde_json::from_value(v.clone()).map_err(|e| format!("corrupt custom form: {e}")),
    }
}

/// Every name the expression reads, with where it is written.
fn names_in(e: &Spanned<Expr>) -> Vec<Name> {
    fn walk(e: &Spanned<Expr>, out: &mut Vec<Name>) {
        match &e.node {
            Expr::Var(n) => out.push(Spanned::new(n.clone(), e.span)),
            Expr::Neg(x) | Expr::Not(x) => walk(x, out),
            Expr::Bin(a, _, b) => {
                walk(a, out);
                walk(b, out);
            }
            Expr::List(xs) | Expr::Tuple(xs) | Expr::Call(_, xs) => {
                for x in xs {
                    walk(x, out);
                }
            }
            Expr::Range { start, end, step } => {
                walk(start, out);
                walk(end, out);
                if let Some(s) = step {
                    walk(s, out);
                }
            }
            Expr::Num(_) | Expr::Bool(_) => {}
        }
    }
    let mut out = Vec::new();
    walk(e, &mut out);
    out
}

/// Names that are neither law variables nor declared: each reported once,
/// at its first use, with the closest variable or coefficient.
fn unknown_names(names: &[Name], declared: &[(Name, CoefSpec)], no_coefs: bool) -> Vec<Diagnostic> {
    let vars = Var::ALL.map(Var::name);
    let mut known: Vec<&str> = vars.to_vec();
    known.extend(declared.iter().map(|(k, _)| k.node.as_str()));
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for n in names {
        let name = n.node.as_str();
        if known.contains(&name) || seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let d = Diagnostic::error(
            Code::Undefined,
            format!("`{name}` is neither a law variable nor a declared coefficient"),
        )
        .at(n.span, "unknown name");
        out.push(match did_you_mean(name, known.iter().copied()) {
            Some(s) => d.help(format!("did you mean `{s}`?")),
            None if no_coefs => d.help(format!(
                "declare the form's coefficients with their bounds: `coefs: {{ {name}: LO .. HI }}`; \
                 law variables are {}",
                vars.join(", ")
            )),
            None => d.help(format!(
                "add `{name}: LO .. HI` to `coefs` if it is a coefficient; law variables are {}",
                vars.join(", ")
            )),
        });
    }
    out
}

/// `coefs: { e: 0 .. 10, alpha: 0 .. inf }`: each value a range of two
/// constants (`inf` or `-inf` for an open side), low below high. A declared
/// name with bad bounds is still returned (with NaN bounds) so that it counts
/// as declared, and each problem is reported once.
fn bounds(kv: &[(Name, Spanned<ArgValue>)], diags: &mut Vec<Diagnostic>) -> Vec<(Name, CoefSpec)> {
    let mut out: Vec<(Name, CoefSpec)> = Vec::new();
    for (key, v) in kv {
        let bad = |msg: String, label: &str| {
            Diagnostic::error(Code::InvalidBounds, msg)
                .at(v.span, label.to_string())
                .help(format!(
                    "write `{}: LO .. HI`, e.g. `{}: 0 .. 10` (`inf` for no upper bound)",
                    key.node, key.node
                ))
        };
        if Var::from_name(&key.node).is_some() {
            diags.push(
                Diagnostic::error(
                    Code::InvalidBounds,
                    format!("`{}` is a law variable, not a coefficient", key.node),
                )
                .at(key.span, "a law variable")
                .help("give the coefficient another name"),
            );
            continue;
        }
        // Declared, whatever its bounds: counts as known in the form.
        let placeholder = (key.clone(), CoefSpec::new(&key.node, f64::NAN, f64::NAN));
        let ArgValue::Expr(Expr::Range { start, end, step }) = &v.node else {
            out.push(placeholder);
            diags.push(bad(
                format!("coefficient `{}` needs bounds `LO .. HI`", key.node),
                "not a range",
            ));
            continue;
        };
        if let Some(s) = step {
            out.push(placeholder);
            diags.push(
                Diagnostic::error(Code::InvalidBounds, "bounds take no `step`")
                    .at(s.span, "remove this step"),
            );
            continue;
        }
        match (bound(start), bound(end)) {
            (Some(lo), Some(hi)) if lo < hi => {
                out.push((key.clone(), CoefSpec::new(&key.node, lo, hi)));
            }
            (Some(lo), Some(hi)) => {
                out.push(placeholder);
                diags.push(bad(
                    format!(
                        "coefficient `{}` has bounds {lo} .. {hi}: the low bound must be below the high one",
                        key.node
                    ),
                    "empty interval",
                ));
            }
            _ => {
                out.push(placeholder);
                diags.push(bad(
                    format!("the bounds of `{}` must be numbers (or `inf`)", key.node),
                    "not a number",
                ));
            }
        }
    }
    out
}

fn bound(e: &Spanned<Expr>) -> Option<f64> {
    match &e.node {
        Expr::Num(v) => Some(*v),
        Expr::Var(w) if w == "inf" => Some(f64::INFINITY),
        Expr::Neg(x) => bound(x).map(|v| -v),
        _ => None,
    }
}
