//! `refine(space, hardware:, workload:, law:)`: the paper's adaptive
//! frontier search (§4.3.1) for spaces too large to enumerate: a
//! Latin-hypercube start, then new candidates in the widest frontier gaps
//! and around frontier points until the frontier's hypervolume stops
//! moving. Its output is a frontier table, like `pareto`'s.
use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Diagnostic, Param, ParamType, Signature};
use rooflaw_engine::{Artifact, Column, Inputs, RunCtx, StageError, StageKind, Table};
use serde_json::{Value, json};

use super::{args, candidates, law, pareto, roofline};
use crate::budget::{Metrics, Objective};
use crate::sample::{Method, latin_hypercube, ordinals, pick};
use crate::search::{RefineOptions, refine};
use crate::space::{Candidate, CompiledSpace};
use crate::workload::Workload;

pub(crate) struct Refine(Signature);

/// Candidates the Latin-hypercube start is drawn from, spread evenly over
/// the space, so the start never needs the whole space in memory.
const POOL: u64 = 20_000;

impl Refine {
    pub(crate) fn new() -> Self {
        Self(Signature {
            kind: "refine",
            doc: "Adaptive loss–latency frontier search over a space too large to enumerate (paper §4.3.1).",
            params: vec![
                Param::input("space", ParamType::Space, "the search space"),
                args::hardware_param(args::THE_CHIP),
                Param::required("workload", ParamType::Workload, "the workload"),
                Param::required("law", ParamType::Stage, "a law stage"),
                Param::optional(
                    "objective",
                    ParamType::Enum(Objective::NAMES),
                    "which latency (default total)",
                ),
                Param::optional(
                    "start",
                    ParamType::Integer,
                    "Latin-hypercube starting designs (default 64)",
                ),
                Param::optional("seed", ParamType::Integer, "seed of the start (default 0)"),
            ],
        })
    }
}

impl StageKind for Refine {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn version(&self) -> u32 {
        1
    }

    fn resolve(&self, stage: &Stage, spec: &Spec) -> Result<Value, Vec<Diagnostic>> {
        let space = args::space(stage, spec, "space")?;
        let hw = args::hardware(stage, spec, "hardware")?;
        let wls = args::workloads(stage, spec, "workload")?;
        let mut params = json!({
            "space": space,
            "workloads": args::json(&wls),
            "objective": args::string(stage, "objective").unwrap_or("total"),
            "start": args::integer(stage, "start", 64).map_err(|d| vec![d])?.max(2),
            "seed": args::integer(stage, "seed", 0).map_err(|d| vec![d])?,
        });
        hw.insert(&mut params, "hardware");
        Ok(params)
    }

    fn run(&self, ctx: &RunCtx, params: &Value, inputs: &Inputs) -> Result<Artifact, StageError> {
        let bad = |e: serde_json::Error| StageError::new(e.to_string());
        let space: rooflaw_dsl::spec::Space =
            serde_json::from_value(params["space"].clone()).map_err(bad)?;
        let space = CompiledSpace::compile(&space).map_err(|d| {
            StageError::new(d.first().map_or_else(String::new, |d| d.message.clone()))
        })?;
        let hw = args::hardware_of(params, inputs, "hardware")?;
        let wls: Vec<Workload> =
            serde_json::from_value(params["workloads"].clone()).map_err(bad)?;
        let objective = Objective::from_name(params["objective"].as_str().unwrap_or("total"))
            .unwrap_or(Objective::Total);
        let (law, tokens) = law::read(inputs.require("law")?)?;
        let n_start = params["start"].as_u64().unwrap_or(64) as usize;
        let seed = params["seed"].as_u64().unwrap_or(0);

        ctx.progress.message("drawing the start");
        let (count, _) = space.count();
        let pool: Vec<Candidate> = pick(space.iter(), &ordinals(count, POOL, Method::Grid, seed));
        let coords: Vec<Vec<f64>> = pool.iter().map(|c| c.values.clone()).collect();
        let start: Vec<Candidate> = latin_hypercube(&coords, n_start, seed)
            .into_iter()
            .map(|i| pool[i].clone())
            .collect();

        let mut table: Option<Table> = None;
        let mut rounds = Vec::new();
        for wl in &wls {
            ctx.progress
                .message(format!("refining the {} frontier", wl.precision.label()));
            let score = |c: &Candidate| {
                let s = crate::roofline::evaluate(&c.arch, &hw, wl).ok()?;
                let loss = law.predict(&c.arch, tokens).ok()?;
                Some((Metrics::from_summary(&s).objective(objective), loss))
            };
            let r = refine(
                start.clone(),
                Candidate::key,
                score,
                |c| space.neighbours(c),
                |a, b| space.between(a, b),
                &RefineOptions::default(),
            );
            let archs: Vec<crate::Architecture> = r
                .frontier
                .iter()
                .map(|&i| r.evaluated[i].0.arch.clone())
                .collect();
            let cands = Artifact::table(candidates::TABLE, {
                let mut c = candidates::ArchColumns::with_capacity(archs.len());
                for a in &archs {
                    c.push(a);
                }
                let mut t = Table::new();
                c.into_columns(&mut t);
                t
            });
            let (mut t, _) = roofline::evaluate_all(&cands, &hw, wl)?;
            let loss: Vec<f64> = r.frontier.iter().map(|&i| r.evaluated[i].2).collect();
            t.push(
                "perplexity",
                Column::F64(loss.iter().map(|l| l.exp()).collect()),
            );
            t.push("loss", Column::F64(loss));
            rounds.push(json!({
                "precision": wl.precision.label(),
                "evaluated": r.evaluated.len(),
                "attempts": r.attempts,
                "hypervolumes": r.hypervolumes,
                "converged": r.converged,
            }));
            table = Some(match table {
                None => t,
                Some(prev) => roofline::concat(prev, t),
            });
        }
        let mut t = table.ok_or_else(|| StageError::new("the workload lists no precision"))?;
        t.meta.insert("hardware".into(), args::json(&hw));
        t.meta
            .insert("workloads".into(), params["workloads"].clone());
        t.meta.insert("objective".into(), json!(objective));
        t.meta.insert("law".into(), args::json(&law));
        t.meta.insert("tokens".into(), json!(tokens));
        t.meta.insert("space_size".into(), json!(count));
        t.meta.insert("refinement".into(), json!(rounds));
        let _ = pareto::KIND;
        Ok(Artifact::table(pareto::KIND, t))
    }
}
