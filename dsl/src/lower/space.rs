//! `space` blocks: field names checked, references resolved, fields sorted
//! so each comes after what it uses, and the emptiness that can be seen
//! without enumerating reported.
use std::collections::{BTreeSet, HashMap};

use super::values::{const_num, is_boolean};
use crate::ast::{self, Entry, Expr, ExprKind};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::function::Function;
use crate::signature::Registry;
use crate::span::{Name, Span, Spanned};
use crate::spec::{self, Space, SpaceField};

// One pass per concern (bindings, references, requirements, order) reads
// better in sequence than split across helpers passing the same state.
#[allow(clippy::too_many_lines)]
pub(crate) fn lower_space(
    b: &ast::Block,
    registry: &dyn Registry,
    diags: &mut Diagnostics,
) -> Space {
    if let Some(p) = &b.preset {
        diags.push(
            Diagnostic::error(Code::Misplaced, "a space cannot start from a preset")
                .at(p.span, "not allowed here")
                .help("write the space's fields in the block"),
        );
    }
    let allowed = registry.space_fields();
    let builtins = registry.space_builtins();
    // Each binding: its names, value, whether it is a `let`, and its span.
    let mut fields: Vec<(Vec<Name>, &Expr, bool)> = Vec::new();
    let mut requires: Vec<&Expr> = Vec::new();
    let mut defined: HashMap<String, (usize, Span)> = HashMap::new();
    for entry in &b.entries {
        let (names, value, helper) = match entry {
            Entry::Field { path, value } => (vec![path.clone()], value, false),
            Entry::Tuple { names, value, .. } => (names.clone(), value, false),
            Entry::Let { name, value } => (vec![name.clone()], value, true),
            Entry::Require(e) => {
                requires.push(e);
                continue;
            }
            Entry::Constraint { span, .. } => {
                diags.push(
                    Diagnostic::error(
                        Code::Misplaced,
                        "a bare comparison is not allowed in a space block",
                    )
                    .at(*span, "not allowed here")
                    .help("constrain the space with `require`, e.g. `require width % heads == 0`"),
                );
                continue;
            }
        };
        let index = fields.len();
        let mut ok = true;
        for n in &names {
            if n.node.contains('.') {
                diags.push(
                    Diagnostic::error(
                        Code::UnknownField,
                        format!("space fields are plain names, not `{}`", n.node),
                    )
                    .at(n.span, "dotted name"),
                );
                ok = false;
                continue;
            }
            if helper && allowed.contains(&n.node.as_str()) {
                diags.push(
                    Diagnostic::error(
                        Code::HelperShadowsField,
                        format!("`{}` is an architecture field, not a helper", n.node),
                    )
                    .at(n.span, "a `let` would not change the model")
                    .help(format!(
                        "write `{} = ...` to set the field; a `let` of the same name would be \
                         seen by `require` while the model keeps its default",
                        n.node
                    )),
                );
                ok = false;
                continue;
            }
            if !helper && !allowed.contains(&n.node.as_str()) {
                let d = Diagnostic::error(
                    Code::UnknownField,
                    format!("unknown space field `{}`", n.node),
                )
                .at(n.span, "not an architecture field");
                let help = match did_you_mean(&n.node, allowed.iter().copied()) {
                    Some(s) => format!(
                        "did you mean `{s}`? For a helper variable, use `let {} = ...`",
                        n.node
                    ),
                    None => format!(
                        "use `let {} = ...` for a helper variable; fields are {}",
                        n.node,
                        allowed.join(", ")
                    ),
                };
                diags.push(d.help(help));
                ok = false;
            }
            if let Some((_, first)) = defined.get(n.node.as_str()) {
                diags.push(
                    Diagnostic::error(
                        Code::Duplicate,
                        format!("`{}` is defined twice in space `{}`", n.node, b.name.node),
                    )
                    .at(n.span, "defined again here")
                    .also(*first, "first defined here"),
                );
                ok = false;
            }
        }
        if !ok {
            continue;
        }
        for n in &names {
            defined.insert(n.node.clone(), (index, n.span));
        }
        check_shape(&names, value, diags);
        fields.push((names, value, helper));
    }

    // References: fields may use each other in any order; builtins only in `require`.
    let mut deps: Vec<Vec<(usize, Span)>> = vec![Vec::new(); fields.len()];
    let known: Vec<&str> = defined
        .keys()
        .map(String::as_str)
        .chain(builtins.iter().copied())
        .collect();
    for (i, (_, value, _)) in fields.iter().enumerate() {
        for (var, span) in vars(value) {
            if let Some((j, _)) = defined.get(var.as_str()) {
                deps[i].push((*j, span));
            } else if builtins.contains(&var.as_str()) {
                diags.push(
                    Diagnostic::error(
                        Code::BuiltinInField,
                        format!("`{var}` is only known after the fields are chosen"),
                    )
                    .at(span, "computed from the architecture")
                    .help(format!("use `{var}` in a `require` constraint instead")),
                );
            } else {
                diags.push(undefined(&var, span, &b.name.node, &known, allowed));
            }
        }
    }
    // A `require` also sees the fields the space leaves at their defaults,
    // with the values the model is built with.
    let known_in_require: Vec<&str> = known.iter().chain(allowed).copied().collect();
    for r in &requires {
        for (var, span) in vars(r) {
            if !defined.contains_key(var.as_str())
                && !builtins.contains(&var.as_str())
                && !allowed.contains(&var.as_str())
            {
                diags.push(undefined(
                    &var,
                    span,
                    &b.name.node,
                    &known_in_require,
                    allowed,
                ));
            }
        }
        if !is_boolean(r) {
            diags.push(
                Diagnostic::error(Code::Type, "`require` needs a condition")
                    .at(r.span, "not a comparison")
                    .help("compare values, e.g. `require width % heads == 0`"),
            );
        } else if vars(r).is_empty() && const_num(r) == Some(0.0) {
            diags.push(
                Diagnostic::error(
                    Code::EmptySpace,
                    "this requirement is always false, so the space is empty",
                )
                .at(r.span, "never holds"),
            );
        }
    }

    let mut order = topo_order(&fields, &deps, diags);
    // Fields left out by a cycle are still checked, so every error shows.
    let leftover: Vec<usize> = (0..fields.len()).filter(|i| !order.contains(i)).collect();
    order.extend(leftover);
    let fields = order
        .into_iter()
        .map(|i| {
            let (names, value, helper) = &fields[i];
            SpaceField {
                names: names.clone(),
                value: to_expr(value, diags),
                helper: *helper,
            }
        })
        .collect();
    let requires = requires.into_iter().map(|r| to_expr(r, diags)).collect();
    Space {
        name: b.name.clone(),
        fields,
        requires,
        span: b.span,
    }
}

fn undefined(var: &str, span: Span, space: &str, known: &[&str], fields: &[&str]) -> Diagnostic {
    let d = Diagnostic::error(
        Code::Undefined,
        format!("`{var}` is not defined in space `{space}`"),
    )
    .at(span, "undefined");
    if fields.contains(&var) {
        // A default is only known once the candidate is built; a `let` of
        // the same name would not be the model's.
        return d.help(format!(
            "`{var}` is left at its default here: set it with `{var} = ...` to use it in another field"
        ));
    }
    match did_you_mean(var, known.iter().copied()) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help(format!("define it in the space, e.g. `let {var} = ...`")),
    }
}

/// Variables an expression reads, with where.
fn vars(e: &Expr) -> Vec<(String, Span)> {
    fn walk(e: &Expr, out: &mut Vec<(String, Span)>) {
        match &e.node {
            ExprKind::Ident(v) => out.push((v.clone(), e.span)),
            ExprKind::List(xs) | ExprKind::Tuple(xs) | ExprKind::Call(_, xs) => {
                for x in xs {
                    walk(x, out);
                }
            }
            ExprKind::Map(kv) => kv.iter().for_each(|(_, x)| walk(x, out)),
            ExprKind::Range { start, end, step } => {
                walk(start, out);
                walk(end, out);
                if let Some(s) = step {
                    walk(s, out);
                }
            }
            ExprKind::Neg(x) | ExprKind::Not(x) => walk(x, out),
            ExprKind::Bin(a, _, b) => {
                walk(a, out);
                walk(b, out);
            }
            ExprKind::Num { .. } | ExprKind::Str(_) | ExprKind::Bool(_) | ExprKind::Error => {}
        }
    }
    let mut out = Vec::new();
    walk(e, &mut out);
    out
}

/// Static emptiness and tuple arity: an empty list, a range that holds no
/// value, a tuple of the wrong length.
fn check_shape(names: &[Name], value: &Expr, diags: &mut Diagnostics) {
    fn walk(e: &Expr, arity: usize, diags: &mut Diagnostics) {
        match &e.node {
            ExprKind::List(xs) if xs.is_empty() => diags.push(
                Diagnostic::error(
                    Code::EmptySpace,
                    "an empty list has no values, so the space is empty",
                )
                .at(e.span, "empty"),
            ),
            ExprKind::List(xs) => xs.iter().for_each(|x| walk(x, arity, diags)),
            ExprKind::Range { start, end, step } => {
                let step_v = step.as_deref().map_or(Some(1.0), const_num);
                if let Some(s) = step_v
                    && s <= 0.0
                {
                    let at = step.as_deref().map_or(e.span, |s| s.span);
                    diags.push(
                        Diagnostic::error(Code::EmptySpace, "a range's step must be positive")
                            .at(at, "not positive"),
                    );
                } else if let (Some(a), Some(b)) = (const_num(start), const_num(end))
                    && a > b
                {
                    diags.push(
                        Diagnostic::error(
                            Code::EmptySpace,
                            "this range is empty: its start is past its end",
                        )
                        .at(e.span, "holds no value")
                        .help("ranges count up and include their end: `4 .. 32 step 4`"),
                    );
                }
            }
            ExprKind::Tuple(xs) if arity > 1 && xs.len() != arity => diags.push(
                Diagnostic::error(
                    Code::TupleArity,
                    format!("expected a tuple of {arity} values, found {}", xs.len()),
                )
                .at(e.span, format!("{} values", xs.len())),
            ),
            _ if arity > 1 && !matches!(e.node, ExprKind::Tuple(_) | ExprKind::Error) => diags
                .push(
                    Diagnostic::error(
                        Code::TupleArity,
                        format!(
                            "expected a tuple of {arity} values, found {}",
                            e.node.describe()
                        ),
                    )
                    .at(e.span, "not a tuple"),
                ),
            _ => {}
        }
    }
    walk(value, names.len(), diags);
}

/// Source order, except that a field comes after the fields it reads.
/// Fields on a cycle are reported once per cycle and left out.
fn topo_order(
    fields: &[(Vec<Name>, &Expr, bool)],
    deps: &[Vec<(usize, Span)>],
    diags: &mut Diagnostics,
) -> Vec<usize> {
    let n = fields.len();
    let mut indegree: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut users: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, d) in deps.iter().enumerate() {
        for (j, _) in d {
            users[*j].push(i);
        }
    }
    let mut ready: BTreeSet<usize> = (0..n).filter(|i| indegree[*i] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(i) = ready.pop_first() {
        order.push(i);
        for &u in &users[i] {
            indegree[u] -= 1;
            if indegree[u] == 0 {
                ready.insert(u);
            }
        }
    }
    // What is left lies on or behind a cycle. Walk dependencies from the
    // first leftover until a field repeats: that loop is a cycle.
    let mut reported = vec![false; n];
    for start in 0..n {
        if indegree[start] == 0 || reported[start] {
            continue;
        }
        let mut path = vec![start];
        let mut cur = start;
        let cycle = loop {
            let Some(&(next, _)) = deps[cur].iter().find(|(j, _)| indegree[*j] > 0) else {
                break None;
            };
            if let Some(pos) = path.iter().position(|p| *p == next) {
                break Some(path[pos..].to_vec());
            }
            path.push(next);
            cur = next;
        };
        let Some(cycle) = cycle else { continue };
        if cycle.iter().any(|c| reported[*c]) {
            continue;
        }
        let name = |i: usize| {
            fields[i]
                .0
                .iter()
                .map(|n| n.node.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut chain: Vec<String> = cycle.iter().map(|i| format!("`{}`", name(*i))).collect();
        chain.push(chain[0].clone());
        let mut d = Diagnostic::error(
            Code::Cycle,
            format!("space fields depend on each other: {}", chain.join(" → ")),
        );
        for (k, &i) in cycle.iter().enumerate() {
            let next = cycle[(k + 1) % cycle.len()];
            let span = deps[i]
                .iter()
                .find(|(j, _)| *j == next)
                .map_or(fields[i].0[0].span, |(_, s)| *s);
            let msg = format!("`{}` uses `{}`", name(i), name(next));
            d = if k == 0 {
                d.at(span, msg)
            } else {
                d.also(span, msg)
            };
        }
        diags.push(d.help("break the cycle: compute one of them from the others only"));
        for c in cycle {
            reported[c] = true;
        }
    }
    order
}

/// The spec's expression form. Units and strings have no meaning in a
/// space, and calls must name a known function.
pub(crate) fn to_expr(e: &Expr, diags: &mut Diagnostics) -> Spanned<spec::Expr> {
    let node = match &e.node {
        ExprKind::Num {
            value, unit: None, ..
        } => spec::Expr::Num(*value),
        ExprKind::Num {
            value,
            unit: Some(u),
            ..
        } => {
            diags.push(
                Diagnostic::error(
                    Code::UnitInSpace,
                    format!("units are not allowed in a space, found `{}`", u.node),
                )
                .at(u.span, "remove this unit")
                .help("space fields are plain numbers: counts, widths, ratios"),
            );
            spec::Expr::Num(*value)
        }
        ExprKind::Bool(b) => spec::Expr::Bool(*b),
        ExprKind::Ident(v) => spec::Expr::Var(v.clone()),
        ExprKind::Neg(x) => spec::Expr::Neg(Box::new(to_expr(x, diags))),
        ExprKind::Not(x) => spec::Expr::Not(Box::new(to_expr(x, diags))),
        ExprKind::Bin(a, op, b) => spec::Expr::Bin(
            Box::new(to_expr(a, diags)),
            *op,
            Box::new(to_expr(b, diags)),
        ),
        ExprKind::List(xs) => spec::Expr::List(xs.iter().map(|x| to_expr(x, diags)).collect()),
        ExprKind::Tuple(xs) => spec::Expr::Tuple(xs.iter().map(|x| to_expr(x, diags)).collect()),
        ExprKind::Range { start, end, step } => spec::Expr::Range {
            start: Box::new(to_expr(start, diags)),
            end: Box::new(to_expr(end, diags)),
            step: step.as_deref().map(|s| Box::new(to_expr(s, diags))),
        },
        ExprKind::Call(name, args) => {
            match Function::from_name(&name.node) {
                None => {
                    let d = Diagnostic::error(
                        Code::UnknownFunction,
                        format!("unknown function `{}`", name.node),
                    )
                    .at(name.span, "not a function");
                    diags.push(match did_you_mean(&name.node, Function::names()) {
                        Some(s) => d.help(format!("did you mean `{s}`?")),
                        None => d.help(format!(
                            "functions are {}",
                            Function::names().collect::<Vec<_>>().join(", ")
                        )),
                    });
                }
                Some(f) if args.len() != f.arity() => {
                    diags.push(
                        Diagnostic::error(
                            Code::Arity,
                            format!(
                                "`{}` takes {} argument(s), found {}",
                                name.node,
                                f.arity(),
                                args.len()
                            ),
                        )
                        .at(e.span, "wrong number of arguments"),
                    );
                }
                Some(_) => {}
            }
            spec::Expr::Call(
                name.clone(),
                args.iter().map(|x| to_expr(x, diags)).collect(),
            )
        }
        ExprKind::Str(_) | ExprKind::Map(_) => {
            diags.push(
                Diagnostic::error(
                    Code::Type,
                    format!("{} has no meaning in a space", e.node.describe()),
                )
                .at(e.span, "expected numbers, lists or ranges"),
            );
            spec::Expr::Num(f64::NAN)
        }
        ExprKind::Error => spec::Expr::Num(f64::NAN),
    };
    Spanned::new(node, e.span)
}
