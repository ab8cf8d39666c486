//! `fit(runs, form: sun2026)`: fit a loss law to measured losses, and
//! `measurements("file.csv")`: losses measured elsewhere, as a table.
use std::sync::atomic::Ordering;

use rooflaw_cache::files::{INPUT_LIMIT, read_input};
use rooflaw_dsl::spec::RefKind;
use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Code, Diagnostic, Dim, Param, ParamType, Signature};
use rooflaw_engine::{Artifact, Inputs, RunCtx, StageError, StageKind, Table};
use serde_json::{Value, json};

use super::{args, fit_form};
use crate::fit::{FitOptions, fit_cancellable, runs};

pub(crate) const KIND: &str = "fit";

pub(crate) struct Fit(Signature);

impl Fit {
    pub(crate) fn new() -> Self {
        Self(Signature {
            kind: "fit",
            doc: "Fit a loss law to measured losses (log-space Huber, L-BFGS from a grid of starts).",
            params: vec![
                Param::input("runs", ParamType::Stage, "a train or measurements stage"),
                Param::optional(
                    "form",
                    ParamType::Either(vec![ParamType::Enum(fit_form::FORMS), ParamType::Expr]),
                    "the law's form: sun2026 (default), chinchilla, or an expression over law \
                     variables and the coefficients of `coefs`",
                ),
                Param::optional(
                    "coefs",
                    ParamType::Map,
                    "a custom form's coefficients and their bounds: `{ e: 0 .. 10, alpha: 0 .. 2 }`",
                ),
                Param::optional(
                    "huber",
                    ParamType::Number(Dim::NONE),
                    "Huber δ on log-loss residuals (default 1e-3)",
                ),
                Param::optional("starts", ParamType::Integer, "L-BFGS starts (default 256)"),
                Param::optional(
                    "holdout",
                    ParamType::Number(Dim::NONE),
                    "fraction of runs held out (default 0.2, as `rooflaw fit --holdout`)",
                ),
                Param::optional(
                    "bootstrap",
                    ParamType::Integer,
                    "bootstrap resamples for 95% intervals (default 200)",
                ),
                Param::optional(
                    "seed",
                    ParamType::Integer,
                    "seed of the holdout split and bootstrap (default 0)",
                ),
            ],
        })
    }
}

/// The file a `measurements` input reads, relative to the pipeline, and how
/// errors name the runs: the file, or the stage they come from.
fn runs_source(stage: &Stage, spec: &Spec) -> (String, Option<std::path::PathBuf>) {
    let Some(name) = args::reference(stage, "runs", RefKind::Stage) else {
        return ("the runs".to_owned(), None);
    };
    match spec.stage(name) {
        Some(input) if input.kind.node == "measurements" => {
            let file = args::string(input, "file").unwrap_or_default();
            (file.to_owned(), Some(pipeline_dir(input, spec).join(file)))
        }
        _ => (format!("the runs of stage `{name}`"), None),
    }
}

fn pipeline_dir(stage: &Stage, spec: &Spec) -> std::path::PathBuf {
    std::path::Path::new(&spec.sources.get(stage.span.file).name)
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

impl StageKind for Fit {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn version(&self) -> u32 {
        // 2: custom forms (the `form` parameter may be a form object).
        // 3: the output names the held-out points.
        // 4: only the form's columns are needed; warnings in the output.
        4
    }

    fn resolve(&self, stage: &Stage, spec: &Spec) -> Result<Value, Vec<Diagnostic>> {
        let int = |p, d| args::integer(stage, p, d).map_err(|e| vec![e]);
        let form = fit_form::resolve(stage)?;
        // A measurements file that lacks columns fails `check`, not the run.
        let (source, path) = runs_source(stage, spec);
        if let (Some(path), Ok(f)) = (path, fit_form::form(&form))
            && let Ok(t) = runs::read_csv(&path)
            && let Some(msg) = runs::missing(&t, &f, &source)
        {
            return Err(vec![
                Diagnostic::error(Code::MissingColumn, msg)
                    .at(args::span(stage, "runs"), "these runs")
                    .help("`rooflaw stages measurements` lists the columns each form reads"),
            ]);
        }
        let holdout = args::number(stage, "holdout").unwrap_or(runs::HOLDOUT);
        if !(0.0..0.9).contains(&holdout) {
            return Err(vec![
                Diagnostic::error(
                    Code::InvalidValue,
                    "`holdout` must be a fraction in [0, 0.9)",
                )
                .at(args::span(stage, "holdout"), "out of range"),
            ]);
        }
        let bootstrap = int("bootstrap", 200)?;
        if bootstrap > crate::fit::MAX_BOOTSTRAP as u64 {
            return Err(vec![
                Diagnostic::error(
                    Code::Limit,
                    format!(
                        "{bootstrap} bootstrap resamples, more than the limit of {}",
                        crate::fit::MAX_BOOTSTRAP
                    ),
                )
                .at(args::span(stage, "bootstrap"), "too many"),
            ]);
        }
        Ok(json!({
            "form": form,
            "huber": args::number(stage, "huber").unwrap_or(1e-3),
            "starts": int("starts", 256)?,
            "holdout": holdout,
            "bootstrap": int("bootstrap", runs::BOOTSTRAP as u64)?,
            "seed": int("seed", 0)?,
            "source": source,
        }))
    }

    fn run(&self, ctx: &RunCtx, params: &Value, inputs: &Inputs) -> Result<Artifact, StageError> {
        let runs = inputs.require("runs")?;
        let t = runs
            .as_table()
            .ok_or_else(|| StageError::new("`fit` reads a table of runs"))?;
        let form = fit_form::form(&params["form"]).map_err(StageError::new)?;
        let source = params["source"].as_str().unwrap_or("the runs");
        let pts = runs::points(t, &form, source).map_err(StageError::new)?;
        let opts = FitOptions {
            huber_delta: params["huber"].as_f64().unwrap_or(1e-3),
            starts: params["starts"].as_u64().unwrap_or(256) as usize,
            holdout: params["holdout"].as_f64().unwrap_or(runs::HOLDOUT),
            bootstrap: params["bootstrap"]
                .as_u64()
                .map_or(runs::BOOTSTRAP, |b| b as usize),
            seed: params["seed"].as_u64().unwrap_or(0),
            ..FitOptions::default()
        };
        ctx.progress
            .message(format!("fitting {} to {} runs", form.name(), pts.len()));
        let cancel = ctx.cancel.clone();
        let r = fit_cancellable(&pts, &form, &opts, &move || cancel.load(Ordering::Relaxed))
            .map_err(|e| StageError::new(format!("fit: {e}")))?;
        for w in &r.warnings {
            ctx.progress.warn(&ctx.stage, w);
        }
        // Predicted vs measured for every run, for the report's scatter.
        let predicted: Vec<f64> = pts
            .iter()
            .map(|p| {
                r.law
                    .clone()
                    .with_extrapolate(true)
                    .predict_vars(&p.vars)
                    .unwrap_or(f64::NAN)
            })
            .collect();
        Ok(Artifact::json(
            KIND,
            json!({
                "law": args::json(&r.law),
                "coefficients": r.law.coefficients().map(|(n, v)| json!({ "name": n, "value": v })).collect::<Vec<_>>(),
                "intervals": r.intervals,
                "train": args::json(&r.train),
                "holdout": r.holdout.as_ref().map(args::json),
                "heldout": r.heldout,
                "converged": r.converged,
                "warnings": r.warnings,
                "gradient_norm": r.gradient_norm,
                "measured": pts.iter().map(|p| p.loss).collect::<Vec<_>>(),
                "predicted": predicted,
            }),
        ))
    }
}

pub(crate) struct Measurements(Signature);

impl Measurements {
    pub(crate) fn new() -> Self {
        Self(Signature {
            kind: "measurements",
            doc: "A CSV of runs measured elsewhere, one row per run (`,` `;` tab or `|` separated, detected). \
                  Columns: `loss` and those the fit's form reads: chinchilla `params, tokens`; \
                  sun2026 `layers, width, ffn_ratio, rho, kv_dim`; a custom form its variables. \
                  Instead of the variables, architecture columns `layers, width, ffn` (one expert's \
                  intermediate size) with optional heads (width / 64), kv_heads (heads), head_dim \
                  (width / heads), experts (1), top_k (1), shared_experts (0), vocab (32000), \
                  gated (1), tied (0), qk_norm (1), qkv_bias (0). Other columns are ignored.",
            params: vec![Param::input(
                "file",
                ParamType::Str,
                "path, relative to the pipeline file",
            )],
        })
    }
}

impl StageKind for Measurements {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn version(&self) -> u32 {
        // 2: delimiter detection, the `line` column.
        2
    }

    fn resolve(&self, stage: &Stage, spec: &Spec) -> Result<Value, Vec<Diagnostic>> {
        let file = args::string(stage, "file").ok_or_else(|| vec![args::missing(stage, "file")])?;
        // The file's content is part of the key: editing it reruns the fit.
        let base = std::path::Path::new(&spec.sources.get(stage.span.file).name)
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let written = rooflaw_dsl::Spanned {
            node: file.to_string(),
            span: args::span(stage, "file"),
        };
        let path = args::project_path(spec, &base, &written)?;
        let unreadable = |e: String| {
            vec![
                Diagnostic::error(Code::UnreadableFile, e)
                    .at(args::span(stage, "file"), "this file"),
            ]
        };
        let bytes = read_input(&path, INPUT_LIMIT).map_err(|e| unreadable(e.to_string()))?;
        // Refused now rather than when the stage runs.
        runs::parse_csv(&path, bytes.clone()).map_err(unreadable)?;
        Ok(json!({ "file": file, "blake3": blake3_hex(&bytes) }))
    }

    fn run(&self, ctx: &RunCtx, params: &Value, _: &Inputs) -> Result<Artifact, StageError> {
        let path = ctx
            .base_dir
            .join(params["file"].as_str().unwrap_or_default());
        Ok(Artifact::table("runs", read_csv(&path)?))
    }
}

/// A CSV file of runs as a table (delimiter detected, a `line` column).
pub(crate) fn read_csv(path: &std::path::Path) -> Result<Table, StageError> {
    runs::read_csv(path).map_err(StageError::new)
}

fn blake3_hex(bytes: &[u8]) -> String {
    rooflaw_cache::Hash::of(bytes).to_hex()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use rooflaw_engine::{Column, Progress};

    use super::*;

    fn ctx(cancelled: bool) -> RunCtx {
        RunCtx {
            stage: "fit".into(),
            progress: Progress::hidden(),
            workdir: std::env::temp_dir(),
            base_dir: std::env::temp_dir(),
            cancel: Arc::new(AtomicBool::new(cancelled)),
        }
    }

    /// Runs from a Chinchilla law over a grid of sizes and token counts.
    fn runs() -> Inputs {
        let (mut n, mut d, mut loss) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..6 {
            for j in 0..5 {
                let params = 1e7 * 3f64.powi(i);
                let tokens = 1e9 * 2f64.powi(j);
                n.push(params);
                d.push(tokens);
                loss.push(1.7 + 400.0 / params.powf(0.34) + 410.0 / tokens.powf(0.28));
            }
        }
        let table = Table::new()
            .with("params", Column::F64(n))
            .with("tokens", Column::F64(d))
            .with("loss", Column::F64(loss));
        Inputs {
            items: vec![(
                "runs".into(),
                "runs".into(),
                Arc::new(Artifact::table("runs", table)),
            )],
        }
    }

    /// The run's cancel flag reaches the fitter: a cancelled run's `fit`
    /// ends with the cancellation (which the engine records as the run's
    /// end) where the same stage otherwise fits.
    #[test]
    fn a_cancelled_run_stops_the_fit() {
        let params = json!({ "form": "chinchilla", "starts": 16, "bootstrap": 20, "holdout": 0.0 });
        let inputs = runs();
        let fitted = Fit::new().run(&ctx(false), &params, &inputs);
        assert!(fitted.is_ok(), "{:?}", fitted.err());
        let err = Fit::new().run(&ctx(true), &params, &inputs).unwrap_err();
        assert_eq!(err.to_string(), "fit: cancelled");
    }
}
