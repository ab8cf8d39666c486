//! The syntax tree: what the user wrote, with a span on every node. Nothing
//! is resolved or checked here; [`crate::lower`] does that.
use crate::span::{Name, Span, Spanned};
use crate::spec::{BinOp, CmpOp};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    /// `use "hardware/orin.pipeline"`
    Use(Spanned<String>),
    Block(Block),
    Stage(StageDecl),
    Report(ReportDecl),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockKind {
    Hardware,
    Workload,
    Budget,
    Space,
    Corpus,
}

impl BlockKind {
    pub fn keyword(self) -> &'static str {
        match self {
            BlockKind::Hardware => "hardware",
            BlockKind::Workload => "workload",
            BlockKind::Budget => "budget",
            BlockKind::Space => "space",
            BlockKind::Corpus => "corpus",
        }
    }
}

/// `KIND NAME [from "preset"] { entries }`. All four block kinds share one
/// syntax so that a misplaced entry (a `require` in a hardware block) is a
/// clear semantic error rather than a confusing syntax error.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub kind: BlockKind,
    pub name: Name,
    pub preset: Option<Spanned<String>>,
    pub entries: Vec<Entry>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Entry {
    /// `peak.fp16 = 42.5 TFLOPS`, `heads = width / 128`
    Field { path: Name, value: Expr },
    /// `(experts, top_k) = [(1, 1), (8, 2)]`
    Tuple {
        names: Vec<Name>,
        value: Expr,
        span: Span,
    },
    /// `let ratio = width / layers`
    Let { name: Name, value: Expr },
    /// `require width % heads == 0`
    Require(Expr),
    /// `latency.total <= 100 ms`
    Constraint {
        path: Name,
        op: Spanned<CmpOp>,
        value: Expr,
        span: Span,
    },
}

/// `stage NAME = KIND(args)`
#[derive(Clone, Debug, PartialEq)]
pub struct StageDecl {
    pub name: Name,
    pub kind: Name,
    pub args: Vec<Arg>,
    /// The `KIND(...)` call, where missing-argument errors point.
    pub call_span: Span,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// `Some` for `key: value`.
    pub name: Option<Name>,
    pub value: Expr,
}

/// `report a, b to "dir"`
#[derive(Clone, Debug, PartialEq)]
pub struct ReportDecl {
    pub stages: Vec<Name>,
    pub dir: Spanned<String>,
    pub span: Span,
}

pub type Expr = Spanned<ExprKind>;

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A number as written (`2.5k`) and its value with multipliers applied,
    /// and the unit word after it, if any.
    Num {
        text: String,
        value: f64,
        unit: Option<Name>,
    },
    Str(String),
    Bool(bool),
    Ident(String),
    List(Vec<Expr>),
    /// `(a, b)`; a parenthesised single expression is not a tuple.
    Tuple(Vec<Expr>),
    Map(Vec<(Name, Expr)>),
    Range {
        start: Box<Expr>,
        end: Box<Expr>,
        step: Option<Box<Expr>>,
    },
    Neg(Box<Expr>),
    Not(Box<Expr>),
    Bin(Box<Expr>, BinOp, Box<Expr>),
    Call(Name, Vec<Expr>),
    /// Stands in for an expression that could not be built (already reported).
    Error,
}

impl ExprKind {
    /// What the value looks like, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match self {
            ExprKind::Num { unit: Some(_), .. } => "a quantity with a unit",
            ExprKind::Num { .. } => "a number",
            ExprKind::Str(_) => "a string",
            ExprKind::Bool(_) => "a boolean",
            ExprKind::Ident(_) => "a name",
            ExprKind::List(_) => "a list",
            ExprKind::Tuple(_) => "a tuple",
            ExprKind::Map(_) => "a map",
            ExprKind::Range { .. } => "a range",
            ExprKind::Neg(_) | ExprKind::Not(_) | ExprKind::Bin(..) | ExprKind::Call(..) => {
                "an expression"
            }
            ExprKind::Error => "an invalid expression",
        }
    }
}
