//! `search(frontier, budget:, baseline:)`: the lowest-loss designs that meet
//! the budget, and the paper's headline comparison against a baseline model
//! at its own latency on this hardware.
use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Diagnostic, Param, ParamType, PresetKind, Signature};
use rooflaw_engine::{Artifact, Column, Inputs, RunCtx, StageError, StageKind, Table};
use serde_json::{Value, json};

use super::{args, law, pareto};
use rooflaw_dsl::spec::CmpOp;

use crate::budget::{Budget, Check, Limit, Metrics, Objective};
use crate::hardware::Hardware;
use crate::search::Evaluated;
use crate::workload::Workload;

pub const KIND: &str = "search";

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
                    ParamType::OneOrMany(Box::new(ParamType::Either(vec![
                        ParamType::Preset(PresetKind::Model),
                        ParamType::Map,
                    ]))),
                    "a model preset, or a shape `{ layers: 3, width: 112, ... }` with a space's field names, or a list of them, to compare with",
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
        // 3: several baselines; the headline is the answer under the
        // budget against each of them.
        3
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

    // Read, search per precision, compare, record: one pass in sequence
    // reads better than helpers passing the same state.
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
        let rows: Vec<Row> = (0..t.rows())
            .map(|i| Row {
                metrics: row_metrics(t, i),
                loss: loss[i],
            })
            .collect();
        let precisions = t
            .strs("precision")
            .map(<[String]>::to_vec)
            .unwrap_or_default();
        let precision_of = |i: usize| precisions.get(i).map_or("", String::as_str);
        let hw: Option<Hardware> = t
            .meta
            .get("hardware")
            .and_then(|h| serde_json::from_value(h.clone()).ok());
        let wls: Vec<Workload> = t
            .meta
            .get("workloads")
            .and_then(|w| serde_json::from_value(w.clone()).ok())
            .unwrap_or_default();
        let baselines = params["baseline"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| Baseline::evaluate(b, &law, tokens, hw.as_ref(), &wls))
            .collect::<Result<Vec<_>, _>>()?;

        // One search per precision, each under the budget, or without one
        // under "no slower than the first baseline at this precision" (the
        // paper's question), so a design is always judged beside a baseline
        // that runs in its own precision.
        let mut groups: Vec<&str> = Vec::new();
        for i in 0..rows.len() {
            if !groups.contains(&precision_of(i)) {
                groups.push(precision_of(i));
            }
        }
        let k = params["top"].as_u64().unwrap_or(5) as usize;
        let mut picks = Vec::new();
        let (mut feasible, mut total) = (0, 0);
        let mut closest: Vec<Option<Check>> = Vec::new();
        let mut limit_of: Option<Budget> = None;
        for g in &groups {
            let index: Vec<usize> = (0..rows.len()).filter(|&i| precision_of(i) == *g).collect();
            let items: Vec<&Row> = index.iter().map(|&i| &rows[i]).collect();
            let limit = match (&budget, baselines.first()) {
                (Some(b), _) => held(b, hw.as_ref(), &wls, g)?,
                (None, Some(base)) => base.as_limit(g, objective),
                (None, None) => Budget {
                    name: "none".into(),
                    ..Budget::default()
                },
            };
            let r = crate::search::search(&items, &limit, k);
            feasible += r.feasible;
            total += r.total;
            picks.extend(r.top.into_iter().map(|mut p| {
                p.index = index[p.index];
                p
            }));
            let near = crate::search::closest(&items, &limit);
            closest.resize(near.len().max(closest.len()), None);
            for (c, n) in closest.iter_mut().zip(near) {
                if n.is_some_and(|n| c.is_none_or(|c| n.margin > c.margin)) {
                    *c = n;
                }
            }
            limit_of.get_or_insert(limit);
        }
        picks.sort_by(|a, b| a.loss.total_cmp(&b.loss).then(a.index.cmp(&b.index)));
        picks.truncate(k);

        let mut out = t.select(&picks.iter().map(|p| p.index).collect::<Vec<_>>());
        if out.column("loss").is_none() {
            out.push("loss", Column::F64(picks.iter().map(|p| p.loss).collect()));
            out.push(
                "perplexity",
                Column::F64(picks.iter().map(|p| p.perplexity).collect()),
            );
        }
        out.columns.insert(
            0,
            (
                "rank".into(),
                Column::I32((1..=i32::try_from(picks.len()).unwrap_or(i32::MAX)).collect()),
            ),
        );
        let margins: Vec<String> = picks
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

        // The answer (the lowest-loss design within the limit) against every
        // baseline in the answer's precision.
        let mut headlines = Vec::new();
        if let Some(best) = picks.first() {
            let precision = precision_of(best.index);
            let arch = super::candidates::arch_at(t, best.index)?;
            for base in &baselines {
                let Some(m) = base.at(precision) else {
                    continue;
                };
                let (bl, pl) = (best.loss, base.loss);
                headlines.push(json!({
                    "precision": precision,
                    "baseline": base.id,
                    "objective": objective,
                    "baseline_latency_ms": m.objective(objective) * 1e3,
                    "best_latency_ms": best.metrics.objective(objective) * 1e3,
                    "baseline_memory_bytes": m.memory_bytes,
                    "best_memory_bytes": best.metrics.memory_bytes,
                    "baseline_loss": pl,
                    "best_loss": bl,
                    "baseline_perplexity": pl.exp(),
                    "best_perplexity": bl.exp(),
                    "perplexity_reduction_pct": (1.0 - (bl - pl).exp()) * 100.0,
                    "loss_reduction_pct": (1.0 - bl / pl) * 100.0,
                    "best": args::json(&arch),
                }));
            }
        }
        out.meta.clone_from(&t.meta);
        out.meta.remove("cloud");
        // The budget as the first precision's designs were held to it (a
        // confident budget with its band ends).
        out.meta.insert(
            "budget".into(),
            budget
                .as_ref()
                .and(limit_of.as_ref())
                .map(args::json)
                .unwrap_or_default(),
        );
        // What the designs were held to: the budget, or the first baseline's
        // latency per precision.
        let implied = budget.is_none() && !baselines.is_empty();
        out.meta.insert(
            "limit".into(),
            json!({
                "kind": if budget.is_some() { "budget" } else if implied { "baseline" } else { "none" },
                "name": limit_of.as_ref().map_or("none", |b| b.name.as_str()),
            }),
        );
        out.meta.insert("feasible".into(), json!(feasible));
        out.meta.insert("searched".into(), json!(total));
        out.meta.insert("objective".into(), json!(objective));
        out.meta.insert(
            "baseline".into(),
            json!(
                baselines
                    .iter()
                    .flat_map(|b| b.rows(objective))
                    .collect::<Vec<_>>()
            ),
        );
        out.meta.insert("headline".into(), json!(headlines));
        out.meta.insert("closest".into(), args::json(&closest));
        Ok(Artifact::table(KIND, out))
    }
}

/// `budget` for the designs of precision `precision`: a confident budget
/// takes its band ends from the runtime and hardware they were predicted
/// for.
fn held(
    budget: &Budget,
    hw: Option<&Hardware>,
    wls: &[Workload],
    precision: &str,
) -> Result<Budget, StageError> {
    if budget.confidence.is_none() {
        return Ok(budget.clone());
    }
    let wl = wls
        .iter()
        .find(|w| w.precision.label() == precision)
        .or_else(|| wls.first());
    match (hw, wl) {
        (Some(hw), Some(wl)) => Ok(budget.under(&wl.runtime, hw)),
        _ => Err(StageError::new(format!(
            "budget `{}` asks for a confidence, but these designs do not say which hardware and runtime predicted them: search a roofline or pareto stage",
            budget.name
        ))),
    }
}

/// A baseline model, evaluated on the searched hardware in every workload
/// precision.
struct Baseline {
    id: String,
    arch: Value,
    loss: f64,
    /// The law refused the shape and was extrapolated for it.
    extrapolated: bool,
    /// (precision label, figures).
    at: Vec<(String, Metrics)>,
}

impl Baseline {
    fn evaluate(
        b: &Value,
        law: &crate::law::Law,
        tokens: Option<f64>,
        hw: Option<&Hardware>,
        wls: &[Workload],
    ) -> Result<Self, StageError> {
        let arch: crate::Architecture = serde_json::from_value(b["arch"].clone())
            .map_err(|e| StageError::new(e.to_string()))?;
        let (loss, extrapolated) = match law.predict(&arch, tokens) {
            Ok(l) => (l, false),
            Err(_) => (
                law.clone()
                    .with_extrapolate(true)
                    .predict(&arch, tokens)
                    .map_err(|e| StageError::new(e.to_string()))?,
                true,
            ),
        };
        let mut at = Vec::new();
        if let Some(hw) = hw {
            for wl in wls {
                let s = crate::roofline::evaluate(&arch, hw, wl)
                    .map_err(|e| StageError::new(format!("baseline: {e}")))?;
                at.push((wl.precision.label(), Metrics::from_summary(&s)));
            }
        }
        Ok(Self {
            id: b["id"].as_str().unwrap_or("baseline").to_string(),
            arch: b["arch"].clone(),
            loss,
            extrapolated,
            at,
        })
    }

    /// Figures in `precision`; a table without precisions has one workload.
    fn at(&self, precision: &str) -> Option<&Metrics> {
        self.at
            .iter()
            .find(|(p, _)| p == precision)
            .or_else(|| self.at.first().filter(|_| precision.is_empty()))
            .map(|(_, m)| m)
    }

    /// "No slower than this baseline" in `precision`, as a budget.
    fn as_limit(&self, precision: &str, objective: Objective) -> Budget {
        Budget {
            name: format!("as fast as {}", self.id),
            limits: self
                .at(precision)
                .map(|m| Limit {
                    metric: objective.metric(),
                    op: CmpOp::Le,
                    bound: m.objective(objective),
                })
                .into_iter()
                .collect(),
            ..Budget::default()
        }
    }

    fn rows(&self, objective: Objective) -> Vec<Value> {
        self.at
            .iter()
            .map(|(p, m)| {
                json!({
                    "id": self.id,
                    "arch": self.arch,
                    "precision": p,
                    "latency_ms": m.objective(objective) * 1e3,
                    "metrics": m,
                    "loss": self.loss,
                    "perplexity": self.loss.exp(),
                    "loss_extrapolated": self.extrapolated,
                })
            })
            .collect()
    }
}

/// A design a search singled out, to train and measure: each baseline, and
/// the search's answer (its top-ranked design).
pub struct Chosen {
    /// `baseline` or `best`.
    pub role: String,
    pub arch: crate::Architecture,
    pub predicted_loss: f64,
    pub predicted_latency_ms: f64,
}

/// The designs of a `search` output worth training, architectures
/// deduplicated (the first role wins), baseline first.
pub fn chosen(a: &Artifact) -> Result<Vec<Chosen>, StageError> {
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
    let mut out: Vec<Chosen> = Vec::new();
    for b in &list("baseline") {
        out.push(Chosen {
            role: "baseline".into(),
            arch: arch(&b["arch"])?,
            predicted_loss: f(&b["loss"]),
            predicted_latency_ms: f(&b["latency_ms"]),
        });
    }
    if t.rows() > 0 {
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
