//! `train(sample, tokens: 2M, ...)`: train each candidate with candle and
//! measure its validation loss. A map stage: each architecture's run is one
//! cached item, a self-contained [`TrainJob`] behind the [`Executor`]
//! boundary, so adding candidates trains only the new ones.
use std::ops::ControlFlow;
use std::sync::Arc;

use rooflaw_dsl::spec::{RefKind, Spec, Stage};
use rooflaw_dsl::{Code, Diagnostic, Dim, Param, ParamType, PresetKind, Signature};
use rooflaw_engine::{Artifact, Column, Inputs, MapStage, RunCtx, StageError, StageKind, Table};
use serde_json::{Value, json};

use crate::train::command::{self, ExternalTrainer};
use crate::train::slurm::{self, SlurmSettings};
use crate::train::{
    CorpusRef, CorpusSpec, DeviceKind, Executor, LocalExecutor, Precision, Recipe, TrainJob,
    TrainResult,
};
use rooflaw_stdlib::stages::{args, candidates, search};
use std::collections::HashMap;
use std::sync::Mutex;

pub(crate) const KIND: &str = "runs";

pub(crate) struct Train {
    sig: Signature,
    executor: Arc<LocalExecutor>,
    /// Where each job runs, by job key: the executor is a stage parameter,
    /// not part of the job (a result is the same wherever it was trained).
    dispatch: Mutex<HashMap<String, Dispatch>>,
    /// Held while a stage's new jobs are submitted, so they go in once.
    submitting: Mutex<()>,
}

/// A job sent to Slurm: the settings, and every job of its stage (submitted
/// together as one array job).
#[derive(Clone)]
struct Dispatch {
    settings: Arc<SlurmSettings>,
    stage_jobs: Arc<Vec<TrainJob>>,
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
                        ParamType::Either(vec![
                            ParamType::Corpus,
                            ParamType::Preset(PresetKind::Corpus),
                        ]),
                        "a `corpus` block, or a bundled corpus by name (default \"sotu\", the State of the Union addresses)",
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
                    Param::optional(
                        "device",
                        ParamType::Enum(&["cpu", "cuda"]),
                        "where rooflaw's trainer runs: `cpu` (default) or `cuda`, the first GPU (needs a build with `--features cuda`)",
                    ),
                    Param::optional(
                        "precision",
                        ParamType::Enum(Precision::NAMES),
                        "the matmuls' float type: `bf16` (default on cuda; fp32 master weights, fp32 norms and loss) or `fp32` (default on cpu)",
                    ),
                    Param::optional(
                        "command",
                        ParamType::Str,
                        "train with a command of your own instead: `python train.py --config {config} --out {result}` (needs `--allow-commands`)",
                    ),
                    Param::optional(
                        "gpu",
                        ParamType::Hardware,
                        "the accelerator the jobs run on, for `rooflaw plan`'s cost estimate (its bf16 peak)",
                    ),
                    Param::optional(
                        "utilisation",
                        ParamType::Number(Dim::NONE),
                        "model FLOPs utilisation assumed by the cost estimate (default 0.4)",
                    ),
                    Param::optional(
                        "executor",
                        ParamType::Map,
                        "where jobs run: `local {}` (default) or `slurm { partition: \"gpu\", gpus: 1, time: 48 h, account: \"x\" }`",
                    ),
                ],
            },
            executor: Arc::new(LocalExecutor::new()),
            dispatch: Mutex::new(HashMap::new()),
            submitting: Mutex::new(()),
        }
    }
}

/// `device:` and `precision:` into the recipe. bf16 is the default on a GPU
/// and unavailable on the CPU (candle's CPU matmul has no bf16). A GPU asked
/// of a build without CUDA is an error here when the jobs would run in this
/// process; a Slurm job runs the cluster's own rooflaw, which may have it.
fn device_and_precision(stage: &Stage, recipe: &mut Recipe) -> Result<(), Vec<Diagnostic>> {
    if args::string(stage, "device") == Some("cuda") {
        recipe.device = DeviceKind::Cuda;
        recipe.precision = Precision::Bf16;
    }
    if let Some(p) = args::string(stage, "precision").and_then(Precision::parse) {
        recipe.precision = p;
    }
    if recipe.precision == Precision::Bf16 && recipe.device == DeviceKind::Cpu {
        return Err(vec![
            Diagnostic::error(Code::InvalidValue, Precision::BF16_ON_CPU)
                .at(args::span(stage, "precision"), "on the CPU")
                .help("add `device: cuda`, or train in `precision: fp32` on the CPU"),
        ]);
    }
    let local = matches!(super::executor::resolve(stage), Ok(None))
        && args::value(stage, "command").is_none();
    if recipe.device == DeviceKind::Cuda && local && !cfg!(feature = "cuda") {
        return Err(vec![
            Diagnostic::error(
                Code::InvalidValue,
                "this rooflaw was built without CUDA, so it cannot train on a GPU",
            )
            .at(args::span(stage, "device"), "needs the `cuda` feature")
            .help(
                "rebuild with `cargo build --release --features cuda` (needs nvcc), \
                 or run the jobs on a cluster whose rooflaw has it (`executor: slurm {...}`)",
            ),
        ]);
    }
    Ok(())
}

impl StageKind for Train {
    fn signature(&self) -> &Signature {
        &self.sig
    }

    fn version(&self) -> u32 {
        // 2: a search as candidates (role and predicted columns); qkv_bias column.
        2
    }

    fn resolve(&self, stage: &Stage, spec: &Spec) -> Result<Value, Vec<Diagnostic>> {
        let int = |p, d| args::integer(stage, p, d).map_err(|e| vec![e]);
        let mut recipe = Recipe::small(
            args::number(stage, "tokens").unwrap_or(1e6) as u64,
            int("seed", 0)?,
        );
        recipe.seq_len = int("seq_len", 128)? as usize;
        recipe.batch = int("batch", 16)? as usize;
        recipe.lr = args::number(stage, "lr").unwrap_or(recipe.lr);
        device_and_precision(stage, &mut recipe)?;
        recipe.validate().map_err(|e| {
            vec![
                Diagnostic::error(Code::InvalidValue, e.to_string())
                    .at(stage.span, "this training recipe"),
            ]
        })?;
        let base = std::path::Path::new(&spec.sources.get(stage.span.file).name)
            .parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or_default();
        let base = std::fs::canonicalize(&base).unwrap_or(base);
        let command = match args::string(stage, "command") {
            Some(c) => Some(ExternalTrainer::parse(c, &base).map_err(|why| {
                vec![
                    Diagnostic::error(Code::Command, why)
                        .at(args::span(stage, "command"), "this command")
                        .help(format!(
                            "placeholders: {}; the command writes its result JSON to {{result}}",
                            command::PLACEHOLDERS
                                .iter()
                                .map(|p| format!("{{{p}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )),
                ]
            })?),
            None => None,
        };
        let mut out = json!({ "recipe": args::json(&recipe) });
        if let Some(c) = &command {
            out["command"] = args::json(c);
        }
        if let Some(s) = super::executor::resolve(stage)? {
            out["slurm"] = args::json(&s);
        }
        out["estimate"] = super::cost::resolve(stage, spec)?;
        // The corpus's content hash is part of every job's key; a declared
        // corpus's files go into the parameters too, for `items` to declare
        // them to the executor (the items, and so their keys, hold only the hash).
        if let Some(name) = args::reference(stage, "corpus", RefKind::Corpus) {
            let block = spec
                .corpus(name)
                .ok_or_else(|| vec![args::missing(stage, "corpus")])?;
            let (source, hash) = super::corpus::resolve(block, spec)?;
            let r = CorpusRef {
                name: name.to_string(),
                hash,
            };
            out["corpus"] = args::json(&r);
            out["source"] = args::json(&source);
            return Ok(out);
        }
        let corpus = args::string(stage, "corpus").unwrap_or("sotu");
        let c = self.executor.corpus(corpus).map_err(|e| {
            vec![
                Diagnostic::error(Code::UnknownCorpus, e.to_string())
                    .at(args::span(stage, "corpus"), "this corpus"),
            ]
        })?;
        out["corpus"] = args::json(&CorpusRef::of(&c));
        Ok(out)
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

    fn estimate(&self, params: &Value, inputs: &Inputs) -> Option<Value> {
        let archs = candidates::designs(inputs.get("candidates")?).ok()?;
        let recipe: Recipe = serde_json::from_value(params["recipe"].clone()).ok()?;
        let gpus = params["slurm"]["gpus"].as_u64().unwrap_or(1).max(1);
        Some(super::cost::estimate(
            &archs,
            recipe.tokens,
            gpus,
            &params["estimate"],
        ))
    }
}

impl Train {
    /// One job as a Slurm job: its directory staged in the cache (shared
    /// with the nodes), submitted or re-attached to, polled until done.
    fn run_on_slurm(
        &self,
        ctx: &RunCtx,
        d: &Dispatch,
        job: &TrainJob,
        label: &str,
    ) -> Result<Artifact, StageError> {
        let fail = |e: crate::train::TrainError| StageError::new(format!("{label}: {e}"));
        if job.trainer.is_some() && !command::commands_allowed() {
            return Err(StageError::new(command::CONSENT_HINT));
        }
        let dir_of = |j: &TrainJob| slurm_dir(ctx, j);
        let exe = std::env::current_exe()
            .map_err(|e| StageError::new(format!("cannot find the rooflaw executable: {e}")))?;
        {
            let _one = self.submitting.lock().expect("submit lock poisoned");
            let mut fresh = Vec::new();
            for j in d.stage_jobs.iter() {
                let spec = self.executor.declared(&j.corpus.hash);
                let dir = dir_of(j);
                if crate::train::job::stage_job(j, spec.as_ref(), &dir)
                    .map_err(fail)?
                    .is_none()
                {
                    fresh.push((j.clone(), dir));
                }
            }
            slurm::submit_new(&d.settings, &fresh, &exe, &ctx.base_dir).map_err(fail)?;
        }
        let settings = &d.settings;
        let workdir = dir_of(job);
        let spec = self.executor.declared(&job.corpus.hash);
        let staged = crate::train::job::stage_job(job, spec.as_ref(), &workdir).map_err(fail)?;
        let r = if let Some(r) = staged {
            r
        } else {
            let mut progress = |id: &str, state: &str, p: Option<&crate::train::Progress>| {
                ctx.progress.message(match p {
                    Some(p) if p.steps > 0 => format!(
                        "{label}: slurm job {id} {state}, step {}/{} loss {:.3}",
                        p.step, p.steps, p.loss
                    ),
                    _ => format!("{label}: slurm job {id} {state}"),
                });
                if ctx.cancelled() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            };
            slurm::run(settings, job, &workdir, &exe, &ctx.base_dir, &mut progress).map_err(fail)?
        };
        Ok(Artifact::json(
            "run",
            json!({ "result": args::json(&r), "arch": args::json(&job.arch) }),
        ))
    }
}

/// A Slurm job's directory, by job key, beside the engine's item
/// directories, so every job of the stage can be staged and submitted at
/// once (and cancelled at once).
fn slurm_dir(ctx: &RunCtx, job: &TrainJob) -> std::path::PathBuf {
    let root = ctx.workdir.parent().unwrap_or(&ctx.workdir);
    root.join(format!("slurm-{}", &job.key()[..32]))
}

impl MapStage for Train {
    fn items(&self, params: &Value, inputs: &Inputs) -> Result<Vec<Value>, StageError> {
        let archs = candidates::designs(inputs.require("candidates")?)?;
        let recipe: Recipe = serde_json::from_value(params["recipe"].clone())
            .map_err(|e| StageError::new(e.to_string()))?;
        let corpus: CorpusRef = serde_json::from_value(params["corpus"].clone())
            .map_err(|e| StageError::new(e.to_string()))?;
        let parse = |e: serde_json::Error| StageError::new(e.to_string());
        if !params["source"].is_null() {
            let source: CorpusSpec =
                serde_json::from_value(params["source"].clone()).map_err(parse)?;
            self.executor.declare(source, corpus.hash.clone());
        }
        let trainer: Option<ExternalTrainer> = if params["command"].is_null() {
            None
        } else {
            Some(serde_json::from_value(params["command"].clone()).map_err(parse)?)
        };
        let slurm: Option<Arc<SlurmSettings>> = if params["slurm"].is_null() {
            None
        } else {
            Some(Arc::new(
                serde_json::from_value(params["slurm"].clone()).map_err(parse)?,
            ))
        };
        let jobs: Vec<TrainJob> = archs
            .into_iter()
            .map(|arch| TrainJob {
                arch,
                recipe: recipe.clone(),
                corpus: corpus.clone(),
                trainer: trainer.clone(),
            })
            .collect();
        let mut dispatch = self.dispatch.lock().expect("dispatch lock poisoned");
        let stage_jobs = Arc::new(jobs.clone());
        for j in &jobs {
            match &slurm {
                Some(s) => dispatch.insert(
                    j.key(),
                    Dispatch {
                        settings: s.clone(),
                        stage_jobs: stage_jobs.clone(),
                    },
                ),
                None => dispatch.remove(&j.key()),
            };
        }
        Ok(jobs.iter().map(args::json).collect())
    }

    fn run_item(&self, ctx: &RunCtx, item: &Value) -> Result<Artifact, StageError> {
        let mut job: TrainJob =
            serde_json::from_value(item.clone()).map_err(|e| StageError::new(e.to_string()))?;
        let label = crate::train::model::label(&job.arch);
        if let Some(t) = &mut job.trainer {
            t.cwd = Some(ctx.base_dir.clone());
        }
        let slurm = self
            .dispatch
            .lock()
            .expect("dispatch lock poisoned")
            .get(&job.key())
            .cloned();
        if let Some(d) = slurm {
            return self.run_on_slurm(ctx, &d, &job, &label);
        }
        let eta = rooflaw_stdlib::eta::Eta::start();
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

    /// Jobs on Slurm outlive rooflaw: `scancel` every one of the stage's,
    /// polled or not (a stage's jobs are submitted together, but only as
    /// many are polled as there are threads).
    fn cancel_items(&self, ctx: &RunCtx, _: &Value, items: &[Value]) {
        let dispatch = self.dispatch.lock().expect("dispatch lock poisoned");
        let dirs: Vec<_> = items
            .iter()
            .filter_map(|i| serde_json::from_value::<TrainJob>(i.clone()).ok())
            .filter(|j| dispatch.contains_key(&j.key()))
            .map(|j| slurm_dir(ctx, &j))
            .collect();
        drop(dispatch);
        if dirs.is_empty() {
            return;
        }
        match slurm::cancel(&dirs) {
            Ok(ids) if ids.is_empty() => {}
            Ok(ids) => ctx.progress.warn(
                &ctx.stage,
                &format!(
                    "cancelled Slurm jobs {}; a rerun submits them again",
                    ids.join(", ")
                ),
            ),
            Err(e) => ctx.progress.warn(
                &ctx.stage,
                &format!("cancelling its Slurm jobs: {e}; check `squeue`"),
            ),
        }
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
            let arch: rooflaw_stdlib::Architecture = serde_json::from_value(v["arch"].clone())
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
