//! `pareto(latency, law, objective: total)`: score every candidate with the
//! law and keep the loss–latency frontier, per precision.
use std::borrow::Cow;
use std::collections::BTreeMap;

use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Diagnostic, Param, ParamType, Signature};
use rooflaw_engine::{Artifact, Column, Inputs, RunCtx, StageError, StageKind, Table};
use serde_json::{Value, json};

use super::{args, candidates, law, roofline};
use crate::budget::Objective;

pub(crate) const KIND: &str = "frontier";

pub(crate) struct Pareto(Signature);

impl Pareto {
    pub(crate) fn new() -> Self {
        Self(Signature {
            kind: "pareto",
            doc: "The loss–latency Pareto frontier of evaluated candidates, one per precision.",
            params: vec![
                Param::input(
                    "latency",
                    ParamType::OneOrMany(Box::new(ParamType::Stage)),
                    "roofline stage(s)",
                ),
                Param::input("law", ParamType::Stage, "a law stage"),
                Param::optional(
                    "objective",
                    ParamType::Enum(Objective::NAMES),
                    "which latency (default total)",
                ),
            ],
        })
    }
}

/// Table column of an objective.
pub(crate) fn column(o: Objective) -> &'static str {
    match o {
        Objective::Prefill => "prefill_ms",
        Objective::Decode => "decode_ms",
        Objective::Total => "total_ms",
        Objective::PerToken => "decode_ms_per_token",
        Objective::Memory => "memory_bytes",
    }
}

/// Losses of every row of a roofline table; NaN where the law refuses.
pub(crate) fn losses(
    t: &Table,
    law: &crate::law::Law,
    tokens: Option<f64>,
) -> (Vec<f64>, u64, Option<String>) {
    use rayon::prelude::*;
    let rows: Vec<Result<f64, String>> = (0..t.rows())
        .into_par_iter()
        .map(|i| {
            let arch = candidates::arch_at(t, i).map_err(|e| e.to_string())?;
            law.predict(&arch, tokens).map_err(|e| e.to_string())
        })
        .collect();
    let mut refused = 0;
    let mut first = None;
    let losses = rows
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|e| {
                refused += 1;
                first.get_or_insert(e);
                f64::NAN
            })
        })
        .collect();
    (losses, refused, first)
}

/// Thin a point cloud for plotting: one point per cell of a 240×120 grid
/// over log-latency and loss, per group. Frontier points are kept apart.
fn cloud(lat: &[f64], loss: &[f64], group: &[String]) -> Value {
    let ok: Vec<usize> = (0..lat.len())
        .filter(|&i| lat[i] > 0.0 && lat[i].is_finite() && loss[i].is_finite())
        .collect();
    let (mut lo_x, mut hi_x, mut lo_y, mut hi_y) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &i in &ok {
        lo_x = lo_x.min(lat[i].ln());
        hi_x = hi_x.max(lat[i].ln());
        lo_y = lo_y.min(loss[i]);
        hi_y = hi_y.max(loss[i]);
    }
    let mut seen = std::collections::HashSet::new();
    let (mut xs, mut ys, mut gs) = (Vec::new(), Vec::new(), Vec::new());
    for &i in &ok {
        let cx = ((lat[i].ln() - lo_x) / (hi_x - lo_x).max(1e-12) * 239.0) as i64;
        let cy = ((loss[i] - lo_y) / (hi_y - lo_y).max(1e-12) * 119.0) as i64;
        if seen.insert((group[i].clone(), cx, cy)) {
            xs.push(lat[i]);
            ys.push(loss[i]);
            gs.push(group[i].clone());
        }
    }
    json!({ "latency_ms": xs, "loss": ys, "group": gs, "total": lat.len() })
}

impl StageKind for Pareto {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn version(&self) -> u32 {
        1
    }

    fn resolve(&self, stage: &Stage, _: &Spec) -> Result<Value, Vec<Diagnostic>> {
        Ok(json!({ "objective": args::string(stage, "objective").unwrap_or("total") }))
    }

    fn run(&self, ctx: &RunCtx, params: &Value, inputs: &Inputs) -> Result<Artifact, StageError> {
        let objective = Objective::from_name(params["objective"].as_str().unwrap_or("total"))
            .unwrap_or(Objective::Total);
        let (law, tokens) = law::read(inputs.require("law")?)?;
        // One input is used in place: copying a million-row table costs more
        // than scoring it.
        let mut table: Option<Cow<'_, Table>> = None;
        let mut meta = serde_json::Map::new();
        for (stage, a) in inputs.all("latency") {
            let t = a
                .as_table()
                .filter(|_| a.kind == roofline::KIND)
                .ok_or_else(|| {
                    StageError::new(format!(
                        "`pareto` reads roofline outputs; `{stage}` is a {}",
                        a.kind
                    ))
                })?;
            meta.entry("hardware")
                .or_insert_with(|| t.meta.get("hardware").cloned().unwrap_or_default());
            let wl = meta.entry("workloads").or_insert_with(|| json!([]));
            if let (Some(list), Some(more)) = (
                wl.as_array_mut(),
                t.meta.get("workloads").and_then(Value::as_array),
            ) {
                list.extend(more.iter().cloned());
            }
            table = Some(match table {
                None => Cow::Borrowed(t),
                Some(prev) => Cow::Owned(roofline::concat(prev.into_owned(), t.clone())),
            });
        }
        let t = table.ok_or_else(|| StageError::new("no latency input"))?;
        ctx.progress
            .message(format!("scoring {} candidates", t.rows()));
        let (loss, refused, first) = losses(&t, &law, tokens);
        if refused as usize == t.rows() {
            return Err(StageError::new(format!(
                "the law `{}` refuses every candidate: {}; pass `extrapolate: true` to `law(...)` to predict anyway",
                law.name,
                first.unwrap_or_default()
            )));
        }
        let lat = t
            .f64s(column(objective))
            .ok_or_else(|| StageError::new("latency table lacks the objective column"))?;
        let group = t
            .strs("precision")
            .map_or_else(|| vec![String::new(); t.rows()], <[String]>::to_vec);
        let idx: Vec<usize> = (0..t.rows()).collect();
        let fronts =
            crate::pareto::frontier_by_group(&idx, |&i| group[i].clone(), |&i| (lat[i], loss[i]));
        let mut keep = Vec::new();
        for (_, f) in &fronts {
            let mut f = f.clone();
            f.sort_by(|&a, &b| lat[a].total_cmp(&lat[b]));
            keep.extend(f);
        }
        let mut out = t.select(&keep);
        out.push("loss", Column::F64(keep.iter().map(|&i| loss[i]).collect()));
        out.push(
            "perplexity",
            Column::F64(keep.iter().map(|&i| loss[i].exp()).collect()),
        );
        let mut sizes = BTreeMap::new();
        for (g, f) in &fronts {
            sizes.insert(g.clone(), f.len());
        }
        out.meta = meta;
        out.meta.insert("objective".into(), json!(objective));
        out.meta.insert("law".into(), args::json(&law));
        out.meta.insert("tokens".into(), json!(tokens));
        out.meta.insert("evaluated".into(), json!(t.rows()));
        out.meta.insert("refused_by_law".into(), json!(refused));
        if let Some(f) = first {
            out.meta.insert("refusal_example".into(), json!(f));
        }
        out.meta.insert("frontier_sizes".into(), json!(sizes));
        out.meta.insert("cloud".into(), cloud(lat, &loss, &group));
        Ok(Artifact::table(KIND, out))
    }
}
