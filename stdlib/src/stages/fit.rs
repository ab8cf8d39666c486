//! `fit(runs, form: sun2026)`: fit a loss law to measured losses, and
//! `measurements("file.csv")`: losses measured elsewhere, as a table.
use rooflaw_cache::files::{INPUT_LIMIT, read_input};
use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Diagnostic, Dim, Param, ParamType, Signature};
use rooflaw_engine::{Artifact, Column, Inputs, RunCtx, StageError, StageKind, Table};
use serde_json::{Value, json};

use super::{args, candidates, fit_form};
use crate::fit::{FitOptions, Point, fit};
use crate::law::{Var, Vars};

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
                    "fraction of runs held out (default 0.2)",
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

/// Law variables of every row: columns named after a variable win, else
/// they are computed from the architecture columns when the table has them.
fn points(t: &Table) -> Result<Vec<Point>, StageError> {
    let loss = t
        .column("val_loss")
        .or_else(|| t.column("loss"))
        .ok_or_else(|| StageError::new("the runs have no `loss` (or `val_loss`) column"))?;
    let has_arch = t.column("layers").is_some() && t.column("heads").is_some();
    (0..t.rows())
        .map(|i| {
            let tokens = t.column("tokens").map(|c| c.f64_at(i));
            let mut vars = if has_arch {
                Vars::of(&candidates::arch_at(t, i)?, tokens)
            } else {
                Vars::new()
            };
            for var in Var::ALL {
                if let Some(c) = t.column(var.name()) {
                    vars.set(var, c.f64_at(i));
                }
            }
            Ok(Point {
                vars,
                loss: loss.f64_at(i),
            })
        })
        .collect()
}

impl StageKind for Fit {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn version(&self) -> u32 {
        // 2: custom forms (the `form` parameter may be a form object).
        // 3: the output names the held-out points.
        3
    }

    fn resolve(&self, stage: &Stage, _: &Spec) -> Result<Value, Vec<Diagnostic>> {
        let int = |p, d| args::integer(stage, p, d).map_err(|e| vec![e]);
        let form = fit_form::resolve(stage)?;
        let holdout = args::number(stage, "holdout").unwrap_or(0.2);
        if !(0.0..0.9).contains(&holdout) {
            return Err(vec![
                Diagnostic::error(
                    "rooflaw::invalid-value",
                    "`holdout` must be a fraction in [0, 0.9)",
                )
                .at(args::span(stage, "holdout"), "out of range"),
            ]);
        }
        let bootstrap = int("bootstrap", 200)?;
        if bootstrap > crate::fit::MAX_BOOTSTRAP as u64 {
            return Err(vec![
                Diagnostic::error(
                    "rooflaw::limit",
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
            "bootstrap": int("bootstrap", 200)?,
            "seed": int("seed", 0)?,
        }))
    }

    fn run(&self, ctx: &RunCtx, params: &Value, inputs: &Inputs) -> Result<Artifact, StageError> {
        let runs = inputs.require("runs")?;
        let t = runs
            .as_table()
            .ok_or_else(|| StageError::new("`fit` reads a table of runs"))?;
        let pts = points(t)?;
        let form = fit_form::form(&params["form"]).map_err(StageError::new)?;
        let opts = FitOptions {
            huber_delta: params["huber"].as_f64().unwrap_or(1e-3),
            starts: params["starts"].as_u64().unwrap_or(256) as usize,
            holdout: params["holdout"].as_f64().unwrap_or(0.2),
            bootstrap: params["bootstrap"].as_u64().unwrap_or(200) as usize,
            seed: params["seed"].as_u64().unwrap_or(0),
            ..FitOptions::default()
        };
        ctx.progress
            .message(format!("fitting {} to {} runs", form.name(), pts.len()));
        let r = fit(&pts, &form, &opts).map_err(|e| StageError::new(format!("fit: {e}")))?;
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
            doc: "A CSV of runs measured elsewhere (one row per run; columns named after law variables or architecture fields, plus `loss`).",
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
        1
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
                Diagnostic::error("rooflaw::unreadable-file", e)
                    .at(args::span(stage, "file"), "this file"),
            ]
        };
        let bytes = read_input(&path, INPUT_LIMIT).map_err(|e| unreadable(e.to_string()))?;
        // Refused now rather than when the stage runs.
        parse_csv(&path, bytes.clone()).map_err(|e| unreadable(e.to_string()))?;
        Ok(json!({ "file": file, "blake3": blake3_hex(&bytes) }))
    }

    fn run(&self, ctx: &RunCtx, params: &Value, _: &Inputs) -> Result<Artifact, StageError> {
        let path = ctx
            .base_dir
            .join(params["file"].as_str().unwrap_or_default());
        Ok(Artifact::table("runs", read_csv(&path)?))
    }
}

/// A CSV file as a table: a column whose every cell parses as a number is
/// `F64`, any other `Str`.
pub(crate) fn read_csv(path: &std::path::Path) -> Result<Table, StageError> {
    let bytes = read_input(path, INPUT_LIMIT).map_err(|e| StageError::new(e.to_string()))?;
    parse_csv(path, bytes)
}

fn parse_csv(path: &std::path::Path, bytes: Vec<u8>) -> Result<Table, StageError> {
    let text = rooflaw_cache::files::text_from_bytes(path, bytes)
        .map_err(|e| StageError::new(e.to_string()))?;
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| StageError::new(format!("{}: {e}", path.display())))?
        .iter()
        .map(String::from)
        .collect();
    for (i, h) in headers.iter().enumerate() {
        if headers[..i].contains(h) {
            return Err(StageError::new(format!(
                "{}: column `{h}` appears twice in the header; which one is meant is ambiguous",
                path.display()
            )));
        }
    }
    let mut cells: Vec<Vec<String>> = vec![Vec::new(); headers.len()];
    for (line, rec) in reader.records().enumerate() {
        let rec =
            rec.map_err(|e| StageError::new(format!("{} line {}: {e}", path.display(), line + 2)))?;
        for (col, v) in cells.iter_mut().zip(rec.iter()) {
            col.push(v.trim().to_string());
        }
    }
    let mut t = Table::new();
    for (name, col) in headers.into_iter().zip(cells) {
        let nums: Option<Vec<f64>> = col.iter().map(|s| s.parse().ok()).collect();
        t.push(name, nums.map_or(Column::Str(col), Column::F64));
    }
    Ok(t)
}

fn blake3_hex(bytes: &[u8]) -> String {
    rooflaw_cache::Hash::of(bytes).to_hex()
}
