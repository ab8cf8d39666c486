//! Compiling a `space` block into a streaming enumerator of candidate
//! architectures.
//!
//! Each field's expression evaluates to a *set of alternatives* given the
//! values of the fields before it; candidates come out in odometer order over
//! the fields as written (the last field varies fastest). Only one
//! alternative list per field is alive at a time, so memory is O(fields)
//! however many candidates the space holds.
//!
//! Mapping to [`Architecture`] (defaults chosen here, the paper fixes none):
//! - `layers`, `width`: required.
//! - `heads`: default `width / 64` (head dim 64, as in most sub-2B models).
//! - `kv_heads`: default `heads` (no GQA).
//! - `head_dim`: default `width / heads`; then `heads` must divide `width`.
//! - `ffn`: the paper's FFN ratio r, the *total activated* expansion
//!   (r = K · `r_single`), so one expert's intermediate size is
//!   `round(r · width / top_k)`. Default 4, the conventional ratio the paper
//!   compares against. `ffn_size` gives one expert's intermediate size
//!   directly instead; a space may not set both.
//! - `experts` (default 1), `top_k` (default 1), `shared_experts` (default 0;
//!   a shared expert has the routed experts' intermediate size).
//! - `vocab`: default 32,000 (a Llama-2-sized vocabulary; the paper neither
//!   states one nor counts embeddings in its latency, so set it to the
//!   tokenizer you will train with).
//! - `tied` (default 0), `qk_norm` (default 1, the paper's training recipe),
//!   `gated` (default 1, `SwiGLU` as in the paper), `qkv_bias` (default 0;
//!   Qwen2's biases on the Q, K and V projections): 0 or 1.
//!
//! A candidate whose values do not make an architecture (a non-whole head
//! count, a division by zero, or one that breaks a rule of
//! [`Architecture::validate`] such as `kv_heads` not dividing `heads`) is
//! skipped and counted in [`Drops`] with its reason.
use std::collections::{BTreeMap, HashSet};

use rooflaw_dsl::diagnostic::did_you_mean;
use rooflaw_dsl::spec::{BinOp, Expr, Space};
use rooflaw_dsl::{Code, Diagnostic, Function, Span, Spanned};

use crate::arch::{ArchError, Architecture, Norm};

/// Architecture fields a space may bind.
pub const SPACE_FIELDS: &[&str] = &[
    "layers",
    "width",
    "heads",
    "kv_heads",
    "head_dim",
    "ffn",
    "ffn_size",
    "experts",
    "top_k",
    "shared_experts",
    "vocab",
    "tied",
    "qk_norm",
    "gated",
    "qkv_bias",
];

/// Values computed from a candidate's architecture, usable in `require` only.
pub const SPACE_BUILTINS: &[&str] = &[
    "params",
    "params_active",
    "params_non_embedding",
    "kv_dim",
    "gqa",
    "rho",
    "ffn_ratio",
];

/// Upper bound on one range's alternatives: a typo like `1 .. 1e12` should be
/// a clear drop reason, not an out-of-memory kill.
const MAX_RANGE_LEN: f64 = 10_000_000.0;

const DEFAULT_FFN_RATIO: f64 = 4.0;
const DEFAULT_HEAD_DIM: f64 = 64.0;
const DEFAULT_VOCAB: u32 = 32_000;

/// A value read from the finished architecture: a builtin, or a field the
/// space leaves at its default, so a `require` tests the number the model
/// is built with (`require heads % kv_heads == 0` without `heads` sees
/// `width / 64`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Builtin {
    Params,
    ParamsActive,
    ParamsNonEmbedding,
    KvDim,
    Gqa,
    Rho,
    FfnRatio,
    Layers,
    Width,
    Heads,
    KvHeads,
    HeadDim,
    /// The ratio, as the `ffn` field means it.
    Ffn,
    FfnSize,
    Experts,
    TopK,
    SharedExperts,
    Vocab,
    Tied,
    QkNorm,
    Gated,
    QkvBias,
}

impl Builtin {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "params" => Self::Params,
            "params_active" => Self::ParamsActive,
            "params_non_embedding" => Self::ParamsNonEmbedding,
            "kv_dim" => Self::KvDim,
            "gqa" => Self::Gqa,
            "rho" => Self::Rho,
            "ffn_ratio" => Self::FfnRatio,
            _ => return Self::field(name),
        })
    }

    /// A space field's value as the architecture has it.
    fn field(name: &str) -> Option<Self> {
        Some(match name {
            "layers" => Self::Layers,
            "width" => Self::Width,
            "heads" => Self::Heads,
            "kv_heads" => Self::KvHeads,
            "head_dim" => Self::HeadDim,
            "ffn" => Self::Ffn,
            "ffn_size" => Self::FfnSize,
            "experts" => Self::Experts,
            "top_k" => Self::TopK,
            "shared_experts" => Self::SharedExperts,
            "vocab" => Self::Vocab,
            "tied" => Self::Tied,
            "qk_norm" => Self::QkNorm,
            "gated" => Self::Gated,
            "qkv_bias" => Self::QkvBias,
            _ => return None,
        })
    }

    fn value(self, a: &Architecture) -> f64 {
        match self {
            Self::Params => a.params_total() as f64,
            Self::ParamsActive => a.params_active() as f64,
            Self::ParamsNonEmbedding => a.params_non_embedding() as f64,
            Self::KvDim => a.kv_dim() as f64,
            Self::Gqa => a.gqa(),
            Self::Rho => a.rho(),
            Self::FfnRatio | Self::Ffn => a.ffn_ratio(),
            Self::Layers => f64::from(a.layers),
            Self::Width => f64::from(a.width),
            Self::Heads => f64::from(a.heads),
            Self::KvHeads => f64::from(a.kv_heads),
            Self::HeadDim => f64::from(a.head_dim),
            Self::FfnSize => f64::from(a.ffn),
            Self::Experts => f64::from(a.experts),
            Self::TopK => f64::from(a.top_k),
            Self::SharedExperts => f64::from(a.shared_experts),
            Self::Vocab => f64::from(a.vocab),
            Self::Tied => bool_num(a.tied_embeddings),
            Self::QkNorm => bool_num(a.qk_norm),
            Self::Gated => bool_num(a.gated),
            Self::QkvBias => bool_num(a.qkv_bias),
        }
    }
}

/// An expression with names resolved to slots.
#[derive(Clone, Debug)]
enum CExpr {
    Num(f64),
    Slot(usize),
    Builtin(Builtin),
    Neg(Box<CExpr>),
    Not(Box<CExpr>),
    Bin(Box<CExpr>, BinOp, Box<CExpr>),
    List(Vec<CExpr>),
    Range(Box<CExpr>, Box<CExpr>, Option<Box<CExpr>>),
    Tuple(Vec<CExpr>),
    Call(Function, Vec<CExpr>),
}

/// Why a candidate (or every candidate below a prefix of field values) was
/// skipped.
type Reason = String;

fn truthy(v: f64) -> bool {
    v != 0.0
}

fn bool_num(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

fn apply_bin(a: f64, op: BinOp, b: f64) -> Result<f64, Reason> {
    let v = match op {
        BinOp::Add => a + b,
        BinOp::Sub => a - b,
        BinOp::Mul => a * b,
        BinOp::Div | BinOp::FloorDiv | BinOp::Rem if b == 0.0 => {
            return Err("division by zero".into());
        }
        BinOp::Div => a / b,
        BinOp::FloorDiv => (a / b).floor(),
        BinOp::Rem => a.rem_euclid(b),
        BinOp::Pow => a.powf(b),
        BinOp::Cmp(c) => bool_num(c.holds(a, b)),
        BinOp::And => bool_num(truthy(a) && truthy(b)),
        BinOp::Or => bool_num(truthy(a) || truthy(b)),
    };
    if v.is_finite() {
        Ok(v)
    } else {
        Err("a non-finite intermediate value".into())
    }
}

fn apply_call(f: Function, args: &[f64]) -> Result<f64, Reason> {
    let v = f.apply(args);
    if v.is_finite() {
        Ok(v)
    } else {
        Err("a non-finite intermediate value".into())
    }
}

/// The values an expression can see: slot values so far, and the candidate's
/// architecture once it exists (for builtins in `require`).
struct Env<'a> {
    slots: &'a [f64],
    arch: Option<&'a Architecture>,
}

impl CExpr {
    /// True when the expression yields exactly one alternative whatever the
    /// environment, so the allocation-free [`CExpr::scalar`] applies.
    fn is_single(&self) -> bool {
        match self {
            CExpr::Num(_) | CExpr::Slot(_) | CExpr::Builtin(_) => true,
            CExpr::Neg(e) | CExpr::Not(e) => e.is_single(),
            CExpr::Bin(a, _, b) => a.is_single() && b.is_single(),
            CExpr::Call(_, args) => args.iter().all(CExpr::is_single),
            CExpr::List(_) | CExpr::Range(..) | CExpr::Tuple(_) => false,
        }
    }

    fn scalar(&self, env: &Env) -> Result<f64, Reason> {
        match self {
            CExpr::Num(v) => Ok(*v),
            CExpr::Slot(i) => Ok(env.slots[*i]),
            CExpr::Builtin(b) => env
                .arch
                .map(|a| b.value(a))
                .ok_or_else(|| "a builtin used before the architecture exists".into()),
            CExpr::Neg(e) => Ok(-e.scalar(env)?),
            CExpr::Not(e) => Ok(bool_num(!truthy(e.scalar(env)?))),
            CExpr::Bin(a, op, b) => apply_bin(a.scalar(env)?, *op, b.scalar(env)?),
            CExpr::Call(f, args) => {
                let mut v = [0.0; 2];
                for (slot, a) in v.iter_mut().zip(args) {
                    *slot = a.scalar(env)?;
                }
                apply_call(*f, &v[..args.len()])
            }
            CExpr::List(_) | CExpr::Range(..) | CExpr::Tuple(_) => {
                let mut out = Vec::new();
                self.alternatives(env, &mut out)?;
                match out.as_slice() {
                    [v] => Ok(*v),
                    _ => Err("a list where one value is needed".into()),
                }
            }
        }
    }

    /// Append this expression's alternatives to `out`, flattened (a tuple of
    /// arity k appends k values per alternative). Duplicates are not removed
    /// here; [`dedup`] does that once per field.
    fn alternatives(&self, env: &Env, out: &mut Vec<f64>) -> Result<(), Reason> {
        if self.is_single() {
            out.push(self.scalar(env)?);
            return Ok(());
        }
        match self {
            CExpr::Neg(e) | CExpr::Not(e) => {
                let start = out.len();
                e.alternatives(env, out)?;
                let not = matches!(self, CExpr::Not(_));
                for v in &mut out[start..] {
                    *v = if not { bool_num(!truthy(*v)) } else { -*v };
                }
            }
            CExpr::Bin(a, op, b) => {
                let (mut xs, mut ys) = (Vec::new(), Vec::new());
                a.alternatives(env, &mut xs)?;
                b.alternatives(env, &mut ys)?;
                for &x in &xs {
                    for &y in &ys {
                        out.push(apply_bin(x, *op, y)?);
                    }
                }
            }
            CExpr::Call(f, args) => {
                let mut lists = Vec::with_capacity(args.len());
                for a in args {
                    let mut v = Vec::new();
                    a.alternatives(env, &mut v)?;
                    lists.push(v);
                }
                match lists.as_slice() {
                    [xs] => {
                        for &x in xs {
                            out.push(apply_call(*f, &[x])?);
                        }
                    }
                    [xs, ys] => {
                        for &x in xs {
                            for &y in ys {
                                out.push(apply_call(*f, &[x, y])?);
                            }
                        }
                    }
                    _ => return Err("a call with the wrong number of arguments".into()),
                }
            }
            CExpr::List(items) => {
                for i in items {
                    i.alternatives(env, out)?;
                }
            }
            CExpr::Range(start, end, step) => {
                let lo = start.scalar(env)?;
                let hi = end.scalar(env)?;
                let step = match step {
                    Some(s) => s.scalar(env)?,
                    None => 1.0,
                };
                if step <= 0.0 {
                    return Err(format!("a range step of {step} (it must be positive)"));
                }
                let n = ((hi - lo) / step + 1e-9).floor();
                if n > MAX_RANGE_LEN {
                    return Err(format!("a range of more than {MAX_RANGE_LEN} values"));
                }
                if n >= 0.0 {
                    for k in 0..=(n as u64) {
                        out.push(lo + step * k as f64);
                    }
                }
            }
            CExpr::Tuple(items) => {
                // The Cartesian product of the elements, in element order.
                let mut acc: Vec<Vec<f64>> = vec![Vec::new()];
                for i in items {
                    let mut vs = Vec::new();
                    i.alternatives(env, &mut vs)?;
                    acc = acc
                        .iter()
                        .flat_map(|p| {
                            vs.iter().map(move |&v| {
                                let mut q = p.clone();
                                q.push(v);
                                q
                            })
                        })
                        .collect();
                }
                out.extend(acc.into_iter().flatten());
            }
            CExpr::Num(_) | CExpr::Slot(_) | CExpr::Builtin(_) => unreachable!("single"),
        }
        Ok(())
    }
}

/// Remove repeated alternatives of arity `k`, keeping first occurrences.
/// Hashing keeps a long range linear; `-0.0` and `0.0` count as equal.
fn dedup(vals: &mut Vec<f64>, k: usize) {
    let n = vals.len() / k;
    if n < 2 {
        return;
    }
    let bits = |v: &f64| if *v == 0.0 { 0 } else { v.to_bits() };
    let mut keep: Vec<f64> = Vec::with_capacity(vals.len());
    if n <= 16 {
        // Short lists (the common case, re-evaluated per outer prefix): a
        // scan beats hashing.
        for alt in vals.chunks_exact(k) {
            if !keep
                .chunks_exact(k)
                .any(|c| c.iter().map(bits).eq(alt.iter().map(bits)))
            {
                keep.extend_from_slice(alt);
            }
        }
    } else if k == 1 {
        let mut seen: HashSet<u64> = HashSet::with_capacity(n);
        keep.extend(vals.iter().filter(|v| seen.insert(bits(v))));
    } else {
        let mut seen: HashSet<Vec<u64>> = HashSet::with_capacity(n);
        for alt in vals.chunks_exact(k) {
            if seen.insert(alt.iter().map(bits).collect()) {
                keep.extend_from_slice(alt);
            }
        }
    }
    *vals = keep;
}

/// One field of the compiled space: the slots it binds and its expression.
#[derive(Clone, Debug)]
struct Level {
    first_slot: usize,
    arity: usize,
    expr: CExpr,
    span: Span,
}

/// How a space field maps onto the architecture: a slot or the default.
#[derive(Clone, Debug, Default)]
struct ArchSlots {
    layers: Option<usize>,
    width: Option<usize>,
    heads: Option<usize>,
    kv_heads: Option<usize>,
    head_dim: Option<usize>,
    ffn: Option<usize>,
    ffn_size: Option<usize>,
    experts: Option<usize>,
    top_k: Option<usize>,
    shared_experts: Option<usize>,
    vocab: Option<usize>,
    tied: Option<usize>,
    qk_norm: Option<usize>,
    gated: Option<usize>,
    qkv_bias: Option<usize>,
}

impl ArchSlots {
    fn slot_mut(&mut self, name: &str) -> Option<&mut Option<usize>> {
        Some(match name {
            "layers" => &mut self.layers,
            "width" => &mut self.width,
            "heads" => &mut self.heads,
            "kv_heads" => &mut self.kv_heads,
            "head_dim" => &mut self.head_dim,
            "ffn" => &mut self.ffn,
            "ffn_size" => &mut self.ffn_size,
            "experts" => &mut self.experts,
            "top_k" => &mut self.top_k,
            "shared_experts" => &mut self.shared_experts,
            "vocab" => &mut self.vocab,
            "tied" => &mut self.tied,
            "qk_norm" => &mut self.qk_norm,
            "gated" => &mut self.gated,
            "qkv_bias" => &mut self.qkv_bias,
            _ => return None,
        })
    }
}

/// A candidate architecture and the space values it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    pub arch: Architecture,
    /// One value per slot, in [`CompiledSpace::names`] order (helpers too).
    pub values: Vec<f64>,
}

impl Candidate {
    /// A hashable identity: the bit patterns of the slot values.
    pub fn key(&self) -> Vec<u64> {
        self.values.iter().map(|v| v.to_bits()).collect()
    }
}

/// Candidates skipped, by reason. A failure while evaluating a field (say
/// `heads = width / 0`) skips every candidate below that prefix of values
/// and counts once, since the subtree is never expanded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Drops {
    /// Invalid architectures and evaluation failures, keyed by message.
    pub invalid: BTreeMap<String, u64>,
    /// Candidates each `require` rejected (the first failing one counts).
    pub required: Vec<u64>,
}

impl Drops {
    pub fn total_invalid(&self) -> u64 {
        self.invalid.values().sum()
    }

    pub fn total_required(&self) -> u64 {
        self.required.iter().sum()
    }

    pub fn merge(&mut self, other: &Drops) {
        for (k, v) in &other.invalid {
            *self.invalid.entry(k.clone()).or_default() += v;
        }
        if self.required.len() < other.required.len() {
            self.required.resize(other.required.len(), 0);
        }
        for (a, b) in self.required.iter_mut().zip(&other.required) {
            *a += b;
        }
    }

    fn invalid(&mut self, reason: Reason) {
        *self.invalid.entry(reason).or_default() += 1;
    }
}

/// A space ready to enumerate.
#[derive(Clone, Debug)]
pub struct CompiledSpace {
    name: String,
    names: Vec<String>,
    helper: Vec<bool>,
    levels: Vec<Level>,
    requires: Vec<(CExpr, Span)>,
    slots: ArchSlots,
}

fn err(span: Span, msg: impl Into<String>, label: impl Into<String>) -> Diagnostic {
    Diagnostic::error(Code::Space, msg).at(span, label)
}

struct Resolver<'a> {
    known: &'a BTreeMap<String, usize>,
    allow_builtins: bool,
    diags: Vec<Diagnostic>,
}

impl Resolver<'_> {
    /// Resolve names and check arities; returns the compiled expression and
    /// its arity (1 for scalars, n for an n-tuple).
    // One arm per expression kind reads better than arms split across helpers.
    #[allow(clippy::too_many_lines)]
    fn expr(&mut self, e: &Spanned<Expr>) -> (CExpr, usize) {
        let scalar = |r: &mut Self, x: &Spanned<Expr>| -> CExpr {
            let (c, k) = r.expr(x);
            if k != 1 {
                r.diags.push(err(
                    x.span,
                    "a tuple cannot be used here",
                    "expected a single value",
                ));
            }
            c
        };
        match &e.node {
            Expr::Num(v) => (CExpr::Num(*v), 1),
            Expr::Bool(b) => (CExpr::Num(bool_num(*b)), 1),
            Expr::Var(name) => {
                if let Some(&slot) = self.known.get(name.as_str()) {
                    return (CExpr::Slot(slot), 1);
                }
                if let Some(b) = Builtin::from_name(name) {
                    if self.allow_builtins {
                        return (CExpr::Builtin(b), 1);
                    }
                    if Builtin::field(name).is_some() {
                        self.diags.push(
                            err(
                                e.span,
                                format!("`{name}` is not set in this space"),
                                "left at its default",
                            )
                            .help(format!(
                                "its default comes from the finished candidate: set `{name} = ...` \
                                 to use it in another field, or test it in a `require`"
                            )),
                        );
                        return (CExpr::Num(0.0), 1);
                    }
                    self.diags.push(
                        err(
                            e.span,
                            format!("`{name}` is only available in `require`"),
                            "builtin",
                        )
                        .help(
                            "builtins are computed from the finished candidate, after every field",
                        ),
                    );
                    return (CExpr::Num(0.0), 1);
                }
                let mut names: Vec<&str> = self.known.keys().map(String::as_str).collect();
                if self.allow_builtins {
                    names.extend_from_slice(SPACE_BUILTINS);
                    names.extend_from_slice(SPACE_FIELDS);
                }
                let mut d = err(
                    e.span,
                    format!("unknown name `{name}`"),
                    "not defined before this point",
                );
                if let Some(s) = did_you_mean(name, names) {
                    d = d.help(format!("did you mean `{s}`?"));
                }
                self.diags.push(d);
                (CExpr::Num(0.0), 1)
            }
            Expr::Neg(x) => (CExpr::Neg(Box::new(scalar(self, x))), 1),
            Expr::Not(x) => (CExpr::Not(Box::new(scalar(self, x))), 1),
            Expr::Bin(a, op, b) => {
                let a = scalar(self, a);
                let b = scalar(self, b);
                (CExpr::Bin(Box::new(a), *op, Box::new(b)), 1)
            }
            Expr::List(items) => {
                let mut arity = None;
                let mut out = Vec::with_capacity(items.len());
                for i in items {
                    let (c, k) = self.expr(i);
                    match arity {
                        None => arity = Some(k),
                        Some(a) if a != k => self.diags.push(err(
                            i.span,
                            "list elements have different tuple sizes",
                            format!("has {k} values, earlier elements {a}"),
                        )),
                        Some(_) => {}
                    }
                    out.push(c);
                }
                (CExpr::List(out), arity.unwrap_or(1))
            }
            Expr::Range { start, end, step } => {
                let s = scalar(self, start);
                let t = scalar(self, end);
                let st = step.as_ref().map(|x| Box::new(scalar(self, x)));
                (CExpr::Range(Box::new(s), Box::new(t), st), 1)
            }
            Expr::Tuple(items) => {
                let out: Vec<CExpr> = items.iter().map(|i| scalar(self, i)).collect();
                let k = out.len();
                (CExpr::Tuple(out), k)
            }
            Expr::Call(name, args) => {
                let Some(f) = Function::from_name(&name.node) else {
                    let mut d = err(name.span, format!("unknown function `{}`", name.node), "");
                    if let Some(s) = did_you_mean(&name.node, Function::names()) {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    self.diags.push(d);
                    return (CExpr::Num(0.0), 1);
                };
                let want = f.arity();
                if args.len() != want {
                    self.diags.push(err(
                        e.span,
                        format!(
                            "`{}` takes {want} argument(s), got {}",
                            name.node,
                            args.len()
                        ),
                        "",
                    ));
                    return (CExpr::Num(0.0), 1);
                }
                let args = args.iter().map(|a| scalar(self, a)).collect();
                (CExpr::Call(f, args), 1)
            }
        }
    }
}

impl CompiledSpace {
    /// Resolve names, check tuple sizes and field names. Every problem is
    /// reported, not just the first.
    pub fn compile(space: &Space) -> Result<Self, Vec<Diagnostic>> {
        let mut known: BTreeMap<String, usize> = BTreeMap::new();
        let mut names = Vec::new();
        let mut helper = Vec::new();
        let mut levels = Vec::new();
        let mut slots = ArchSlots::default();
        let mut diags = Vec::new();
        for field in &space.fields {
            let mut r = Resolver {
                known: &known,
                allow_builtins: false,
                diags: Vec::new(),
            };
            let (expr, arity) = r.expr(&field.value);
            diags.append(&mut r.diags);
            if arity != field.names.len() {
                diags.push(err(
                    field.value.span,
                    format!(
                        "{} name(s) bound to alternatives of {arity} value(s)",
                        field.names.len()
                    ),
                    "tuple size does not match the names",
                ));
            }
            let first_slot = names.len();
            for n in &field.names {
                if known.contains_key(n.node.as_str()) {
                    diags.push(err(
                        n.span,
                        format!("`{}` is bound twice", n.node),
                        "again here",
                    ));
                    continue;
                }
                if SPACE_BUILTINS.contains(&n.node.as_str()) {
                    diags.push(err(
                        n.span,
                        format!("`{}` is a builtin computed from the architecture", n.node),
                        "reserved name",
                    ));
                }
                let slot = names.len();
                if !field.helper {
                    if let Some(s) = slots.slot_mut(&n.node) {
                        *s = Some(slot);
                    } else {
                        {
                            let mut d = err(
                                n.span,
                                format!("`{}` is not an architecture field", n.node),
                                "unknown field",
                            );
                            d = match did_you_mean(&n.node, SPACE_FIELDS.iter().copied()) {
                                Some(s) => d.help(format!(
                                    "did you mean `{s}`? (or use `let` for a helper)"
                                )),
                                None => d.help(format!(
                                    "fields are {}; use `let` for a helper value",
                                    SPACE_FIELDS.join(", ")
                                )),
                            };
                            diags.push(d);
                        }
                    }
                }
                known.insert(n.node.clone(), slot);
                names.push(n.node.clone());
                helper.push(field.helper);
            }
            levels.push(Level {
                first_slot,
                arity: field.names.len(),
                expr,
                span: field.value.span,
            });
        }
        let requires = compile_requires(space, &known, &mut diags);
        check_slots(space, &slots, &levels, &mut diags);
        check_ranges(&levels, &names, &mut diags);
        if diags.is_empty() {
            Ok(Self {
                name: space.name.node.clone(),
                names,
                helper,
                levels,
                requires,
                slots,
            })
        } else {
            Err(diags)
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Slot names in order: the fields as written, tuple names expanded.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether each slot is a `let` helper.
    pub fn helpers(&self) -> &[bool] {
        &self.helper
    }

    /// The Cartesian size when no field depends on another (before
    /// architecture checks and `require`s); `None` when alternatives depend
    /// on earlier values, so only enumeration can count them.
    pub fn upper_bound(&self) -> Option<u128> {
        let mut product: u128 = 1;
        let env = Env {
            slots: &[],
            arch: None,
        };
        for l in &self.levels {
            if refers_to_slots(&l.expr) {
                return None;
            }
            let mut v = Vec::new();
            l.expr.alternatives(&env, &mut v).ok()?;
            dedup(&mut v, l.arity);
            product = product.checked_mul((v.len() / l.arity) as u128)?;
        }
        Some(product)
    }

    /// At most how many candidates the space lists, before architecture
    /// checks and `require`s, also when fields depend on earlier ones (a
    /// list counts its items whatever they evaluate to); `None` when a
    /// range's bounds depend on earlier fields.
    pub fn size_bound(&self) -> Option<u128> {
        let env = Env {
            slots: &[],
            arch: None,
        };
        let mut product: u128 = 1;
        for l in &self.levels {
            let n = if refers_to_slots(&l.expr) {
                most_alternatives(&l.expr)?
            } else {
                let mut v = Vec::new();
                l.expr.alternatives(&env, &mut v).ok()?;
                dedup(&mut v, l.arity);
                (v.len() / l.arity) as u128
            };
            product = product.checked_mul(n)?;
        }
        Some(product)
    }

    /// Number of alternatives of the outermost field: the unit of
    /// [`CompiledSpace::chunks`].
    pub fn outer_len(&self) -> usize {
        let Some(l) = self.levels.first() else {
            return 1;
        };
        let mut v = Vec::new();
        let env = Env {
            slots: &[],
            arch: None,
        };
        if l.expr.alternatives(&env, &mut v).is_err() {
            return 0;
        }
        dedup(&mut v, l.arity);
        v.len() / l.arity
    }

    /// Stream every candidate in odometer order.
    pub fn iter(&self) -> Enumerator<'_> {
        Enumerator::new(self, 0, usize::MAX)
    }

    /// Split the stream into at most `n` contiguous pieces along the
    /// outermost field; concatenated in order they are exactly [`Self::iter`].
    /// Hand them to rayon (`into_par_iter`) to enumerate in parallel.
    pub fn chunks(&self, n: usize) -> Vec<Enumerator<'_>> {
        let len = self.outer_len();
        let n = n.clamp(1, len.max(1));
        (0..n)
            .map(|i| Enumerator::new(self, len * i / n, len * (i + 1) / n))
            .collect()
    }

    /// Count the valid candidates (and the dropped ones) without keeping
    /// any, in parallel over the outermost field.
    pub fn count(&self) -> (u64, Drops) {
        use rayon::prelude::*;
        let n = rayon::current_num_threads() * 4;
        self.chunks(n)
            .into_par_iter()
            .map(|mut e| {
                let c = e.by_ref().count() as u64;
                (c, e.drops)
            })
            .reduce(
                || (0, Drops::default()),
                |(a, mut da), (b, db)| {
                    da.merge(&db);
                    (a + b, da)
                },
            )
    }

    /// Map every candidate in parallel, keeping enumeration order: `f`
    /// returns `None` to discard one (say, outside a law's range). Only the
    /// kept results are stored, never the candidates themselves.
    pub fn par_map<T: Send>(&self, f: impl Fn(Candidate) -> Option<T> + Sync) -> (Vec<T>, Drops) {
        use rayon::prelude::*;
        let n = rayon::current_num_threads() * 4;
        let parts: Vec<(Vec<T>, Drops)> = self
            .chunks(n)
            .into_par_iter()
            .map(|mut e| {
                let out: Vec<T> = e.by_ref().filter_map(&f).collect();
                (out, e.drops)
            })
            .collect();
        let mut drops = Drops {
            required: vec![0; self.requires.len()],
            ..Drops::default()
        };
        let mut out = Vec::with_capacity(parts.iter().map(|p| p.0.len()).sum());
        for (v, d) in parts {
            out.extend(v);
            drops.merge(&d);
        }
        (out, drops)
    }

    /// The valid candidate nearest to `target` (slot values, as in
    /// [`Candidate::values`]): field by field, the alternative closest to the
    /// target's values for that field. `None` when that path is invalid or a
    /// `require` rejects it. Used to snap proposals of the adaptive search
    /// onto the space.
    pub fn nearest(&self, target: &[f64]) -> Option<Candidate> {
        let mut env = vec![0.0; self.names.len()];
        let mut buf = Vec::new();
        for l in &self.levels {
            buf.clear();
            l.expr
                .alternatives(
                    &Env {
                        slots: &env,
                        arch: None,
                    },
                    &mut buf,
                )
                .ok()?;
            let want = target.get(l.first_slot..l.first_slot + l.arity)?;
            let best = buf
                .chunks_exact(l.arity)
                .min_by(|a, b| dist(a, want).total_cmp(&dist(b, want)))?;
            env[l.first_slot..l.first_slot + l.arity].copy_from_slice(best);
        }
        self.finish(&env).ok()
    }

    /// The valid candidate nearest to the midpoint of `a` and `b`: what the
    /// adaptive search proposes in a gap between two frontier points.
    pub fn between(&self, a: &Candidate, b: &Candidate) -> Option<Candidate> {
        let mid: Vec<f64> = a
            .values
            .iter()
            .zip(&b.values)
            .map(|(x, y)| (x + y) / 2.0)
            .collect();
        self.nearest(&mid)
    }

    /// Candidates one step away from `c`: for each field, the previous and
    /// next alternative (later fields kept as close as the space allows).
    pub fn neighbours(&self, c: &Candidate) -> Vec<Candidate> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for l in &self.levels {
            buf.clear();
            let env = Env {
                slots: &c.values,
                arch: None,
            };
            if l.expr.alternatives(&env, &mut buf).is_err() {
                continue;
            }
            dedup(&mut buf, l.arity);
            let here = &c.values[l.first_slot..l.first_slot + l.arity];
            let Some(pos) = buf.chunks_exact(l.arity).position(|a| a == here) else {
                continue;
            };
            for p in [pos.checked_sub(1), Some(pos + 1)].into_iter().flatten() {
                let Some(alt) = buf.chunks_exact(l.arity).nth(p) else {
                    continue;
                };
                let mut target = c.values.clone();
                target[l.first_slot..l.first_slot + l.arity].copy_from_slice(alt);
                if let Some(n) = self.nearest(&target)
                    && n.values != c.values
                    && !out.contains(&n)
                {
                    out.push(n);
                }
            }
        }
        out
    }

    /// Build the architecture and apply the `require`s.
    fn finish(&self, env: &[f64]) -> Result<Candidate, Skip> {
        let arch = self.architecture(env).map_err(Skip::Invalid)?;
        let e = Env {
            slots: env,
            arch: Some(&arch),
        };
        for (i, (r, _)) in self.requires.iter().enumerate() {
            let ok = if r.is_single() {
                truthy(r.scalar(&e).map_err(Skip::Invalid)?)
            } else {
                let mut v = Vec::new();
                r.alternatives(&e, &mut v).map_err(Skip::Invalid)?;
                v.iter().all(|x| truthy(*x))
            };
            if !ok {
                return Err(Skip::Required(i));
            }
        }
        Ok(Candidate {
            arch,
            values: env.to_vec(),
        })
    }

    fn architecture(&self, env: &[f64]) -> Result<Architecture, Reason> {
        let s = &self.slots;
        let get = |slot: Option<usize>| slot.map(|i| env[i]);
        let whole = |name: &str, v: f64, min: f64| -> Result<u32, Reason> {
            if v.fract() != 0.0 || !v.is_finite() {
                return Err(format!("`{name}` is not a whole number"));
            }
            if v < min {
                return Err(format!("`{name}` is below {min}"));
            }
            if v > f64::from(u32::MAX) {
                return Err(format!("`{name}` is too large"));
            }
            Ok(v as u32)
        };
        let flag = |name: &str, v: Option<f64>, default: bool| -> Result<bool, Reason> {
            match v {
                None => Ok(default),
                Some(0.0) => Ok(false),
                Some(1.0) => Ok(true),
                Some(_) => Err(format!("`{name}` is not 0 or 1")),
            }
        };
        let layers = whole("layers", get(s.layers).unwrap_or(0.0), 1.0)?;
        let width = whole("width", get(s.width).unwrap_or(0.0), 1.0)?;
        let heads = match get(s.heads) {
            Some(h) => whole("heads", h, 1.0)?,
            None => whole("heads", f64::from(width) / DEFAULT_HEAD_DIM, 1.0)
                .map_err(|_| "width is not a multiple of 64 (the default head dim)".to_string())?,
        };
        let kv_heads = match get(s.kv_heads) {
            Some(k) => whole("kv_heads", k, 1.0)?,
            None => heads,
        };
        let head_dim = match get(s.head_dim) {
            Some(h) => whole("head_dim", h, 1.0)?,
            None if width % heads != 0 => return Err("heads does not divide width".into()),
            None => width / heads,
        };
        let experts = whole("experts", get(s.experts).unwrap_or(1.0), 1.0)?;
        let top_k = whole("top_k", get(s.top_k).unwrap_or(1.0), 1.0)?;
        let ffn = match (get(s.ffn_size), get(s.ffn)) {
            (Some(size), _) => whole("ffn_size", size, 1.0)?,
            (None, r) => {
                let r = r.unwrap_or(DEFAULT_FFN_RATIO);
                if r.is_nan() || r <= 0.0 {
                    return Err("`ffn` (the ratio) is not positive".into());
                }
                let size = (r * f64::from(width) / f64::from(top_k)).round();
                whole("ffn", size, 1.0)
                    .map_err(|_| "`ffn` gives an intermediate size below 1".to_string())?
            }
        };
        let shared_experts = whole("shared_experts", get(s.shared_experts).unwrap_or(0.0), 0.0)?;
        let vocab = match get(s.vocab) {
            Some(v) => whole("vocab", v, 1.0)?,
            None => DEFAULT_VOCAB,
        };
        let arch = Architecture {
            layers,
            width,
            heads,
            kv_heads,
            head_dim,
            ffn,
            gated: flag("gated", get(s.gated), true)?,
            experts,
            top_k,
            shared_experts,
            shared_ffn: if shared_experts > 0 { ffn } else { 0 },
            vocab,
            tied_embeddings: flag("tied", get(s.tied), false)?,
            qkv_bias: flag("qkv_bias", get(s.qkv_bias), false)?,
            qk_norm: flag("qk_norm", get(s.qk_norm), true)?,
            norm: Norm::Rms,
            norms_per_layer: 2,
            qk_norm_full: false,
            shared_expert_gate: false,
            max_context: None,
        };
        arch.validate().map_err(ArchError::rule)?;
        Ok(arch)
    }
}

impl<'a> IntoIterator for &'a CompiledSpace {
    type Item = Candidate;
    type IntoIter = Enumerator<'a>;

    fn into_iter(self) -> Enumerator<'a> {
        self.iter()
    }
}

/// `require`s see every field and the builtins.
fn compile_requires(
    space: &Space,
    known: &BTreeMap<String, usize>,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(CExpr, Span)> {
    let mut requires = Vec::new();
    for req in &space.requires {
        let mut r = Resolver {
            known,
            allow_builtins: true,
            diags: Vec::new(),
        };
        let (expr, arity) = r.expr(req);
        diags.append(&mut r.diags);
        if arity != 1 {
            diags.push(err(
                req.span,
                "a `require` must be a condition",
                "this is a tuple",
            ));
        }
        requires.push((expr, req.span));
    }
    requires
}

/// Whole-space checks once every field is bound: required fields present,
/// no contradictory FFN settings.
fn check_slots(space: &Space, slots: &ArchSlots, levels: &[Level], diags: &mut Vec<Diagnostic>) {
    for (field, slot) in [("layers", slots.layers), ("width", slots.width)] {
        if slot.is_none() {
            diags.push(
                err(
                    space.name.span,
                    format!("space `{}` does not set `{field}`", space.name.node),
                    "",
                )
                .help(format!("add e.g. `{field} = [...]`; it has no default")),
            );
        }
    }
    if let (Some(a), Some(b)) = (slots.ffn, slots.ffn_size) {
        diags.push(
            err(
                levels_span(levels, b),
                "`ffn` and `ffn_size` both set",
                "ffn_size here",
            )
            .also(levels_span(levels, a), "ffn (the ratio) here")
            .help("`ffn` is the ratio r, `ffn_size` one expert's intermediate size: pick one"),
        );
    }
}

fn levels_span(levels: &[Level], slot: usize) -> Span {
    levels
        .iter()
        .find(|l| (l.first_slot..l.first_slot + l.arity).contains(&slot))
        .map_or_else(Span::default, |l| l.span)
}

/// A field whose alternatives cannot be listed at all (`layers = 1 .. 1e18`)
/// is a located error now, not a drop reason for every candidate at run
/// time.
fn check_ranges(levels: &[Level], names: &[String], diags: &mut Vec<Diagnostic>) {
    let env = Env {
        slots: &[],
        arch: None,
    };
    for l in levels.iter().filter(|l| !refers_to_slots(&l.expr)) {
        let mut v = Vec::new();
        if let Err(why) = l.expr.alternatives(&env, &mut v) {
            diags.push(
                err(
                    l.span,
                    format!(
                        "`{}` cannot be enumerated: {why}",
                        names.get(l.first_slot).map_or("", String::as_str)
                    ),
                    "these alternatives",
                )
                .help("narrow the range or give it a larger `step`"),
            );
        }
    }
}

/// The most candidates `enumerate` lists (`ROOFLAW_MAX_CANDIDATES`
/// changes it): a space larger than that would run for hours and is
/// almost always a typo; `refine` searches large spaces coarse-to-fine.
pub const DEFAULT_MAX_CANDIDATES: u64 = 100_000_000;

/// [`DEFAULT_MAX_CANDIDATES`], or `ROOFLAW_MAX_CANDIDATES` when set (`1e9`
/// and `1000000000` both work).
pub fn max_candidates() -> Result<u64, String> {
    match std::env::var("ROOFLAW_MAX_CANDIDATES") {
        Err(_) => Ok(DEFAULT_MAX_CANDIDATES),
        Ok(v) => v
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|n| n.is_finite() && *n >= 1.0 && n.fract() == 0.0)
            .map(|n| n as u64)
            .ok_or_else(|| format!("ROOFLAW_MAX_CANDIDATES=`{v}` is not a positive whole number")),
    }
}

/// The message for a space over the limit.
pub fn too_many(space: &str, count: &str, limit: u64) -> (String, String) {
    (
        format!("space `{space}` has {count} candidates, more than the limit of {limit}"),
        "narrow its ranges, search it coarse-to-fine with `refine(space: ...)`, or raise the limit with ROOFLAW_MAX_CANDIDATES=N".to_string(),
    )
}

/// At most how many alternatives `e` yields, whatever earlier fields are.
fn most_alternatives(e: &CExpr) -> Option<u128> {
    match e {
        CExpr::List(items) => items.iter().map(most_alternatives).sum(),
        CExpr::Tuple(items) => items.iter().map(most_alternatives).product(),
        CExpr::Range(..) if !refers_to_slots(e) => {
            let env = Env {
                slots: &[],
                arch: None,
            };
            let mut v = Vec::new();
            e.alternatives(&env, &mut v).ok()?;
            Some(v.len() as u128)
        }
        CExpr::Range(..) => None,
        other if has_choice(other) => None,
        _ => Some(1),
    }
}

/// Whether a list or range hides inside an expression.
fn has_choice(e: &CExpr) -> bool {
    match e {
        CExpr::List(_) | CExpr::Range(..) => true,
        CExpr::Neg(x) | CExpr::Not(x) => has_choice(x),
        CExpr::Bin(a, _, b) => has_choice(a) || has_choice(b),
        CExpr::Tuple(xs) | CExpr::Call(_, xs) => xs.iter().any(has_choice),
        CExpr::Num(_) | CExpr::Slot(_) | CExpr::Builtin(_) => false,
    }
}

fn refers_to_slots(e: &CExpr) -> bool {
    match e {
        CExpr::Slot(_) | CExpr::Builtin(_) => true,
        CExpr::Num(_) => false,
        CExpr::Neg(x) | CExpr::Not(x) => refers_to_slots(x),
        CExpr::Bin(a, _, b) => refers_to_slots(a) || refers_to_slots(b),
        CExpr::List(xs) | CExpr::Tuple(xs) | CExpr::Call(_, xs) => xs.iter().any(refers_to_slots),
        CExpr::Range(a, b, c) => {
            refers_to_slots(a) || refers_to_slots(b) || c.as_deref().is_some_and(refers_to_slots)
        }
    }
}

fn dist(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

enum Skip {
    Invalid(Reason),
    Required(usize),
}

/// The alternatives of one field under the current prefix.
#[derive(Clone, Debug, Default)]
struct Wheel {
    alts: Vec<f64>,
    pos: usize,
    len: usize,
}

/// A streaming iterator over a space's valid candidates. Skipped candidates
/// are tallied in [`Enumerator::drops`].
pub struct Enumerator<'a> {
    space: &'a CompiledSpace,
    wheels: Vec<Wheel>,
    env: Vec<f64>,
    started: bool,
    /// Outermost alternatives this enumerator covers: `lo..hi`.
    lo: usize,
    hi: usize,
    drops: Drops,
}

impl<'a> Enumerator<'a> {
    fn new(space: &'a CompiledSpace, lo: usize, hi: usize) -> Self {
        Self {
            space,
            wheels: vec![Wheel::default(); space.levels.len()],
            env: vec![0.0; space.names.len()],
            started: false,
            lo,
            hi,
            drops: Drops {
                required: vec![0; space.requires.len()],
                ..Drops::default()
            },
        }
    }

    /// What was skipped so far (complete once the iterator is exhausted).
    pub fn drops(&self) -> &Drops {
        &self.drops
    }

    fn set_env(&mut self, i: usize) {
        let l = &self.space.levels[i];
        let w = &self.wheels[i];
        let a = l.arity;
        self.env[l.first_slot..l.first_slot + a]
            .copy_from_slice(&w.alts[w.pos * a..(w.pos + 1) * a]);
    }

    /// Fill wheels `from..` with their first alternatives. On failure returns
    /// the level that had no (valid) alternatives.
    fn fill(&mut self, from: usize) -> Result<(), usize> {
        for i in from..self.wheels.len() {
            let l = &self.space.levels[i];
            let mut alts = std::mem::take(&mut self.wheels[i].alts);
            alts.clear();
            let env = Env {
                slots: &self.env,
                arch: None,
            };
            if let Err(reason) = l.expr.alternatives(&env, &mut alts) {
                let name = &self.space.names[l.first_slot];
                self.drops
                    .invalid(format!("evaluating `{name}` hit {reason}"));
                self.wheels[i].alts = alts;
                return Err(i);
            }
            dedup(&mut alts, l.arity);
            let mut len = alts.len() / l.arity;
            let mut pos = 0;
            if i == 0 {
                len = len.min(self.hi);
                pos = self.lo;
            }
            self.wheels[i] = Wheel { alts, pos, len };
            if pos >= len {
                return Err(i);
            }
            self.set_env(i);
        }
        Ok(())
    }

    /// Move to the next complete assignment of every field.
    fn advance(&mut self) -> bool {
        let n = self.wheels.len();
        let mut i = if self.started {
            n.wrapping_sub(1)
        } else {
            self.started = true;
            match self.fill(0) {
                Ok(()) => return true,
                Err(0) => return false,
                Err(j) => j - 1,
            }
        };
        if n == 0 {
            return false;
        }
        loop {
            self.wheels[i].pos += 1;
            if self.wheels[i].pos < self.wheels[i].len {
                self.set_env(i);
                match self.fill(i + 1) {
                    Ok(()) => return true,
                    Err(j) => i = j - 1,
                }
            } else if i == 0 {
                return false;
            } else {
                i -= 1;
            }
        }
    }
}

impl Iterator for Enumerator<'_> {
    type Item = Candidate;

    fn next(&mut self) -> Option<Candidate> {
        while self.advance() {
            match self.space.finish(&self.env) {
                Ok(c) => return Some(c),
                Err(Skip::Invalid(r)) => self.drops.invalid(r),
                Err(Skip::Required(i)) => self.drops.required[i] += 1,
            }
        }
        None
    }
}
