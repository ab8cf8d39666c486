//! `train(sample, tokens: 2M, ...)`: train each candidate with candle and
//! measure its validation loss. A map stage: each architecture's run is one
//! cached item, a self-contained [`TrainJob`] behind the [`Executor`]
//! boundary, so adding candidates trains only the new ones.
use std::ops::ControlFlow;
use std::sync::Arc;

use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Diagnostic, Dim, Param, ParamType, PresetKind, Signature};
use rooflaw_engine::{Artifact, Column, Inputs, MapStage, RunCtx, StageError, StageKind, Table};
use serde_json::{Value, json};

use super::{args, candidates, search};
use crate::train::{CorpusRef, Executor, LocalExecutor, Recipe, TrainJob, TrainResult};

pub(crate) const KIND: &str = "runs";

pub(crate) struct Train {
    sig: Signature,
    executor: Arc<LocalExecutor>,
}

impl Train {
    pub(crate) fn new() -> Self {
        Self {
            sig: Signature {
                kind: "train",
                doc: "Train every candidate on a corpus and measure its validation loss (one cached run per architecture).",
                params: vec![
                    Param::input(
                        "candidates",
                        ParamType::Stage,
                        "a sample stage, or a search stage: its baseline and best designs",
                    ),
                    Param::optional(
                        "corpus",
                        ParamType::Preset(PresetKind::Corpus),
                        "the corpus (default \"sotu\", the State of the Union addresses)",
                    ),
                    Param::optional(
                        "tokens",
                        ParamType::Number(Dim::TOKENS),
                        "training tokens per run (default 1M)",
                    ),
                    Param::optional(
                        "seq_len",
                        ParamType::Integer,
                        "sequence length (default 128)",
                    ),
                    Param::optional(
                        "batch",
                        ParamType::Integer,
                        "sequences per step (default 16)",
                    ),
                    Param::optional(
                        "lr",
                        ParamType::Number(Dim::NONE),
                        "peak learning rate (default 1e-3)",
                    ),
                    Param::optional(
                        "seed",
                        ParamType::Integer,
                        "seed of initialisation and batches (default 0)",
                    ),
                ],
            },
            executor: Arc::new(LocalExecutor::new()),
        }
    }
}

impl StageKind for Train {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn version(&self) -> u32 {
        // 2: a search as candidates (role and predicted columns); qkv_bias column.
        2
    }

    fn resolve(&self, stage: &Stage, _: &Spec) -> Result<Value, Vec<Diagnostic>> {
        let int = |p, d| args::integer(stage, p, d).map_err(|e| vec![e]);
        let mut recipe = Recipe::small(
            args::number(stage, "tokens").unwrap_or(1e6) as u64,
            int("seed", 0)?,
        );
        recipe.seq_len = int("seq_len", 128)? as usize;
        recipe.batch = int("batch", 16)? as usize;
        recipe.lr = args::number(stage, "lr").unwrap_or(recipe.lr);
        recipe.validate().map_err(|e| {
            vec![
                Diagnostic::error("rooflaw::invalid-value", e.to_string())
                    .at(stage.span, "this training recipe"),
            ]
        })?;
        let corpus = args::string(stage, "corpus").unwrap_or("sotu");
        // The corpus's content hash is part of every job's key.
        let c = self.executor.corpus(corpus).map_err(|e| {
            vec![
                Diagnostic::error("rooflaw::unknown-corpus", e.to_string())
                    .at(args::span(stage, "corpus"), "this corpus"),
            ]
        })?;
        Ok(json!({ "recipe": args::json(&recipe), "corpus": args::json(&CorpusRef::of(&c)) }))
    }

    fn environment(&self, params: &Value) -> Value {
        // Results depend on the device (and its kernels), so it is keyed.
        json!({ "device": params["recipe"]["device"], "backend": "candle-0.11" })
    }

    fn run(&self, _: &RunCtx, _: &Value, _: &Inputs) -> Result<Artifact, StageError> {
        Err(StageError::new("train runs item by item"))
    }

    fn as_map(&self) -> Option<&dyn MapStage> {
        Some(self)
    }
}

impl MapStage for Train {
    fn items(&self, params: &Value, inputs: &Inputs) -> Result<Vec<Value>, StageError> {
        let archs = candidates::designs(inputs.require("candidates")?)?;
        let recipe: Recipe = serde_json::from_value(params["recipe"].clone())
            .map_err(|e| StageError::new(e.to_string()))?;
        let corpus: CorpusRef = serde_json::from_value(params["corpus"].clone())
            .map_err(|e| StageError::new(e.to_string()))?;
        Ok(archs
            .into_iter()
            .map(|arch| {
                args::json(&TrainJob {
                    arch,
                    recipe: recipe.clone(),
                    corpus: corpus.clone(),
                })
            })
            .collect())
    }

    fn run_item(&self, ctx: &RunCtx, item: &Value) -> Result<Artifact, StageError> {
        let job: TrainJob =
            serde_json::from_value(item.clone()).map_err(|e| StageError::new(e.to_string()))?;
        let label = crate::train::model::label(&job.arch);
        let eta = crate::eta::Eta::start();
        let mut progress = |p: &crate::train::Progress| {
            ctx.progress.message(format!(
                "{label}: step {}/{} loss {:.3} {:.0} tok/s{}",
                p.step,
                p.steps,
                p.loss,
                p.tokens_per_s,
                eta.suffix(p.step, p.steps)
            ));
            if ctx.cancelled() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let r = self
            .executor
            .run(&job, &ctx.workdir, &mut progress)
            .map_err(|e| StageError::new(format!("{label}: {e}")))?;
        Ok(Artifact::json(
            "run",
            json!({ "result": args::json(&r), "arch": args::json(&job.arch) }),
        ))
    }

    fn combine(
        &self,
        _: &Value,
        inputs: &Inputs,
        _: &[Value],
        results: &[Arc<Artifact>],
    ) -> Result<Artifact, StageError> {
        let mut archs = candidates::ArchColumns::with_capacity(results.len());
        let mut cols: [Vec<f64>; 7] = Default::default();
        for a in results {
            let v = a
                .as_json()
                .ok_or_else(|| StageError::new("corrupt training result"))?;
            let arch: crate::Architecture = serde_json::from_value(v["arch"].clone())
                .map_err(|e| StageError::new(e.to_string()))?;
            let r: TrainResult = serde_json::from_value(v["result"].clone())
                .map_err(|e| StageError::new(e.to_string()))?;
            archs.push(&arch);
            for (c, x) in cols.iter_mut().zip([
                r.params as f64,
                r.tokens as f64,
                r.final_train_loss,
                r.val_loss,
                r.val_ppl,
                r.wall_s,
                r.tokens_per_s,
            ]) {
                c.push(x);
            }
        }
        let mut t = Table::new();
        archs.into_columns(&mut t);
        for (name, c) in [
            "trained_params",
            "tokens",
            "train_loss",
            "val_loss",
            "val_ppl",
            "wall_s",
            "tokens_per_s",
        ]
        .iter()
        .zip(cols)
        {
            t.push(*name, Column::F64(c));
        }
        let input = inputs.require("candidates")?;
        if input.kind == search::KIND {
            // Which design each run is, and what the law and the roofline
            // predicted for it, next to what training measured.
            let chosen = search::chosen(input)?;
            let mut t2 = Table::new();
            t2.push(
                "role",
                Column::Str(chosen.iter().map(|c| c.role.clone()).collect()),
            );
            t2.columns.extend(t.columns);
            t2.push(
                "predicted_loss",
                Column::F64(chosen.iter().map(|c| c.predicted_loss).collect()),
            );
            t2.push(
                "predicted_ppl",
                Column::F64(chosen.iter().map(|c| c.predicted_loss.exp()).collect()),
            );
            t2.push(
                "predicted_latency_ms",
                Column::F64(chosen.iter().map(|c| c.predicted_latency_ms).collect()),
            );
            t2.meta = input.as_table().map(|s| s.meta.clone()).unwrap_or_default();
            t = t2;
        }
        Ok(Artifact::table(KIND, t))
    }
}
