//! Spec values printed back in the language's own syntax, for summaries,
//! plans and error messages downstream.
use std::fmt::{self, Display, Formatter};

use crate::spec::{ArgValue, BinOp, Expr, Value};
use crate::units::fmt_num;

fn join<T: Display>(f: &mut Formatter<'_>, items: impl IntoIterator<Item = T>) -> fmt::Result {
    for (i, x) in items.into_iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{x}")?;
    }
    Ok(())
}

impl BinOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::FloorDiv => "//",
            BinOp::Rem => "%",
            BinOp::Pow => "**",
            BinOp::Cmp(c) => c.symbol(),
            BinOp::And => "and",
            BinOp::Or => "or",
        }
    }
}

/// Fully parenthesised binary operations, so the printed form is unambiguous
/// without a precedence table.
impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Num(v) => f.write_str(&fmt_num(*v)),
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Var(v) => f.write_str(v),
            Expr::Neg(x) => write!(f, "-{}", x.node),
            Expr::Not(x) => write!(f, "not {}", x.node),
            Expr::Bin(a, op, b) => write!(f, "({} {} {})", a.node, op.symbol(), b.node),
            Expr::List(xs) => {
                f.write_str("[")?;
                join(f, xs.iter().map(|x| &x.node))?;
                f.write_str("]")
            }
            Expr::Range { start, end, step } => {
                write!(f, "{} .. {}", start.node, end.node)?;
                match step {
                    Some(s) => write!(f, " step {}", s.node),
                    None => Ok(()),
                }
            }
            Expr::Tuple(xs) => {
                f.write_str("(")?;
                join(f, xs.iter().map(|x| &x.node))?;
                f.write_str(")")
            }
            Expr::Call(name, args) => {
                write!(f, "{}(", name.node)?;
                join(f, args.iter().map(|x| &x.node))?;
                f.write_str(")")
            }
        }
    }
}

impl Display for Value {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Value::Quantity(q) => write!(f, "{q}"),
            Value::Str(s) => write!(f, "{s:?}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Word(w) => f.write_str(w),
            Value::List(xs) => {
                f.write_str("[")?;
                join(f, xs.iter().map(|x| &x.node))?;
                f.write_str("]")
            }
            Value::Map(kv) => {
                f.write_str("{ ")?;
                join(f, kv.iter().map(|(k, v)| format!("{}: {}", k.node, v.node)))?;
                f.write_str(" }")
            }
        }
    }
}

impl Display for ArgValue {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ArgValue::Ref(kind, name) => write!(f, "{} {}", kind.keyword(), name.node),
            ArgValue::Quantity(q) => write!(f, "{q}"),
            ArgValue::Str(s) => write!(f, "{s:?}"),
            ArgValue::Bool(b) => write!(f, "{b}"),
            ArgValue::Enum(w) => f.write_str(w),
            ArgValue::List(xs) => {
                f.write_str("[")?;
                join(f, xs.iter().map(|x| &x.node))?;
                f.write_str("]")
            }
            ArgValue::Map(kv) => {
                f.write_str("{ ")?;
                join(f, kv.iter().map(|(k, v)| format!("{}: {}", k.node, v.node)))?;
                f.write_str(" }")
            }
            ArgValue::Expr(e) => write!(f, "{e}"),
        }
    }
}

impl crate::spec::Spec {
    /// One line per declaration, in the language's syntax with units
    /// normalised: what the lowering understood. Stable, for snapshots and
    /// `rooflaw check --summary`.
    pub fn summary(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for (kw, blocks) in [
            ("hardware", &self.hardware),
            ("workload", &self.workloads),
            ("corpus", &self.corpora),
        ] {
            for b in blocks {
                let _ = write!(out, "{kw} {}", b.name.node);
                if let Some(p) = &b.preset {
                    let _ = write!(out, " from {:?}", p.node);
                }
                let fields: Vec<String> = b
                    .fields
                    .iter()
                    .map(|fd| format!("{} = {}", fd.path.node, fd.value.node))
                    .collect();
                let _ = writeln!(out, " {{ {} }}", fields.join("; "));
            }
        }
        for b in &self.budgets {
            let _ = write!(out, "budget {}", b.name.node);
            if let Some(p) = &b.preset {
                let _ = write!(out, " from {:?}", p.node);
            }
            let mut cs: Vec<String> = b
                .constraints
                .iter()
                .map(|c| format!("{} {} {}", c.metric.node, c.op.symbol(), c.bound.node))
                .collect();
            if let Some(c) = &b.confidence {
                cs.push(format!("confidence = {}", c.node));
            }
            let _ = writeln!(out, " {{ {} }}", cs.join("; "));
        }
        for s in &self.spaces {
            let _ = writeln!(out, "space {} {{", s.name.node);
            for fd in &s.fields {
                let names: Vec<&str> = fd.names.iter().map(|n| n.node.as_str()).collect();
                let lhs = if names.len() > 1 {
                    format!("({})", names.join(", "))
                } else {
                    names.join("")
                };
                let kw = if fd.helper { "let " } else { "" };
                let _ = writeln!(out, "  {kw}{lhs} = {}", fd.value.node);
            }
            for r in &s.requires {
                let _ = writeln!(out, "  require {}", r.node);
            }
            let _ = writeln!(out, "}}");
        }
        for st in &self.stages {
            let args: Vec<String> = st
                .args
                .iter()
                .map(|a| format!("{}: {}", a.param, a.value.node))
                .collect();
            let _ = writeln!(
                out,
                "stage {} = {}({})",
                st.name.node,
                st.kind.node,
                args.join(", ")
            );
        }
        for r in &self.reports {
            let names: Vec<&str> = r.stages.iter().map(|n| n.node.as_str()).collect();
            let _ = writeln!(out, "report {} to {:?}", names.join(", "), r.dir.node);
        }
        out
    }
}
