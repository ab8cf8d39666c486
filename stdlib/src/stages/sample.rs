//! `sample(candidates, n, by: grid|random|latin_hypercube, seed)`: which
//! architectures to train.
use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Code, Diagnostic, Param, ParamType, Signature};
use rooflaw_engine::{Artifact, Inputs, RunCtx, StageError, StageKind, Table};
use serde_json::{Value, json};

use super::{args, candidates};
use crate::sample::{Method, sample};

pub(crate) struct Sample(Signature);

const METHODS: &[&str] = &["grid", "random", "latin_hypercube"];

impl Sample {
    pub(crate) fn new() -> Self {
        Self(Signature {
            kind: "sample",
            doc: "Choose n candidates to train, deterministically from a seed.",
            params: vec![
                Param::input("candidates", ParamType::Stage, "candidates to choose from"),
                Param::input("n", ParamType::Integer, "how many"),
                Param::optional(
                    "by",
                    ParamType::Enum(METHODS),
                    "sampling method (default latin_hypercube)",
                ),
                Param::optional("seed", ParamType::Integer, "random seed (default 0)"),
            ],
        })
    }
}

impl StageKind for Sample {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn version(&self) -> u32 {
        1
    }

    fn resolve(&self, stage: &Stage, _: &Spec) -> Result<Value, Vec<Diagnostic>> {
        let n = args::integer(stage, "n", 0).map_err(|d| vec![d])?;
        if n == 0 {
            return Err(vec![
                Diagnostic::error(Code::InvalidValue, "`n` must be at least 1")
                    .at(args::span(stage, "n"), "zero"),
            ]);
        }
        let seed = args::integer(stage, "seed", 0).map_err(|d| vec![d])?;
        Ok(
            json!({ "n": n, "by": args::string(stage, "by").unwrap_or("latin_hypercube"), "seed": seed }),
        )
    }

    fn run(&self, _: &RunCtx, params: &Value, inputs: &Inputs) -> Result<Artifact, StageError> {
        let all = candidates::all(inputs.require("candidates")?)?;
        let n = params["n"].as_u64().unwrap_or(1) as usize;
        let method = Method::from_name(params["by"].as_str().unwrap_or(""))
            .unwrap_or(Method::LatinHypercube);
        let seed = params["seed"].as_u64().unwrap_or(0);
        // Sample over the architecture's own axes, so the choice does not
        // depend on how the space was written.
        let coords: Vec<Vec<f64>> = all
            .iter()
            .map(|a| {
                vec![
                    f64::from(a.layers),
                    f64::from(a.width),
                    a.ffn_ratio(),
                    a.rho(),
                    a.kv_dim() as f64,
                    f64::from(a.experts),
                ]
            })
            .collect();
        let picked = sample(&coords, n.min(all.len()), method, seed);
        let mut cols = candidates::ArchColumns::with_capacity(picked.len());
        for &i in &picked {
            cols.push(&all[i]);
        }
        let mut table = Table::new();
        cols.into_columns(&mut table);
        table.meta.insert("population".into(), json!(all.len()));
        Ok(Artifact::table(candidates::TABLE, table))
    }
}
