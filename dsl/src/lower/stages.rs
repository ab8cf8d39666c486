//! `stage` calls matched against their kind's signature, `report`s, and the
//! check that stages form a DAG.
use std::collections::HashMap;

use super::Decls;
use super::space::to_expr;
use super::values::{const_num, quantity};
use crate::ast::{self, Expr, ExprKind};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::signature::{ParamType, PresetKind, Registry, Signature};
use crate::span::{Span, Spanned};
use crate::spec::{Arg, ArgValue, RefKind, Report, Stage};
use crate::units::{Dim, Quantity};

// Matching arguments to parameters is one walk with shared bookkeeping.
#[allow(clippy::too_many_lines)]
pub(crate) fn lower_stage(
    s: &ast::StageDecl,
    decls: &Decls,
    registry: &dyn Registry,
    diags: &mut Diagnostics,
) -> Option<Stage> {
    let Some(sig) = registry.signature(&s.kind.node) else {
        let d = Diagnostic::error(
            Code::UnknownKind,
            format!("unknown stage kind `{}`", s.kind.node),
        )
        .at(s.kind.span, "no such stage kind");
        let kinds = registry.kinds();
        diags.push(match did_you_mean(&s.kind.node, kinds.iter().copied()) {
            Some(k) => d.help(format!("did you mean `{k}`?")),
            None => d.help(format!("stage kinds are {}", kinds.join(", "))),
        });
        return None;
    };
    let mut given: HashMap<&str, Span> = HashMap::new();
    let mut args: Vec<(usize, Arg)> = Vec::new();
    let mut positional = sig.params.iter().enumerate().filter(|(_, p)| p.positional);
    let mut seen_named = false;
    for arg in &s.args {
        let (index, param) = match &arg.name {
            Some(n) => {
                seen_named = true;
                if let Some(found) = sig
                    .params
                    .iter()
                    .enumerate()
                    .find(|(_, p)| p.name == n.node)
                {
                    found
                } else {
                    diags.push(unknown_param(sig, &n.node, n.span));
                    continue;
                }
            }
            None if seen_named => {
                diags.push(
                    Diagnostic::error(
                        Code::ArgOrder,
                        "a positional argument cannot follow a named one",
                    )
                    .at(arg.value.span, "positional")
                    .help("name it, e.g. `key: value`, or move it before the named arguments"),
                );
                continue;
            }
            None => {
                if let Some(found) = positional.next() {
                    found
                } else {
                    let count = sig.params.iter().filter(|p| p.positional).count();
                    diags.push(
                        Diagnostic::error(
                            Code::TooManyArgs,
                            format!("`{}` takes {count} positional argument(s)", sig.kind),
                        )
                        .at(arg.value.span, "one too many")
                        .help(format!("parameters: {}", params_list(sig))),
                    );
                    continue;
                }
            }
        };
        let at = arg
            .name
            .as_ref()
            .map_or(arg.value.span, |n| n.span.to(arg.value.span));
        if let Some(first) = given.insert(param.name, at) {
            diags.push(
                Diagnostic::error(Code::Duplicate, format!("`{}` is given twice", param.name))
                    .at(at, "given again here")
                    .also(first, "first given here"),
            );
            continue;
        }
        match check(&arg.value, &param.ty, decls, registry, param.name) {
            Ok(v) => args.push((
                index,
                Arg {
                    param: param.name.to_string(),
                    value: v,
                },
            )),
            Err(d) => diags.push(d),
        }
    }
    for p in sig
        .params
        .iter()
        .filter(|p| p.required && !given.contains_key(p.name))
    {
        diags.push(
            Diagnostic::error(
                Code::MissingArg,
                format!("`{}` needs `{}`", sig.kind, p.name),
            )
            .at(s.call_span, format!("missing `{}`", p.name))
            .help(format!(
                "add `{}: ...` ({}): {}",
                p.name,
                p.ty.describe(),
                p.doc
            )),
        );
    }
    args.sort_by_key(|(i, _)| *i);
    Some(Stage {
        name: s.name.clone(),
        kind: s.kind.clone(),
        args: args.into_iter().map(|(_, a)| a).collect(),
        span: s.span,
    })
}

fn params_list(sig: &Signature) -> String {
    sig.params
        .iter()
        .map(|p| format!("`{}`", p.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_param(sig: &Signature, name: &str, span: Span) -> Diagnostic {
    let d = Diagnostic::error(
        Code::UnknownParam,
        format!("`{}` has no parameter `{name}`", sig.kind),
    )
    .at(span, "unknown parameter");
    match did_you_mean(name, sig.params.iter().map(|p| p.name)) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(format!("parameters: {}", params_list(sig))),
    }
}

fn ref_kind(ty: &ParamType) -> Option<RefKind> {
    Some(match ty {
        ParamType::Stage => RefKind::Stage,
        ParamType::Hardware => RefKind::Hardware,
        ParamType::Workload => RefKind::Workload,
        ParamType::Space => RefKind::Space,
        ParamType::Budget => RefKind::Budget,
        ParamType::Corpus => RefKind::Corpus,
        _ => return None,
    })
}

/// Whether `e` has the syntactic shape `ty` takes, so that of several
/// alternatives the error of the one the user evidently meant is shown.
fn shape_fits(e: &Expr, ty: &ParamType) -> bool {
    match (ty, &e.node) {
        (
            ParamType::Stage
            | ParamType::Hardware
            | ParamType::Workload
            | ParamType::Space
            | ParamType::Budget
            | ParamType::Corpus
            | ParamType::Enum(_),
            ExprKind::Ident(_),
        )
        | (ParamType::Number(_) | ParamType::Integer, ExprKind::Num { .. })
        | (ParamType::Str | ParamType::Preset(_), ExprKind::Str(_))
        | (ParamType::Bool, ExprKind::Bool(_))
        | (ParamType::List(_) | ParamType::OneOrMany(_), ExprKind::List(_))
        | (ParamType::Map, ExprKind::Map(_))
        | (ParamType::Expr, _) => true,
        (ParamType::OneOrMany(t), _) => shape_fits(e, t),
        (ParamType::Either(ts), _) => ts.iter().any(|t| shape_fits(e, t)),
        _ => false,
    }
}

// One arm per parameter type; splitting it would scatter the type rules.
#[allow(clippy::too_many_lines)]
fn check(
    e: &Expr,
    ty: &ParamType,
    decls: &Decls,
    registry: &dyn Registry,
    param: &str,
) -> Result<Spanned<ArgValue>, Diagnostic> {
    let what = format!("`{param}`");
    let mismatch = || {
        Diagnostic::error(
            Code::Type,
            format!(
                "{what} expects {}, found {}",
                ty.describe(),
                e.node.describe()
            ),
        )
        .at(e.span, format!("expected {}", ty.describe()))
    };
    let ok = |v: ArgValue| Ok(Spanned::new(v, e.span));
    if let Some(want) = ref_kind(ty) {
        let ExprKind::Ident(name) = &e.node else {
            return Err(mismatch());
        };
        return match decls.get(name) {
            Some((kind, _)) if kind == want => {
                ok(ArgValue::Ref(kind, Spanned::new(name.clone(), e.span)))
            }
            Some((kind, at)) => Err(Diagnostic::error(
                Code::Type,
                format!(
                    "`{name}` is a {}, but {what} expects {}",
                    kind.keyword(),
                    ty.describe()
                ),
            )
            .at(e.span, format!("a {}", kind.keyword()))
            .also(at, "declared here")
            .help(match decls.names_of(want).collect::<Vec<_>>() {
                v if v.is_empty() => format!("no {} is declared", want.keyword()),
                v => format!("declared {}s: {}", want.keyword(), v.join(", ")),
            })),
            None => Err(undefined(name, e.span, decls)),
        };
    }
    match ty {
        ParamType::Number(dim) => ok(ArgValue::Quantity(quantity(e, *dim, &what)?)),
        ParamType::Integer => {
            let q = quantity(e, Dim::NONE, &what)?;
            if q.value.fract() != 0.0 {
                return Err(Diagnostic::error(
                    Code::Type,
                    format!("{what} expects a whole number, found `{}`", q.value),
                )
                .at(e.span, "not a whole number"));
            }
            ok(ArgValue::Quantity(q))
        }
        ParamType::Str => match &e.node {
            ExprKind::Str(s) => ok(ArgValue::Str(s.clone())),
            _ => Err(mismatch()),
        },
        ParamType::Bool => match &e.node {
            ExprKind::Bool(b) => ok(ArgValue::Bool(*b)),
            _ => Err(mismatch()),
        },
        ParamType::Enum(options) => match &e.node {
            ExprKind::Ident(w) if options.contains(&w.as_str()) => ok(ArgValue::Enum(w.clone())),
            ExprKind::Ident(w) => {
                let d = Diagnostic::error(
                    Code::UnknownOption,
                    format!("`{w}` is not an option of {what}"),
                )
                .at(e.span, format!("expected {}", ty.describe()));
                Err(match did_you_mean(w, options.iter().copied()) {
                    Some(s) => d.help(format!("did you mean `{s}`?")),
                    None => d.help(format!("options: {}", options.join(", "))),
                })
            }
            _ => Err(mismatch()),
        },
        ParamType::Preset(kind) => match &e.node {
            ExprKind::Str(s) => {
                let known = registry.presets(*kind);
                // A model file is read (and checked) by the stdlib, which does IO.
                let file = *kind == PresetKind::Model && crate::spec::is_model_file(s);
                if file || known.contains(s) {
                    return ok(ArgValue::Str(s.clone()));
                }
                let d = Diagnostic::error(
                    Code::UnknownPreset,
                    format!("unknown {} preset `{s}`", kind.noun()),
                )
                .at(e.span, "no such preset");
                Err(match did_you_mean(s, known.iter().map(String::as_str)) {
                    Some(k) => d.help(format!("did you mean `{k}`?")),
                    None => d.help(format!("{} presets: {}", kind.noun(), known.join(", "))),
                })
            }
            _ => Err(mismatch()),
        },
        ParamType::Expr => {
            let mut inner = Diagnostics::default();
            let x = to_expr(e, &mut inner);
            match inner.0.into_iter().next() {
                Some(d) => Err(d),
                None => ok(ArgValue::Expr(x.node)),
            }
        }
        ParamType::List(t) => match &e.node {
            ExprKind::List(xs) => {
                let items = xs
                    .iter()
                    .map(|x| check(x, t, decls, registry, param))
                    .collect::<Result<_, _>>()?;
                ok(ArgValue::List(items))
            }
            _ => Err(mismatch()),
        },
        ParamType::OneOrMany(t) => match &e.node {
            ExprKind::List(xs) if !xs.is_empty() => {
                let items = xs
                    .iter()
                    .map(|x| check(x, t, decls, registry, param))
                    .collect::<Result<_, _>>()?;
                ok(ArgValue::List(items))
            }
            ExprKind::List(_) => Err(Diagnostic::error(
                Code::Type,
                format!("{what} needs at least one value"),
            )
            .at(e.span, "empty list")),
            _ => check(e, t, decls, registry, param),
        },
        ParamType::Either(ts) => {
            let mut first_fit = None;
            for t in ts {
                match check(e, t, decls, registry, param) {
                    Ok(v) => return Ok(v),
                    Err(d) if first_fit.is_none() && shape_fits(e, t) => first_fit = Some(d),
                    Err(_) => {}
                }
            }
            Err(first_fit.unwrap_or_else(mismatch))
        }
        ParamType::Map => match &e.node {
            ExprKind::Map(kv) => {
                // A key given twice is a typo whichever value the stage reads.
                for (i, (k, _)) in kv.iter().enumerate() {
                    if let Some((first, _)) = kv[..i].iter().find(|(f, _)| f.node == k.node) {
                        return Err(Diagnostic::error(
                            Code::Duplicate,
                            format!("`{}` is given twice in {what}", k.node),
                        )
                        .at(k.span, "given again here")
                        .also(first.span, "first given here"));
                    }
                }
                let items = kv
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), untyped(v, decls)?)))
                    .collect::<Result<_, Diagnostic>>()?;
                ok(ArgValue::Map(items))
            }
            _ => Err(mismatch()),
        },
        ParamType::Stage
        | ParamType::Hardware
        | ParamType::Workload
        | ParamType::Space
        | ParamType::Budget
        | ParamType::Corpus => Err(mismatch()),
    }
}

/// A map value has no declared type: names resolve to declarations when
/// there is one, else stay words for the stage to interpret.
fn untyped(e: &Expr, decls: &Decls) -> Result<Spanned<ArgValue>, Diagnostic> {
    let v = match &e.node {
        ExprKind::Num {
            unit: None, value, ..
        } => ArgValue::Quantity(Quantity::plain(*value)),
        ExprKind::Num { unit: Some(u), .. } => {
            let dim = crate::units::unit(&u.node).map_or(Dim::NONE, |u| u.dim);
            ArgValue::Quantity(quantity(e, dim, "this value")?)
        }
        ExprKind::Str(s) => ArgValue::Str(s.clone()),
        ExprKind::Bool(b) => ArgValue::Bool(*b),
        ExprKind::Ident(n) => match decls.get(n) {
            Some((kind, _)) => ArgValue::Ref(kind, Spanned::new(n.clone(), e.span)),
            None => ArgValue::Enum(n.clone()),
        },
        ExprKind::List(xs) => ArgValue::List(
            xs.iter()
                .map(|x| untyped(x, decls))
                .collect::<Result<_, _>>()?,
        ),
        ExprKind::Map(kv) => ArgValue::Map(
            kv.iter()
                .map(|(k, v)| Ok((k.clone(), untyped(v, decls)?)))
                .collect::<Result<_, Diagnostic>>()?,
        ),
        // `-1`, `2 * 64`: a constant, folded; `lo .. hi` (a coefficient's
        // bounds in `fit(coefs: ...)`) stays an expression for the stage
        // to read, since only the stage knows what its ends mean.
        ExprKind::Neg(_) | ExprKind::Bin(..) if const_num(e).is_some() => {
            ArgValue::Quantity(Quantity::plain(const_num(e).unwrap_or_default()))
        }
        ExprKind::Range { .. } => {
            let mut inner = Diagnostics::default();
            let x = to_expr(e, &mut inner);
            if let Some(d) = inner.0.into_iter().next() {
                return Err(d);
            }
            ArgValue::Expr(x.node)
        }
        _ => {
            return Err(Diagnostic::error(
                Code::Type,
                format!("{} is not allowed in a map", e.node.describe()),
            )
            .at(e.span, "expected a literal or a name"));
        }
    };
    Ok(Spanned::new(v, e.span))
}

fn undefined(name: &str, span: Span, decls: &Decls) -> Diagnostic {
    let d = Diagnostic::error(Code::Undefined, format!("`{name}` is not declared"))
        .at(span, "undefined");
    match did_you_mean(name, decls.names()) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help("declare it with `hardware`, `workload`, `budget`, `space` or `stage`, or import it with `use`"),
    }
}

pub(crate) fn lower_report(r: &ast::ReportDecl, decls: &Decls, diags: &mut Diagnostics) -> Report {
    for s in &r.stages {
        match decls.get(&s.node) {
            Some((RefKind::Stage, _)) => {}
            Some((kind, at)) => diags.push(
                Diagnostic::error(
                    Code::Type,
                    format!(
                        "`{}` is a {}, and only stages can be reported",
                        s.node,
                        kind.keyword()
                    ),
                )
                .at(s.span, "not a stage")
                .also(at, "declared here"),
            ),
            None => {
                let d =
                    Diagnostic::error(Code::Undefined, format!("no stage `{}` to report", s.node))
                        .at(s.span, "undefined");
                diags.push(
                    match did_you_mean(&s.node, decls.names_of(RefKind::Stage)) {
                        Some(k) => d.help(format!("did you mean `{k}`?")),
                        None => d,
                    },
                );
            }
        }
    }
    if r.dir.node.trim().is_empty() {
        diags.push(
            Diagnostic::error(Code::Type, "the report directory is empty")
                .at(r.dir.span, "empty")
                .help("write a directory, e.g. `to \"out/orin\"`"),
        );
    }
    Report {
        stages: r.stages.clone(),
        dir: r.dir.clone(),
        span: r.span,
    }
}

/// Stages must form a DAG. Each cycle is reported once, labelled on every
/// edge, so the user sees the whole loop.
pub(crate) fn check_cycles(stages: &[Stage], diags: &mut Diagnostics) {
    let index: HashMap<&str, usize> = stages
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.node.as_str(), i))
        .collect();
    let edges: Vec<Vec<(usize, Span)>> = stages
        .iter()
        .map(|s| {
            s.inputs()
                .iter()
                .filter_map(|n| index.get(n.node.as_str()).map(|j| (*j, n.span)))
                .collect()
        })
        .collect();
    // 0 unvisited, 1 on the stack, 2 done.
    let mut state = vec![0u8; stages.len()];
    for root in 0..stages.len() {
        if state[root] != 0 {
            continue;
        }
        // Iterative DFS: (node, next edge index).
        let mut stack: Vec<(usize, usize)> = vec![(root, 0)];
        state[root] = 1;
        while let Some(&mut (node, ref mut next)) = stack.last_mut() {
            if let Some(&(to, _)) = edges[node].get(*next) {
                *next += 1;
                match state[to] {
                    0 => {
                        state[to] = 1;
                        stack.push((to, 0));
                    }
                    1 => {
                        let from = stack.iter().position(|(n, _)| *n == to).unwrap_or(0);
                        let cycle: Vec<usize> = stack[from..].iter().map(|(n, _)| *n).collect();
                        diags.push(cycle_diagnostic(stages, &edges, &cycle));
                    }
                    _ => {}
                }
            } else {
                state[node] = 2;
                stack.pop();
            }
        }
    }
}

fn cycle_diagnostic(stages: &[Stage], edges: &[Vec<(usize, Span)>], cycle: &[usize]) -> Diagnostic {
    let name = |i: usize| stages[i].name.node.as_str();
    let message = if cycle.len() == 1 {
        format!("stage `{}` reads its own output", name(cycle[0]))
    } else {
        let mut chain: Vec<String> = cycle.iter().map(|i| format!("`{}`", name(*i))).collect();
        chain.push(chain[0].clone());
        format!("stages form a cycle: {}", chain.join(" → "))
    };
    let mut d = Diagnostic::error(Code::Cycle, message);
    for (k, &i) in cycle.iter().enumerate() {
        let next = cycle[(k + 1) % cycle.len()];
        let span = edges[i]
            .iter()
            .find(|(j, _)| *j == next)
            .map_or(stages[i].name.span, |(_, s)| *s);
        let msg = format!("`{}` reads `{}`", name(i), name(next));
        d = if k == 0 {
            d.at(span, msg)
        } else {
            d.also(span, msg)
        };
    }
    d.help("stages run in dependency order, so their references must not loop")
}
