//! `search(frontier, budget:, baseline:)`: the lowest-loss designs that meet
//! the budget, and the paper's headline comparison against a baseline model
//! at its own latency on this hardware.
use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Diagnostic, Param, ParamType, PresetKind, Signature};
use rooflaw_engine::{Artifact, Column, Inputs, RunCtx, StageError, StageKind, Table};
use serde_json::{Value, json};

use super::{args, law, pareto, roofline};
use crate::budget::{Budget, Metrics, Objective};
use crate::hardware::Hardware;
use crate::search::{Evaluated, headline};
use crate::workload::Workload;

pub(crate) const KIND: &str = "search";

pub(crate) struct Search(Signature);

impl Search {
    pub(crate) fn new() -> Self {
        Self(Signature {
            kind: "search",
            doc: "The lowest-loss designs within a budget, and the comparison with a baseline model.",
            params: vec![
                Param::input(
                    "designs",
                    ParamType::Stage,
                    "a pareto stage, or a roofline stage with `law:`",
                ),
                Param::optional("budget", ParamType::Budget, "latency and memory limits"),
                Param::optional(
                    "baseline",
                    ParamType::Either(vec![ParamType::Preset(PresetKind::Model), ParamType::Map]),
                    "a model preset, or a shape `{ layers: 3, width: 112, ... }` with a space's field names, to compare with",
                ),
                Param::optional(
                    "law",
                    ParamType::Stage,
                    "a law stage, when `designs` has no loss column",
                ),
                Param::optional(
                    "objective",
                    ParamType::Enum(Objective::NAMES),
                    "latency for the comparison (default: the frontier's)",
                ),
                Param::optional(
                    "top",
                    ParamType::Integer,
                    "how many designs to keep (default 5)",
                ),
            ],
        })
    }
}

struct Row {
    metrics: Metrics,
    loss: f64,
}

impl Evaluated for Row {
    fn metrics(&self) -> &Metrics {
        &self.metrics
    }
    fn loss(&self) -> f64 {
        self.loss
    }
}

fn row_metrics(t: &Table, i: usize) -> Metrics {
    let f = |c: &str| t.column(c).map_or(f64::NAN, |col| col.f64_at(i));
    Metrics {
        prefill_s: f("prefill_ms") / 1e3,
        ttft_s: f("ttft_ms") / 1e3,
        decode_s: f("decode_ms") / 1e3,
        per_token_s: f("decode_ms_per_token") / 1e3,
        total_s: f("total_ms") / 1e3,
        memory_bytes: f("memory_bytes"),
        params: f("params"),
        params_active: f("params_active"),
        throughput: f("tokens_per_s"),
    }
}

impl StageKind for Search {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn version(&self) -> u32 {
        // 2: the baseline's architecture is in the `baseline` metadata.
        2
    }

    fn resolve(&self, stage: &Stage, spec: &Spec) -> Result<Value, Vec<Diagnostic>> {
        let budget = args::budget(stage, spec, "budget")?;
        let top = args::integer(stage, "top", 5).map_err(|d| vec![d])?.max(1);
        let baseline = super::baseline::resolve(stage, spec)?;
        Ok(json!({
            "budget": budget.as_ref().map(args::budget_params),
            "baseline": baseline,
            "objective": args::string(stage, "objective"),
            "top": top,
        }))
    }

    #[allow(clippy::too_many_lines)]
    fn run(&self, _: &RunCtx, params: &Value, inputs: &Inputs) -> Result<Artifact, StageError> {
        let input = inputs.require("designs")?;
        let t = input
            .as_table()
            .ok_or_else(|| StageError::new("`search` reads a pareto or roofline table"))?;
        let (law, tokens) = if let Some(a) = inputs.get("law") {
            law::read(a)?
        } else {
            let l = t.meta.get("law").cloned().ok_or_else(|| {
                StageError::new("these designs have no loss: pass `law:` or search a pareto stage")
            })?;
            let law = serde_json::from_value(l).map_err(|e| StageError::new(e.to_string()))?;
            (law, t.meta.get("tokens").and_then(Value::as_f64))
        };
        let loss: Vec<f64> = match (t.f64s("loss"), inputs.get("law")) {
            (Some(l), None) => l.to_vec(),
            _ => pareto::losses(t, &law, tokens).0,
        };
        let objective = params["objective"]
            .as_str()
            .and_then(Objective::from_name)
            .or_else(|| {
                t.meta
                    .get("objective")
                    .and_then(|o| serde_json::from_value(o.clone()).ok())
            })
            .unwrap_or(Objective::Total);
        let budget: Option<Budget> = args::budget_from_params(&params["budget"]);
        let open = Budget {
            name: "none".into(),
            limits: vec![],
        };
        let rows: Vec<Row> = (0..t.rows())
            .map(|i| Row {
                metrics: row_metrics(t, i),
                loss: loss[i],
            })
            .collect();
        let k = params["top"].as_u64().unwrap_or(5) as usize;
        let result = crate::search::search(&rows, budget.as_ref().unwrap_or(&open), k);

        let mut out = t.select(&result.top.iter().map(|p| p.index).collect::<Vec<_>>());
        if out.column("loss").is_none() {
            out.push(
                "loss",
                Column::F64(result.top.iter().map(|p| p.loss).collect()),
            );
            out.push(
                "perplexity",
                Column::F64(result.top.iter().map(|p| p.perplexity).collect()),
            );
        }
        out.columns.insert(
            0,
            (
                "rank".into(),
                Column::I32((1..=i32::try_from(result.top.len()).unwrap_or(i32::MAX)).collect()),
            ),
        );
        let margins: Vec<String> = result
            .top
            .iter()
            .map(|p| {
                p.feasibility
                    .checks
                    .iter()
                    .map(|c| format!("{}: {:+.1}%", c.limit.metric.name(), c.relative * 100.0))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .collect();
        out.push("margins", Column::Str(margins));

        // The headline comparison, per precision: the baseline evaluated on
        // the same chip and workload, and the best design no slower than it.
        let mut headlines = Vec::new();
        let mut baseline_rows = Vec::new();
        if let Some(base) = params["baseline"].as_object() {
            let arch: crate::Architecture = serde_json::from_value(base["arch"].clone())
                .map_err(|e| StageError::new(e.to_string()))?;
            let hw: Option<Hardware> = t
                .meta
                .get("hardware")
                .and_then(|h| serde_json::from_value(h.clone()).ok());
            let wls: Vec<Workload> = t
                .meta
                .get("workloads")
                .and_then(|w| serde_json::from_value(w.clone()).ok())
                .unwrap_or_default();
            let (base_loss, extrapolated) = match law.predict(&arch, tokens) {
                Ok(l) => (l, false),
                Err(_) => (
                    law.clone()
                        .with_extrapolate(true)
                        .predict(&arch, tokens)
                        .map_err(|e| StageError::new(e.to_string()))?,
                    true,
                ),
            };
            let precisions = t
                .strs("precision")
                .map(<[String]>::to_vec)
                .unwrap_or_default();
            for wl in &wls {
                let Some(hw) = &hw else { break };
                let s = crate::roofline::evaluate(&arch, hw, wl)
                    .map_err(|e| StageError::new(format!("baseline: {e}")))?;
                let m = Metrics::from_summary(&s);
                let label = wl.precision.label();
                let group: Vec<usize> = (0..rows.len())
                    .filter(|&i| precisions.get(i).is_none_or(|p| *p == label))
                    .collect();
                let items: Vec<Row> = group
                    .iter()
                    .map(|&i| Row {
                        metrics: rows[i].metrics,
                        loss: rows[i].loss,
                    })
                    .collect();
                baseline_rows.push(json!({
                    "id": base["id"],
                    "arch": base["arch"],
                    "precision": label,
                    "latency_ms": m.objective(objective) * 1e3,
                    "metrics": m,
                    "loss": base_loss,
                    "perplexity": base_loss.exp(),
                    "loss_extrapolated": extrapolated,
                }));
                if let Some(h) = headline(&items, &m, base_loss, objective, budget.as_ref()) {
                    let best = group[h.best];
                    let arch = super::candidates::arch_at(t, best)?;
                    headlines.push(json!({
                        "precision": label,
                        "baseline": base["id"],
                        "objective": objective,
                        "baseline_latency_ms": h.baseline_latency * 1e3,
                        "best_latency_ms": h.best_latency * 1e3,
                        "baseline_loss": h.baseline_loss,
                        "best_loss": h.best_loss,
                        "baseline_perplexity": h.baseline_perplexity,
                        "best_perplexity": h.best_perplexity,
                        "perplexity_reduction_pct": h.perplexity_reduction * 100.0,
                        "loss_reduction_pct": h.loss_reduction * 100.0,
                        "best": args::json(&arch),
                    }));
                }
            }
        }
        out.meta.clone_from(&t.meta);
        out.meta.remove("cloud");
        out.meta.insert(
            "budget".into(),
            budget.as_ref().map(args::json).unwrap_or_default(),
        );
        out.meta.insert("feasible".into(), json!(result.feasible));
        out.meta.insert("searched".into(), json!(result.total));
        out.meta.insert("objective".into(), json!(objective));
        out.meta.insert("baseline".into(), json!(baseline_rows));
        out.meta.insert("headline".into(), json!(headlines));
        let _ = roofline::KIND;
        Ok(Artifact::table(KIND, out))
    }
}

/// A design a search singled out, to train and measure: the baseline, and
/// per precision the best design no slower than it (the headline), or the
/// top-ranked design when there is no baseline to compare with.
pub(crate) struct Chosen {
    /// `baseline`, or `best` (`best fp16` when the search covers several
    /// precisions).
    pub role: String,
    pub arch: crate::Architecture,
    pub predicted_loss: f64,
    pub predicted_latency_ms: f64,
}

/// The designs of a `search` output worth training, architectures
/// deduplicated (the first role wins), baseline first.
pub(crate) fn chosen(a: &Artifact) -> Result<Vec<Chosen>, StageError> {
    let t = a
        .as_table()
        .filter(|_| a.kind == KIND)
        .ok_or_else(|| StageError::new("expected the output of a `search` stage"))?;
    let arch = |v: &Value| -> Result<crate::Architecture, StageError> {
        serde_json::from_value(v.clone())
            .map_err(|e| StageError::new(format!("corrupt search output: {e}")))
    };
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let list = |k: &str| {
        t.meta
            .get(k)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let (baselines, headlines) = (list("baseline"), list("headline"));
    let several = headlines.len() > 1;
    let mut out: Vec<Chosen> = Vec::new();
    for b in &baselines {
        out.push(Chosen {
            role: "baseline".into(),
            arch: arch(&b["arch"])?,
            predicted_loss: f(&b["loss"]),
            predicted_latency_ms: f(&b["latency_ms"]),
        });
    }
    for h in &headlines {
        let p = h["precision"].as_str().unwrap_or_default();
        out.push(Chosen {
            role: if several {
                format!("best {p}")
            } else {
                "best".into()
            },
            arch: arch(&h["best"])?,
            predicted_loss: f(&h["best_loss"]),
            predicted_latency_ms: f(&h["best_latency_ms"]),
        });
    }
    if headlines.is_empty() && t.rows() > 0 {
        let objective: Objective = t
            .meta
            .get("objective")
            .and_then(|o| serde_json::from_value(o.clone()).ok())
            .unwrap_or(Objective::Total);
        out.push(Chosen {
            role: "best".into(),
            arch: super::candidates::arch_at(t, 0)?,
            predicted_loss: t.column("loss").map_or(f64::NAN, |c| c.f64_at(0)),
            predicted_latency_ms: row_metrics(t, 0).objective(objective) * 1e3,
        });
    }
    let mut unique: Vec<Chosen> = Vec::new();
    for c in out {
        if !unique.iter().any(|u| u.arch == c.arch) {
            unique.push(c);
        }
    }
    Ok(unique)
}
