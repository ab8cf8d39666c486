//! The functions an expression may call: one table for every expression in
//! the language (space fields, `require`, custom law forms and constant
//! folding), so a name means the same function with the same arity
//! everywhere.
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Function {
    Min,
    Max,
    Round,
    Floor,
    Ceil,
    Log2,
    /// Natural logarithm; `log` is another name for it.
    Ln,
    Exp,
    Sqrt,
}

impl Function {
    pub const ALL: [Function; 9] = [
        Function::Min,
        Function::Max,
        Function::Round,
        Function::Floor,
        Function::Ceil,
        Function::Log2,
        Function::Ln,
        Function::Exp,
        Function::Sqrt,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Function::Min => "min",
            Function::Max => "max",
            Function::Round => "round",
            Function::Floor => "floor",
            Function::Ceil => "ceil",
            Function::Log2 => "log2",
            Function::Ln => "ln",
            Function::Exp => "exp",
            Function::Sqrt => "sqrt",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        if name == "log" {
            return Some(Function::Ln);
        }
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Every name a call may use, aliases included (for "did you mean").
    pub fn names() -> impl Iterator<Item = &'static str> {
        Self::ALL.into_iter().map(Self::name).chain(["log"])
    }

    /// How many arguments it takes.
    pub fn arity(self) -> usize {
        match self {
            Function::Min | Function::Max => 2,
            _ => 1,
        }
    }

    /// The value at `args` (of length [`Self::arity`]); may be non-finite
    /// (`sqrt(-1)`), which each caller judges in its own terms.
    pub fn apply(self, args: &[f64]) -> f64 {
        let x = args[0];
        match self {
            Function::Min => x.min(args[1]),
            Function::Max => x.max(args[1]),
            Function::Round => x.round(),
            Function::Floor => x.floor(),
            Function::Ceil => x.ceil(),
            Function::Log2 => x.log2(),
            Function::Ln => x.ln(),
            Function::Exp => x.exp(),
            Function::Sqrt => x.sqrt(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_log_is_ln() {
        for f in Function::ALL {
            assert_eq!(Function::from_name(f.name()), Some(f));
            assert!(f.apply(&[4.0, 2.0]).is_finite());
        }
        assert_eq!(Function::from_name("log"), Some(Function::Ln));
        assert_eq!(Function::from_name("pow"), None);
        assert_eq!(
            Function::Min.apply(&[3.0, 2.0]).to_bits(),
            2.0_f64.to_bits()
        );
    }
}
