//! A law's validated range: the region of the variables its coefficients were
//! fitted on. Outside it a prediction is an extrapolation, which `predict`
//! refuses unless asked.
use serde::{Deserialize, Serialize};

use super::vars::{Var, Vars};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bound {
    pub var: Var,
    pub lo: f64,
    pub hi: f64,
    /// Where the bound comes from (a table, or "derived: ..." when it is ours).
    pub note: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ValidRange {
    pub bounds: Vec<Bound>,
}

/// The first variable outside the range.
#[derive(Clone, Debug, PartialEq)]
pub struct OutOfRange {
    pub var: Var,
    pub value: f64,
    pub lo: f64,
    pub hi: f64,
}

impl ValidRange {
    /// Checks every bounded variable that `vars` knows; unknown ones are the
    /// law's business (it reports a missing variable itself).
    pub fn check(&self, vars: &Vars) -> Result<(), OutOfRange> {
        for b in &self.bounds {
            if let Some(value) = vars.get(b.var) {
                // A relative slack so that ρ = 1/16 computed as 1.0/16.0 or
                // r = 4864/896 round-tripped through text do not fail by an ulp.
                let slack = 1e-9 * b.lo.abs().max(b.hi.abs());
                if !(value >= b.lo - slack && value <= b.hi + slack) {
                    return Err(OutOfRange {
                        var: b.var,
                        value,
                        lo: b.lo,
                        hi: b.hi,
                    });
                }
            }
        }
        Ok(())
    }
}
