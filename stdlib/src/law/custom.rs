//! A loss law written in the pipeline file: an expression over law variables
//! and named, bounded coefficients, e.g.
//! `e + a / params^alpha + b / tokens^beta`.
//!
//! The expression is resolved once (names to variables or coefficient
//! slots) into a small tree, then evaluated generically so that the same
//! code gives values (f64) and exact derivatives ([`Dual`]).
use rooflaw_dsl::Function;
use rooflaw_dsl::span::{Span, Spanned};
use rooflaw_dsl::spec::{BinOp, Expr};
use serde::{Deserialize, Serialize};

use super::LawError;
use super::dual::{Dual, Scalar};
use super::vars::{Var, Vars};

/// A named coefficient and the interval it must stay in. Infinite bounds are
/// allowed; the fitter maps the interval onto the real line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CoefSpec {
    pub name: String,
    pub lo: f64,
    pub hi: f64,
}

impl CoefSpec {
    pub fn new(name: &str, lo: f64, hi: f64) -> Self {
        Self {
            name: name.to_owned(),
            lo,
            hi,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CustomDef", into = "CustomDef")]
pub struct CustomForm {
    expr: Spanned<Expr>,
    coefficients: Vec<CoefSpec>,
    node: Node,
    vars: Vec<Var>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct CustomDef {
    expr: Spanned<Expr>,
    coefficients: Vec<CoefSpec>,
}

impl TryFrom<CustomDef> for CustomForm {
    type Error = LawError;
    fn try_from(d: CustomDef) -> Result<Self, LawError> {
        CustomForm::new(d.expr, d.coefficients)
    }
}

impl From<CustomForm> for CustomDef {
    fn from(c: CustomForm) -> Self {
        CustomDef {
            expr: c.expr,
            coefficients: c.coefficients,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Pow,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Num(f64),
    Var(Var),
    Coef(usize),
    Neg(Box<Node>),
    Bin(Box<Node>, Op, Box<Node>),
    Call(Function, Vec<Node>),
}

impl CustomForm {
    /// Resolves every name in `expr`: a coefficient, else a law variable,
    /// else an error pointing at the name.
    pub fn new(expr: Spanned<Expr>, coefficients: Vec<CoefSpec>) -> Result<Self, LawError> {
        for (i, c) in coefficients.iter().enumerate() {
            if Var::from_name(&c.name).is_some() {
                return Err(custom(
                    format!("coefficient `{}` has the name of a law variable", c.name),
                    expr.span,
                ));
            }
            if coefficients[..i].iter().any(|o| o.name == c.name) {
                return Err(custom(
                    format!("coefficient `{}` is declared twice", c.name),
                    expr.span,
                ));
            }
            if c.lo.is_nan() || c.hi.is_nan() || c.lo >= c.hi {
                return Err(custom(
                    format!(
                        "coefficient `{}` needs bounds lo < hi, got [{}, {}]",
                        c.name, c.lo, c.hi
                    ),
                    expr.span,
                ));
            }
        }
        let mut vars = Vec::new();
        let mut used = vec![false; coefficients.len()];
        let node = resolve(&expr, &coefficients, &mut vars, &mut used)?;
        if let Some(i) = used.iter().position(|u| !u) {
            return Err(custom(
                format!(
                    "coefficient `{}` does not appear in the expression",
                    coefficients[i].name
                ),
                expr.span,
            ));
        }
        Ok(Self {
            expr,
            coefficients,
            node,
            vars,
        })
    }

    pub fn coefficients(&self) -> &[CoefSpec] {
        &self.coefficients
    }

    pub fn expr(&self) -> &Spanned<Expr> {
        &self.expr
    }

    /// The law variables the expression reads, in order of first use.
    pub fn vars(&self) -> &[Var] {
        &self.vars
    }

    pub(crate) fn eval<T: Scalar>(&self, coef: &[T], vars: &Vars) -> T {
        eval(&self.node, coef, vars)
    }

    /// The value and its derivative with respect to coefficient `k`.
    pub(crate) fn eval_dual(
        &self,
        coef: &[f64],
        k: usize,
        vars: &Vars,
        buf: &mut Vec<Dual>,
    ) -> Dual {
        buf.clear();
        buf.extend(coef.iter().enumerate().map(|(i, &c)| Dual {
            v: c,
            d: f64::from(u8::from(i == k)),
        }));
        eval(&self.node, buf, vars)
    }
}

fn custom(message: String, span: Span) -> LawError {
    LawError::Custom {
        message,
        span: Some(span),
    }
}

fn resolve(
    e: &Spanned<Expr>,
    coefs: &[CoefSpec],
    vars: &mut Vec<Var>,
    used: &mut [bool],
) -> Result<Node, LawError> {
    let mut go = |x: &Spanned<Expr>| resolve(x, coefs, vars, used);
    Ok(match &e.node {
        Expr::Num(v) => Node::Num(*v),
        Expr::Var(name) => {
            if let Some(i) = coefs.iter().position(|c| &c.name == name) {
                used[i] = true;
                Node::Coef(i)
            } else if let Some(v) = Var::from_name(name) {
                if !vars.contains(&v) {
                    vars.push(v);
                }
                Node::Var(v)
            } else {
                let known: Vec<&str> = Var::ALL.iter().map(|v| v.name()).collect();
                return Err(custom(
                    format!(
                        "`{name}` is neither a declared coefficient nor a law variable ({})",
                        known.join(", ")
                    ),
                    e.span,
                ));
            }
        }
        Expr::Neg(x) => Node::Neg(Box::new(go(x)?)),
        Expr::Bin(a, op, b) => {
            let op = match op {
                BinOp::Add => Op::Add,
                BinOp::Sub => Op::Sub,
                BinOp::Mul => Op::Mul,
                BinOp::Div => Op::Div,
                BinOp::Pow => Op::Pow,
                BinOp::FloorDiv | BinOp::Rem | BinOp::Cmp(_) | BinOp::And | BinOp::Or => {
                    return Err(custom(
                        "a law expression may use + - * / ** only (no //, %, comparisons or logic)"
                            .into(),
                        e.span,
                    ));
                }
            };
            Node::Bin(Box::new(go(a)?), op, Box::new(go(b)?))
        }
        Expr::Call(name, args) => {
            let Some(f) = Function::from_name(&name.node) else {
                return Err(custom(
                    format!("unknown function `{}` in a law expression", name.node),
                    name.span,
                ));
            };
            let arity = f.arity();
            if args.len() != arity {
                return Err(custom(
                    format!(
                        "`{}` takes {arity} argument(s), got {}",
                        name.node,
                        args.len()
                    ),
                    e.span,
                ));
            }
            Node::Call(f, args.iter().map(&mut go).collect::<Result<_, _>>()?)
        }
        Expr::Bool(_) | Expr::Not(_) => {
            return Err(custom(
                "a law expression is numeric; booleans have no place in it".into(),
                e.span,
            ));
        }
        Expr::List(_) | Expr::Range { .. } | Expr::Tuple(_) => {
            return Err(custom(
                "a law expression yields one number, not a list or range".into(),
                e.span,
            ));
        }
    })
}

fn eval<T: Scalar>(n: &Node, coef: &[T], vars: &Vars) -> T {
    match n {
        Node::Num(v) => T::constant(*v),
        // Callers check that every variable is present; NaN makes a bug loud.
        Node::Var(v) => T::constant(vars.get(*v).unwrap_or(f64::NAN)),
        Node::Coef(i) => coef[*i],
        Node::Neg(x) => -eval(x, coef, vars),
        Node::Bin(a, op, b) => {
            let (a, b) = (eval(a, coef, vars), eval(b, coef, vars));
            match op {
                Op::Add => a + b,
                Op::Sub => a - b,
                Op::Mul => a * b,
                Op::Div => a / b,
                Op::Pow => a.powf(b),
            }
        }
        Node::Call(f, args) => {
            let x = eval(&args[0], coef, vars);
            match f {
                Function::Min | Function::Max => {
                    let y = eval(&args[1], coef, vars);
                    let pick_x = (x.value() <= y.value()) == (*f == Function::Min);
                    if pick_x { x } else { y }
                }
                Function::Round => x.map_const(f64::round),
                Function::Floor => x.map_const(f64::floor),
                Function::Ceil => x.map_const(f64::ceil),
                Function::Log2 => x.ln() / T::constant(std::f64::consts::LN_2),
                Function::Ln => x.ln(),
                Function::Exp => x.exp(),
                Function::Sqrt => x.sqrt(),
            }
        }
    }
}
