//! Literal values: quantities with units checked against an expected
//! dimension, and constant folding for the static checks of spaces.
use crate::ast::{Expr, ExprKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::spec::BinOp;
use crate::units::{self, Dim, Quantity};

/// A number of dimension `dim`, normalised to SI. A bare number is accepted
/// where no unit is needed: plain numbers and token counts.
pub(crate) fn quantity(e: &Expr, dim: Dim, what: &str) -> Result<Quantity, Diagnostic> {
    let ExprKind::Num { text, value, unit } = &e.node else {
        return Err(Diagnostic::error(
            Code::Type,
            format!(
                "{what} expects {}, found {}",
                dim.describe(),
                e.node.describe()
            ),
        )
        .at(e.span, format!("expected {}", dim.describe())));
    };
    let Some(unit) = unit else {
        if dim == Dim::NONE || dim == Dim::TOKENS {
            return Ok(Quantity::new(*value, dim));
        }
        return Err(Diagnostic::error(
            Code::MissingUnit,
            format!("expected a unit of {} after `{text}`", dim.unit_noun()),
        )
        .at(e.span, format!("{what} is {}", dim.describe()))
        .help(format!("add a unit: {}", dim.example_units())));
    };
    // The grammar only accepts units from the table.
    let Some(u) = units::unit(&unit.node) else {
        return Err(
            Diagnostic::error(Code::UnknownUnit, format!("unknown unit `{}`", unit.node))
                .at(unit.span, "not a unit"),
        );
    };
    if u.dim != dim {
        let help = if dim == Dim::NONE {
            "remove the unit".to_string()
        } else {
            format!("use a unit of {}: {}", dim.unit_noun(), dim.example_units())
        };
        return Err(Diagnostic::error(
            Code::UnitMismatch,
            format!(
                "{what} is {}, but `{text} {}` is {}",
                dim.describe(),
                unit.node,
                u.dim.describe()
            ),
        )
        .at(unit.span, format!("{} here", u.dim.describe()))
        .help(help));
    }
    // Dividing by the reciprocal keeps `5 us` exactly 5e-6 (5 * 1e-6 is not),
    // so equal quantities written in different units hash alike.
    let si = if u.factor < 1.0 {
        value / (1.0 / u.factor).round()
    } else {
        value * u.factor
    };
    Ok(Quantity::new(si, dim))
}

/// The value of an expression made only of numbers, or `None` if it names a
/// variable, a list, or anything else that is not a single constant.
pub(crate) fn const_num(e: &Expr) -> Option<f64> {
    match &e.node {
        ExprKind::Num {
            value, unit: None, ..
        } => Some(*value),
        ExprKind::Bool(b) => Some(f64::from(u8::from(*b))),
        ExprKind::Neg(x) => const_num(x).map(|v| -v),
        ExprKind::Not(x) => const_num(x).map(|v| f64::from(u8::from(v == 0.0))),
        ExprKind::Bin(a, op, b) => {
            let (a, b) = (const_num(a)?, const_num(b)?);
            Some(match op {
                BinOp::Add => a + b,
                BinOp::Sub => a - b,
                BinOp::Mul => a * b,
                BinOp::Div => a / b,
                BinOp::FloorDiv => (a / b).floor(),
                BinOp::Rem => a % b,
                BinOp::Pow => a.powf(b),
                BinOp::Cmp(c) => f64::from(u8::from(c.holds(a, b))),
                BinOp::And => f64::from(u8::from(a != 0.0 && b != 0.0)),
                BinOp::Or => f64::from(u8::from(a != 0.0 || b != 0.0)),
            })
        }
        ExprKind::Call(name, args) => {
            let vals: Option<Vec<f64>> = args.iter().map(const_num).collect();
            let vals = vals?;
            crate::function::Function::from_name(&name.node)
                .filter(|f| f.arity() == vals.len())
                .map(|f| f.apply(&vals))
        }
        _ => None,
    }
}

/// Whether the expression is a comparison or boolean combination, i.e.
/// something `require` can hold.
pub(crate) fn is_boolean(e: &Expr) -> bool {
    match &e.node {
        // A bare name may hold a boolean (`gated`); errors are reported already.
        ExprKind::Bool(_) | ExprKind::Not(_) | ExprKind::Error | ExprKind::Ident(_) => true,
        ExprKind::Bin(_, op, _) => matches!(op, BinOp::Cmp(_) | BinOp::And | BinOp::Or),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{Span, Spanned};

    fn num(text: &str, value: f64, unit: Option<&str>) -> Expr {
        Spanned::new(
            ExprKind::Num {
                text: text.into(),
                value,
                unit: unit.map(|u| Spanned::new(u.to_string(), Span::default())),
            },
            Span::default(),
        )
    }

    #[test]
    fn quantities_normalise_to_si() {
        for (e, dim, si) in [
            (num("100", 100.0, Some("ms")), Dim::TIME, 0.1),
            (num("5", 5.0, Some("us")), Dim::TIME, 5e-6),
            (
                num("8", 8.0, Some("GiB")),
                Dim::BYTES,
                8.0 * 1024.0 * 1024.0 * 1024.0,
            ),
            (num("204.8", 204.8, Some("GB/s")), Dim::BANDWIDTH, 204.8e9),
            (num("275", 275.0, Some("TOPS")), Dim::COMPUTE, 275e12),
            (num("1024", 1024.0, None), Dim::TOKENS, 1024.0),
            (num("2.5e9", 2.5e9, None), Dim::NONE, 2.5e9),
        ] {
            let q = quantity(&e, dim, "x").unwrap();
            assert!(
                (q.value - si).abs() <= si * 1e-12,
                "{e:?}: {} != {si}",
                q.value
            );
            assert_eq!(q.dim, dim);
        }
    }

    #[test]
    fn wrong_or_missing_units_are_errors() {
        let d = quantity(&num("100", 100.0, None), Dim::TIME, "`launch`").unwrap_err();
        assert_eq!(d.message, "expected a unit of time after `100`");
        let d = quantity(&num("8", 8.0, Some("GiB")), Dim::TIME, "`latency.total`").unwrap_err();
        assert_eq!(
            d.message,
            "`latency.total` is a time, but `8 GiB` is a size in bytes"
        );
        let d = quantity(&num("8", 8.0, Some("ms")), Dim::NONE, "`params`").unwrap_err();
        assert_eq!(
            d.message,
            "`params` is a plain number, but `8 ms` is a time"
        );
    }
}
