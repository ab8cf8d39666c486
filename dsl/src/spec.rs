//! The lowered, validated pipeline: what the engine and the stdlib consume.
//!
//! Names are resolved, units normalised to SI ([`Quantity`]), imports merged
//! (each node's span still points into its own file), stage arguments matched
//! to the parameters of the stage kind's [`Signature`](crate::Signature).
//! Nothing here needs the AST or pest.
use serde::{Deserialize, Serialize};

use crate::source::SourceMap;
use crate::span::{Name, Span, Spanned};
use crate::units::Quantity;

#[derive(Clone, Debug, Default)]
pub struct Spec {
    /// The pipeline file first, then its imports.
    pub sources: SourceMap,
    pub hardware: Vec<Block>,
    pub workloads: Vec<Block>,
    pub budgets: Vec<Budget>,
    pub spaces: Vec<Space>,
    /// `corpus` blocks: training data files (the stdlib reads them).
    pub corpora: Vec<Block>,
    /// In source order; the lowering has checked there is no cycle.
    pub stages: Vec<Stage>,
    pub reports: Vec<Report>,
    /// Where the pipeline may read and write; the caller sets it (the DSL
    /// does no IO) and the stages that touch files keep to it.
    pub project: Project,
}

/// A pipeline's project directory. With no root (a library user, a test),
/// paths are not confined.
#[derive(Clone, Debug, Default)]
pub struct Project {
    pub root: Option<std::path::PathBuf>,
    /// `--allow-outside-root`: the user accepts paths outside the root.
    pub allow_outside: bool,
}

impl Project {
    /// The root paths must stay inside, unless the user lifted the limit.
    pub fn confining_root(&self) -> Option<&std::path::Path> {
        self.root.as_deref().filter(|_| !self.allow_outside)
    }
}

impl Spec {
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name.node == name)
    }
    pub fn hardware(&self, name: &str) -> Option<&Block> {
        self.hardware.iter().find(|s| s.name.node == name)
    }
    pub fn workload(&self, name: &str) -> Option<&Block> {
        self.workloads.iter().find(|s| s.name.node == name)
    }
    pub fn budget(&self, name: &str) -> Option<&Budget> {
        self.budgets.iter().find(|s| s.name.node == name)
    }
    pub fn corpus(&self, name: &str) -> Option<&Block> {
        self.corpora.iter().find(|s| s.name.node == name)
    }
    pub fn space(&self, name: &str) -> Option<&Space> {
        self.spaces.iter().find(|s| s.name.node == name)
    }
}

/// A `hardware` or `workload` block: an optional preset and field overrides.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Block {
    pub name: Name,
    /// `hardware orin from "jetson-agx-orin-64gb" { ... }`
    pub preset: Option<Spanned<String>>,
    pub fields: Vec<Field>,
    #[serde(default)]
    pub span: Span,
}

impl Block {
    /// The user file a `hardware` block starts from (`from "my-board.yaml"`),
    /// as written (relative to the pipeline file), when its source names one
    /// rather than a preset. The DSL does no IO: the stdlib reads it.
    pub fn preset_file(&self) -> Option<&Spanned<String>> {
        self.preset.as_ref().filter(|p| is_file_name(&p.node))
    }

    pub fn field(&self, path: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.path.node == path)
    }
}

/// Whether a block's `from "..."` names a file: it ends in `.yaml`, `.yml`
/// or `.json` (no preset id does).
pub fn is_file_name(s: &str) -> bool {
    std::path::Path::new(s).extension().is_some_and(|e| {
        ["yaml", "yml", "json"]
            .iter()
            .any(|x| e.eq_ignore_ascii_case(x))
    })
}

/// Whether a model argument (`baseline: "..."`) names a model file, a
/// Hugging Face `config.json` or a GGUF file, rather than a preset.
pub fn is_model_file(s: &str) -> bool {
    std::path::Path::new(s)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json") || e.eq_ignore_ascii_case("gguf"))
}

/// `peak.fp16 = 42.5 TFLOPS`: a dotted path and a value, units normalised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Field {
    pub path: Name,
    pub value: Spanned<Value>,
}

/// A literal value after lowering.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Value {
    Quantity(Quantity),
    Str(String),
    Bool(bool),
    /// A bare word that is not a declared name: `fp16`, `total`, `latin_hypercube`.
    Word(String),
    List(Vec<Spanned<Value>>),
    Map(Vec<(Name, Spanned<Value>)>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    pub fn holds(self, a: f64, b: f64) -> bool {
        // The language's `==` on numbers is exact, as users write it
        // (`heads % kv_heads == 0`); its operands are integers in practice.
        #[allow(clippy::float_cmp)]
        match self {
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
        }
    }
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}

/// `budget car { latency.total <= 100 ms  memory <= 8 GiB  confidence = 0.9 }`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub name: Name,
    pub preset: Option<Spanned<String>>,
    pub constraints: Vec<Constraint>,
    /// `confidence = 0.9`: the latency limits must hold at this quantile
    /// of the prediction's error band, not at the prediction.
    #[serde(default)]
    pub confidence: Option<Spanned<f64>>,
    #[serde(default)]
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Constraint {
    /// One of the metrics in [`crate::schema::BUDGET_METRICS`], e.g. `latency.total`.
    pub metric: Name,
    pub op: CmpOp,
    pub bound: Spanned<Quantity>,
    #[serde(default)]
    pub span: Span,
}

/// A search space: fields in dependency order, then constraints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Space {
    pub name: Name,
    /// Topologically sorted: a field only refers to fields before it (or to
    /// builtins computed by the enumerator, which only `require` may use).
    pub fields: Vec<SpaceField>,
    pub requires: Vec<Spanned<Expr>>,
    #[serde(default)]
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpaceField {
    /// One name, or several for a tuple binding `(experts, top_k) = [...]`.
    pub names: Vec<Name>,
    pub value: Spanned<Expr>,
    /// `let` helpers are not architecture fields.
    pub helper: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    /// Integer division `//`.
    FloorDiv,
    Rem,
    Pow,
    Cmp(CmpOp),
    And,
    Or,
}

/// An expression in a space. Evaluating one yields a set of alternatives:
/// a list or range yields many, arithmetic on single values yields one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    Num(f64),
    Bool(bool),
    Var(String),
    Neg(Box<Spanned<Expr>>),
    Not(Box<Spanned<Expr>>),
    Bin(Box<Spanned<Expr>>, BinOp, Box<Spanned<Expr>>),
    /// `[a, b, lo .. hi step s]`: the union of its elements' alternatives.
    List(Vec<Spanned<Expr>>),
    /// `lo .. hi step s`, inclusive of `hi` when the steps land on it.
    Range {
        start: Box<Spanned<Expr>>,
        end: Box<Spanned<Expr>>,
        step: Option<Box<Spanned<Expr>>>,
    },
    /// `(8, 2)`: one alternative of a tuple binding.
    Tuple(Vec<Spanned<Expr>>),
    /// `min(a, b)`, `max`, `round`, `floor`, `ceil`, `log2`, `sqrt`.
    Call(Name, Vec<Spanned<Expr>>),
}

/// `stage NAME = KIND(args)` with args matched to the kind's signature.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub name: Name,
    pub kind: Name,
    /// In signature order, defaults not filled in (the stage kind does that).
    pub args: Vec<Arg>,
    #[serde(default)]
    pub span: Span,
}

impl Stage {
    pub fn arg(&self, param: &str) -> Option<&Arg> {
        self.args.iter().find(|a| a.param == param)
    }

    /// Names of the stages this one reads, in argument order.
    pub fn inputs(&self) -> Vec<&Name> {
        self.args.iter().flat_map(Arg::stage_refs).collect()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Arg {
    /// The parameter name from the signature (positional args are named here).
    pub param: String,
    pub value: Spanned<ArgValue>,
}

impl Arg {
    /// The stages this argument names, in the order written (lists and maps
    /// included): the edges of the stage DAG.
    pub fn stage_refs(&self) -> Vec<&Name> {
        fn walk<'a>(v: &'a ArgValue, out: &mut Vec<&'a Name>) {
            match v {
                ArgValue::Ref(RefKind::Stage, name) => out.push(name),
                ArgValue::List(items) => items.iter().for_each(|i| walk(&i.node, out)),
                ArgValue::Map(items) => items.iter().for_each(|(_, i)| walk(&i.node, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(&self.value.node, &mut out);
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RefKind {
    Stage,
    Hardware,
    Workload,
    Space,
    Budget,
    Corpus,
}

impl RefKind {
    pub fn keyword(self) -> &'static str {
        match self {
            RefKind::Stage => "stage",
            RefKind::Hardware => "hardware",
            RefKind::Workload => "workload",
            RefKind::Space => "space",
            RefKind::Budget => "budget",
            RefKind::Corpus => "corpus",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum ArgValue {
    /// A reference to a declaration; the name's span is where it was written.
    Ref(RefKind, Name),
    Quantity(Quantity),
    Str(String),
    Bool(bool),
    /// One of the options of an enum parameter.
    Enum(String),
    List(Vec<Spanned<ArgValue>>),
    Map(Vec<(Name, Spanned<ArgValue>)>),
    /// An expression over a candidate's fields (`fit(form: ...)`).
    Expr(Expr),
}

/// `report best, frontier to "out/orin"`
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub stages: Vec<Name>,
    pub dir: Spanned<String>,
    #[serde(default)]
    pub span: Span,
}
