//! `law("sun2026")` or `law(fitted)`: a loss law to score candidates with.
use rooflaw_dsl::spec::{ArgValue, Spec, Stage};
use rooflaw_dsl::{Code, Diagnostic, Dim, Param, ParamType, PresetKind, Signature};
use rooflaw_engine::{Artifact, Inputs, RunCtx, StageError, StageKind};
use serde_json::{Value, json};

use super::args;
use crate::law::Law;

pub(crate) const KIND: &str = "law";

pub(crate) struct LawStage(Signature);

impl LawStage {
    pub(crate) fn new() -> Self {
        Self(Signature {
            kind: "law",
            doc: "A loss law: a published preset or the output of a `fit` stage.",
            params: vec![
                Param::input(
                    "source",
                    ParamType::Either(vec![ParamType::Preset(PresetKind::Law), ParamType::Stage]),
                    "a preset name (sun2026, hoffmann2022, besiroglu2024) or a fit stage",
                ),
                Param::optional(
                    "extrapolate",
                    ParamType::Bool,
                    "predict outside the law's validated range",
                ),
                Param::optional(
                    "tokens",
                    ParamType::Number(Dim::TOKENS),
                    "training tokens, for laws in parameters and tokens (Chinchilla)",
                ),
            ],
        })
    }
}

/// The law a `law` stage produced, and the token count it is evaluated at.
pub(crate) fn read(a: &Artifact) -> Result<(Law, Option<f64>), StageError> {
    let v = a
        .as_json()
        .filter(|_| a.kind == KIND)
        .ok_or_else(|| StageError::new("expected the output of a `law` stage"))?;
    let law: Law = serde_json::from_value(v["law"].clone())
        .map_err(|e| StageError::new(format!("corrupt law: {e}")))?;
    Ok((law, v["tokens"].as_f64()))
}

impl StageKind for LawStage {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn version(&self) -> u32 {
        1
    }

    fn resolve(&self, stage: &Stage, _: &Spec) -> Result<Value, Vec<Diagnostic>> {
        let extrapolate = args::boolean(stage, "extrapolate", false);
        let tokens = args::number(stage, "tokens");
        match args::value(stage, "source") {
            Some(ArgValue::Str(name)) => {
                let law = crate::law::preset(name).ok_or_else(|| {
                    let names: Vec<String> = crate::law::presets()
                        .iter()
                        .map(|p| p.name.to_string())
                        .collect();
                    let mut d = Diagnostic::error(
                        Code::UnknownPreset,
                        format!("no law preset named `{name}`"),
                    )
                    .at(args::span(stage, "source"), "unknown law");
                    if let Some(s) =
                        rooflaw_dsl::did_you_mean(name, names.iter().map(String::as_str))
                    {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    vec![d]
                })?;
                if matches!(law.form, crate::law::Form::Chinchilla) && tokens.is_none() {
                    return Err(vec![Diagnostic::error(Code::MissingArgument, format!("`{name}` is a law in parameters and training tokens"))
                        .at(args::span(stage, "source"), "needs a token count")
                        .help("add `tokens: 20B` (the training tokens every candidate is assumed to see)")]);
                }
                Ok(
                    json!({ "preset": args::json(&law.with_extrapolate(extrapolate)), "tokens": tokens }),
                )
            }
            _ => Ok(json!({ "extrapolate": extrapolate, "tokens": tokens })),
        }
    }

    fn run(&self, _: &RunCtx, params: &Value, inputs: &Inputs) -> Result<Artifact, StageError> {
        let law = if params["preset"].is_object() {
            params["preset"].clone()
        } else {
            let fitted = inputs.require("source")?;
            let v = fitted
                .as_json()
                .ok_or_else(|| StageError::new("`law` reads the output of a `fit` stage"))?;
            let mut law: Law = serde_json::from_value(v["law"].clone())
                .map_err(|e| StageError::new(format!("corrupt fit output: {e}")))?;
            law = law.with_extrapolate(params["extrapolate"].as_bool().unwrap_or(false));
            args::json(&law)
        };
        Ok(Artifact::json(
            KIND,
            json!({ "law": law, "tokens": params["tokens"] }),
        ))
    }
}
