//! `measure(candidates, workload: w, repeats: 5, warmup: 1)`: run every
//! candidate for real (candle, random seeded weights, KV cache) and time
//! prefill and decode as the roofline defines them ([`crate::measure`]).
//!
//! A map stage: one cached item per (architecture, precision of the
//! workload), keyed on this machine ([`crate::machine::Machine`]) so another
//! machine measures again, and adding candidates measures only the new
//! ones. It is exclusive: the engine runs it alone, so timings never share
//! the machine with other stages, and its uncached items run together with
//! their repeats interleaved (round r times every architecture once), so a
//! burst of load from elsewhere slows one run of each rather than every run
//! of one.
//!
//! Output: a table of kind `measurements`, one row per item, as
//! [`crate::measure::table`] writes it:
//!
//! | columns | type | meaning |
//! |---|---|---|
//! | `layers` … `params_active` | as [`candidates::ArchColumns`] writes them | the architecture ([`candidates::arch_at`] reads it back) |
//! | `precision` | Str | the roofline's precision label, e.g. `fp32` |
//! | `batch`, `prompt`, `generate` | I64 | the workload |
//! | `prefill_ms`, `prefill_ms_min`, `prefill_ms_max` | F64 | prefill: median, fastest, slowest run |
//! | `decode_ms`, `decode_ms_min`, `decode_ms_max` | F64 | all decode steps (output tokens 2..=generate) of a run |
//! | `decode_ms_per_token` | F64 | median `decode_ms` / steps (0 when generate = 1) |
//! | `repeats` | I64 | timed runs behind each median |
//! | `device` | Str | e.g. `cpu: AMD EPYC 7B13 (2 cores)` |
//!
//! `prefill_ms`, `decode_ms` and `decode_ms_per_token` are named as in the
//! `roofline` stage's table, so predicted and measured join by name.
//! Candle runs attention unfused whatever the workload's `attention` says.
use std::sync::Arc;

use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Code, Diagnostic, Param, ParamType, Signature};
use rooflaw_engine::{Artifact, Inputs, MapStage, RunCtx, StageError, StageKind};
use serde_json::{Value, json};

use super::{args, candidates};
use crate::arch::Architecture;
use crate::measure::{
    Job, Measurement, Plan, Row, default_device, device_label, dtype_for, measure_all, table,
};
use crate::workload::Workload;

pub(crate) const KIND: &str = "measurements";

pub(crate) struct Measure(Signature);

impl Measure {
    pub(crate) fn new() -> Self {
        Self(Signature {
            kind: "measure",
            doc: "Run every candidate for real (candle, KV cache) and time prefill and decode, the candidates' runs interleaved: median, min and max over repeats.",
            params: vec![
                Param::input(
                    "candidates",
                    ParamType::Stage,
                    "candidates (usually a sample stage)",
                ),
                Param::required(
                    "workload",
                    ParamType::Workload,
                    "batch, prompt, generated tokens; one measurement per precision (fp32, fp16, bf16)",
                ),
                Param::optional(
                    "repeats",
                    ParamType::Integer,
                    "timed runs per architecture (default 5)",
                ),
                Param::optional(
                    "warmup",
                    ParamType::Integer,
                    "untimed runs first (default 1)",
                ),
                Param::optional(
                    "seed",
                    ParamType::Integer,
                    "seed of the random weights and token ids (default 0)",
                ),
            ],
        })
    }
}

fn parse<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, StageError> {
    serde_json::from_value(v.clone()).map_err(|e| StageError::new(format!("corrupt item: {e}")))
}

impl StageKind for Measure {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn version(&self) -> u32 {
        2
    }

    fn resolve(&self, stage: &Stage, spec: &Spec) -> Result<Value, Vec<Diagnostic>> {
        let wls = args::workloads(stage, spec, "workload")?;
        let int = |p, d| args::integer(stage, p, d).map_err(|e| vec![e]);
        let repeats = int("repeats", 5)?;
        let warmup = int("warmup", 1)?;
        let seed = int("seed", 0)?;
        if repeats == 0 {
            return Err(vec![
                Diagnostic::error(Code::InvalidValue, "`repeats` must be at least 1")
                    .at(args::span(stage, "repeats"), "zero"),
            ]);
        }
        let bad: Vec<Diagnostic> = wls
            .iter()
            .filter_map(|w| dtype_for(&w.precision).err())
            .map(|e| {
                Diagnostic::error(Code::UnmeasurablePrecision, e)
                    .at(args::span(stage, "workload"), "this workload's precisions")
            })
            .collect();
        if !bad.is_empty() {
            return Err(bad);
        }
        Ok(json!({
            "workloads": args::json(&wls),
            "repeats": repeats,
            "warmup": warmup,
            "seed": seed,
        }))
    }

    fn environment(&self, _: &Value) -> Value {
        // Timings belong to the machine that took them: a cache copied
        // elsewhere measures again.
        json!({
            "machine": args::json(&crate::machine::Machine::this()),
            "backend": "candle-0.11",
            "device": device_label(&default_device()),
        })
    }

    fn exclusive(&self) -> bool {
        true
    }

    fn run(&self, _: &RunCtx, _: &Value, _: &Inputs) -> Result<Artifact, StageError> {
        Err(StageError::new("measure runs item by item"))
    }

    fn as_map(&self) -> Option<&dyn MapStage> {
        Some(self)
    }
}

impl MapStage for Measure {
    fn items(&self, params: &Value, inputs: &Inputs) -> Result<Vec<Value>, StageError> {
        let archs = candidates::designs(inputs.require("candidates")?)?;
        let wls: Vec<Workload> = parse(&params["workloads"])?;
        let mut items = Vec::with_capacity(archs.len() * wls.len());
        for wl in &wls {
            let plan = Plan {
                batch: wl.batch as usize,
                prompt: wl.prompt as usize,
                generate: wl.generate as usize,
                repeats: params["repeats"].as_u64().unwrap_or(5) as usize,
                warmup: params["warmup"].as_u64().unwrap_or(1) as usize,
                seed: params["seed"].as_u64().unwrap_or(0),
            };
            for arch in &archs {
                items.push(json!({
                    "arch": args::json(arch),
                    "precision": args::json(&wl.precision),
                    "plan": args::json(&plan),
                }));
            }
        }
        Ok(items)
    }

    fn run_item(&self, ctx: &RunCtx, item: &Value) -> Result<Artifact, StageError> {
        self.run_items(&[(ctx, item)]).remove(0)
    }

    /// All uncached items at once, their timed runs interleaved
    /// ([`crate::measure::measure_all`]), holding at most a quarter of
    /// this machine's memory in models at a time.
    fn run_items(&self, items: &[(&RunCtx, &Value)]) -> Vec<Result<Artifact, StageError>> {
        match measure_items(items) {
            Ok(v) => v.into_iter().map(Ok).collect(),
            Err(e) => items
                .iter()
                .map(|_| Err(StageError::new(e.0.clone())))
                .collect(),
        }
    }

    fn combine(
        &self,
        params: &Value,
        _: &Inputs,
        _: &[Value],
        results: &[Arc<Artifact>],
    ) -> Result<Artifact, StageError> {
        let mut rows = Vec::with_capacity(results.len());
        for a in results {
            let v = a
                .as_json()
                .ok_or_else(|| StageError::new("corrupt measurement"))?;
            let arch: Architecture = parse(&v["arch"])?;
            let plan: Plan = parse(&v["plan"])?;
            let m: Measurement = parse(&v["result"])?;
            let precision = v["precision"].as_str().unwrap_or_default().to_string();
            rows.push(Row {
                arch,
                precision,
                plan,
                m,
            });
        }
        let mut t = table(&rows);
        t.meta
            .insert("workloads".into(), params["workloads"].clone());
        t.meta
            .insert("environment".into(), self.environment(params));
        Ok(Artifact::table(KIND, t))
    }
}

fn measure_items(items: &[(&RunCtx, &Value)]) -> Result<Vec<Artifact>, StageError> {
    let Some((ctx, _)) = items.first() else {
        return Ok(Vec::new());
    };
    let mut parsed = Vec::with_capacity(items.len());
    for (_, item) in items {
        let arch: Architecture = parse(&item["arch"])?;
        let precision: crate::Precision = parse(&item["precision"])?;
        let plan: Plan = parse(&item["plan"])?;
        let dtype = dtype_for(&precision).map_err(StageError::new)?;
        let label = format!(
            "{} {}",
            crate::train::model::label(&arch),
            precision.label()
        );
        parsed.push((arch, precision, plan, dtype, label));
    }
    let jobs: Vec<Job> = parsed
        .iter()
        .map(|(arch, _, plan, dtype, _)| Job {
            arch,
            plan,
            dtype: *dtype,
        })
        .collect();
    let memory = crate::machine::Machine::this().memory / 4.0;
    let eta = crate::eta::Eta::start();
    let ms = measure_all(&jobs, &default_device(), memory, &mut |p| {
        ctx.progress.message(format!(
            "{}: {} {}/{}{}",
            parsed[p.item].4,
            if p.warmup { "warm-up" } else { "run" },
            p.run,
            p.runs,
            eta.suffix(p.run as u64, p.runs as u64)
        ));
        if ctx.cancelled() {
            std::ops::ControlFlow::Break(())
        } else {
            std::ops::ControlFlow::Continue(())
        }
    })
    .map_err(|e| StageError::new(e.to_string()))?;
    Ok(items
        .iter()
        .zip(&parsed)
        .zip(ms)
        .map(|(((_, item), (_, precision, ..)), m)| {
            Artifact::json(
                "measurement",
                json!({
                    "arch": item["arch"],
                    "precision": precision.label(),
                    "plan": item["plan"],
                    "result": args::json(&m),
                }),
            )
        })
        .collect())
}
