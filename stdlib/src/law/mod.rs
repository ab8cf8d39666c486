//! Loss laws: a functional form, its named coefficients, and the range of
//! models it was fitted on. Presets carry published coefficients; `fit`
//! produces new ones.
mod chinchilla;
mod custom;
pub(crate) mod dual;
mod range;
pub(crate) mod sun2026;
mod vars;

use rooflaw_dsl::span::Span;
use serde::{Deserialize, Serialize};

use crate::arch::Architecture;

pub use custom::{CoefSpec, CustomForm};
pub use range::{Bound, ValidRange};
pub use vars::{Var, Vars};

pub(crate) use chinchilla::{
    LOG_SCALED as CHINCHILLA_LOG_SCALED, grid_theta as chinchilla_grid,
    ln_pred as chinchilla_ln_pred,
};
pub(crate) use sun2026::{
    LOG_SCALED as SUN2026_LOG_SCALED, grid as sun2026_grid, ln_pred as sun2026_ln_pred,
};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LawError {
    #[error(
        "law `{law}` is valid for {var} in [{lo}, {hi}], but this model has {var} = {value} \
         (set `extrapolate` to predict anyway)"
    )]
    OutOfRange {
        law: String,
        var: &'static str,
        value: f64,
        lo: f64,
        hi: f64,
    },
    #[error("law `{law}` needs the variable `{var}`, which this model does not give{hint}")]
    MissingVariable {
        law: String,
        var: &'static str,
        hint: &'static str,
    },
    #[error("law `{law}` has {expected} coefficients ({names}), got {got} values")]
    Coefficients {
        law: String,
        expected: usize,
        got: usize,
        names: String,
    },
    #[error("law `{law}` needs {var} > 0, got {value}")]
    NonPositive {
        law: String,
        var: &'static str,
        value: f64,
    },
    #[error("{message}")]
    Custom { message: String, span: Option<Span> },
}

/// A law's functional form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Form {
    /// The paper's 11-coefficient law in depth, width, FFN ratio, ρ and `d_m`.
    Sun2026,
    /// L = E + A/N^α + B/D^β in total parameters and training tokens.
    Chinchilla,
    /// An expression from the pipeline file.
    Custom(CustomForm),
}

impl Form {
    pub fn name(&self) -> &'static str {
        match self {
            Form::Sun2026 => "sun2026",
            Form::Chinchilla => "chinchilla",
            Form::Custom(_) => "custom",
        }
    }

    pub fn coefficient_names(&self) -> Vec<&str> {
        match self {
            Form::Sun2026 => sun2026::COEFFICIENTS.to_vec(),
            Form::Chinchilla => chinchilla::COEFFICIENTS.to_vec(),
            Form::Custom(c) => c.coefficients().iter().map(|c| c.name.as_str()).collect(),
        }
    }

    /// The variables the form reads (CSV columns for `rooflaw fit`).
    pub fn vars(&self) -> Vec<Var> {
        match self {
            Form::Sun2026 => sun2026::VARS.to_vec(),
            Form::Chinchilla => chinchilla::VARS.to_vec(),
            Form::Custom(c) => c.vars().to_vec(),
        }
    }

    /// The form's value; the caller has checked that every variable is
    /// present and positive where the form needs it.
    pub(crate) fn eval(&self, c: &[f64], v: &Vars) -> f64 {
        let g = |var| v.get(var).unwrap_or(f64::NAN);
        match self {
            Form::Sun2026 => sun2026::value(c, sun2026::VARS.map(g)),
            Form::Chinchilla => chinchilla::terms(c, g(Var::Params), g(Var::Tokens))
                .iter()
                .sum(),
            Form::Custom(f) => f.eval(c, v),
        }
    }

    /// Positivity the form's logarithms need.
    fn positive_vars(&self) -> &'static [Var] {
        match self {
            Form::Sun2026 => &sun2026::VARS,
            Form::Chinchilla => &chinchilla::VARS,
            Form::Custom(_) => &[],
        }
    }

    /// Checks that `v` gives every variable the form reads, finite and
    /// (for the built-in forms) positive.
    pub(crate) fn check_vars(&self, law: &str, v: &Vars) -> Result<(), LawError> {
        for var in self.vars() {
            let Some(x) = v.get(var) else {
                let hint = if var == Var::Tokens {
                    " (pass a training-token count)"
                } else {
                    ""
                };
                return Err(LawError::MissingVariable {
                    law: law.to_owned(),
                    var: var.name(),
                    hint,
                });
            };
            let must_be_positive = self.positive_vars().contains(&var);
            if !x.is_finite() || (must_be_positive && x <= 0.0) {
                return Err(LawError::NonPositive {
                    law: law.to_owned(),
                    var: var.name(),
                    value: x,
                });
            }
        }
        Ok(())
    }
}

/// A form with coefficient values: a preset or a fit.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Law {
    pub name: String,
    pub form: Form,
    values: Vec<f64>,
    /// 95% bootstrap intervals per coefficient, when fitted with a bootstrap.
    pub intervals: Option<Vec<(f64, f64)>>,
    /// Where predictions are trusted; `None` = everywhere.
    pub range: Option<ValidRange>,
    /// Predict outside `range` instead of refusing.
    pub extrapolate: bool,
    /// Citation or provenance ("fit of 120 points, ...").
    pub source: String,
}

/// One row of `rooflaw presets`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LawInfo {
    pub name: &'static str,
    pub form: &'static str,
    pub description: &'static str,
    pub source: &'static str,
}

const PRESETS: [LawInfo; 3] = [
    LawInfo {
        name: "sun2026",
        form: "sun2026",
        description: "11-coefficient separable law in depth, width, FFN ratio, MoE rate and KV dim \
                      (10B training tokens); valid on the paper's Table 5 space",
        source: "arXiv 2602.10377, Appendix C Table 6 / Eq. 15",
    },
    LawInfo {
        name: "hoffmann2022",
        form: "chinchilla",
        description: "Chinchilla Approach 3: E 1.69, A 406.4, B 410.7, alpha 0.34, beta 0.28; \
                      N = total parameters, D = training tokens",
        source: "Hoffmann et al. 2022, arXiv 2203.15556, §3.3",
    },
    LawInfo {
        name: "besiroglu2024",
        form: "chinchilla",
        description: "Epoch AI's refit of Chinchilla's data: E 1.8172, A 482.01, B 2085.43, \
                      alpha 0.3478, beta 0.3658",
        source: "Besiroglu et al. 2024, arXiv 2404.10102, Table 1",
    },
];

pub fn presets() -> Vec<LawInfo> {
    PRESETS.to_vec()
}

/// A preset by name, with its published coefficients and validated range.
pub fn preset(name: &str) -> Option<Law> {
    let info = PRESETS.iter().find(|p| p.name == name)?;
    let (form, values, range): (Form, &[f64], ValidRange) = match name {
        "sun2026" => (Form::Sun2026, &sun2026::PUBLISHED, sun2026::valid_range()),
        "hoffmann2022" => (
            Form::Chinchilla,
            &chinchilla::HOFFMANN2022,
            chinchilla::hoffmann_range(),
        ),
        "besiroglu2024" => (
            Form::Chinchilla,
            &chinchilla::BESIROGLU2024,
            chinchilla::besiroglu_range(),
        ),
        _ => return None,
    };
    let mut law = Law::new(name, form, values.to_vec()).expect("preset coefficient counts match");
    law.range = Some(range);
    info.source.clone_into(&mut law.source);
    Some(law)
}

impl Law {
    pub fn new(name: &str, form: Form, values: Vec<f64>) -> Result<Self, LawError> {
        let names = form.coefficient_names();
        if names.len() != values.len() {
            return Err(LawError::Coefficients {
                law: name.to_owned(),
                expected: names.len(),
                got: values.len(),
                names: names.join(", "),
            });
        }
        Ok(Self {
            name: name.to_owned(),
            form,
            values,
            intervals: None,
            range: None,
            extrapolate: false,
            source: String::new(),
        })
    }

    #[must_use]
    pub fn with_extrapolate(mut self, extrapolate: bool) -> Self {
        self.extrapolate = extrapolate;
        self
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// (name, value) pairs in the form's order.
    pub fn coefficients(&self) -> impl Iterator<Item = (&str, f64)> {
        self.form
            .coefficient_names()
            .into_iter()
            .zip(self.values.iter().copied())
    }

    pub fn coefficient(&self, name: &str) -> Option<f64> {
        self.coefficients()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// Predicted loss (nats per token) of `arch` trained on `tokens` tokens
    /// (needed by laws with a data term). Refuses models outside the validated
    /// range unless `extrapolate` is set.
    pub fn predict(&self, arch: &Architecture, tokens: Option<f64>) -> Result<f64, LawError> {
        if matches!(self.form, Form::Sun2026) {
            // The hot path of a million-candidate search: only the fields the
            // law and its range read, no parameter counting.
            let v = Vars::new()
                .with(Var::Layers, f64::from(arch.layers))
                .with(Var::Width, f64::from(arch.width))
                .with(Var::FfnRatio, arch.ffn_ratio())
                .with(Var::Rho, arch.rho())
                .with(Var::KvDim, arch.kv_dim() as f64)
                .with(Var::Experts, f64::from(arch.experts))
                .with(Var::TopK, f64::from(arch.top_k));
            return self.predict_vars(&v);
        }
        self.predict_vars(&Vars::of(arch, tokens))
    }

    /// Predicted loss from law variables directly (a CSV row, a fit point).
    pub fn predict_vars(&self, v: &Vars) -> Result<f64, LawError> {
        self.form.check_vars(&self.name, v)?;
        if !self.extrapolate
            && let Some(range) = &self.range
        {
            range.check(v).map_err(|e| LawError::OutOfRange {
                law: self.name.clone(),
                var: e.var.name(),
                value: e.value,
                lo: e.lo,
                hi: e.hi,
            })?;
        }
        Ok(self.form.eval(&self.values, v))
    }

    /// exp(loss): perplexity per token.
    pub fn perplexity(&self, arch: &Architecture, tokens: Option<f64>) -> Result<f64, LawError> {
        self.predict(arch, tokens).map(f64::exp)
    }

    /// The additive terms of the prediction, named (a custom form is one term).
    pub fn terms(&self, v: &Vars) -> Result<Vec<(&'static str, f64)>, LawError> {
        self.form.check_vars(&self.name, v)?;
        let g = |var| v.get(var).unwrap_or(f64::NAN);
        Ok(match &self.form {
            Form::Sun2026 => sun2026::TERMS
                .into_iter()
                .zip(sun2026::terms(&self.values, sun2026::VARS.map(g)))
                .collect(),
            Form::Chinchilla => chinchilla::TERMS
                .into_iter()
                .zip(chinchilla::terms(
                    &self.values,
                    g(Var::Params),
                    g(Var::Tokens),
                ))
                .collect(),
            Form::Custom(f) => vec![("custom", f.eval(&self.values, v))],
        })
    }
}
