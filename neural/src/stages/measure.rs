//! `measure(candidates, workload: w, repeats: 5, warmup: 1)`: run every
//! candidate for real (candle, random seeded weights, KV cache) and time
//! prefill and decode as the roofline defines them ([`crate::measure`]).
//!
//! A map stage: one cached item per (architecture, precision of the
//! workload), keyed on this machine ([`rooflaw_stdlib::machine::Machine`]) so another
//! machine measures again, and adding candidates measures only the new
//! ones. It is exclusive: the engine runs it alone, so timings never share
//! the machine with other stages, and its uncached items run together with
//! their repeats interleaved (round r times every architecture once), so a
//! burst of load from elsewhere slows one run of each rather than every run
//! of one.
//!
//! Output: a table of kind `measurements`, one row per item, as
//! [`table`] writes it:
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
use rooflaw_engine::{Artifact, Column, Inputs, MapStage, RunCtx, StageError, StageKind, Table};
use serde_json::{Value, json};

use crate::measure::{
    Job, Measurement, Plan, Row, default_device, device_label, dtype_for, measure_all,
};
use rooflaw_stdlib::arch::Architecture;
use rooflaw_stdlib::stages::{args, candidates};
use rooflaw_stdlib::workload::Workload;

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
            "machine": args::json(&rooflaw_stdlib::machine::Machine::this()),
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
    /// Items measured before a cancellation or an error are returned (and
    /// cached); the rest fail with it.
    fn run_items(&self, items: &[(&RunCtx, &Value)]) -> Vec<Result<Artifact, StageError>> {
        let (done, error) = match measure_items(items) {
            Ok(done) => (done, None),
            Err((done, e)) => (done, Some(e)),
        };
        let n = done.len();
        done.into_iter()
            .map(Ok)
            .chain(items[n..].iter().map(|_| {
                Err(StageError::new(
                    error
                        .as_ref()
                        .map_or("measure returned too few results", |e| e.0.as_str()),
                ))
            }))
            .collect()
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

/// The measurements of `items`, or those finished before an error (a
/// cancellation) and the error.
fn measure_items(
    items: &[(&RunCtx, &Value)],
) -> Result<Vec<Artifact>, (Vec<Artifact>, StageError)> {
    let Some((ctx, _)) = items.first() else {
        return Ok(Vec::new());
    };
    let none = |e: StageError| (Vec::new(), e);
    let mut parsed = Vec::with_capacity(items.len());
    for (_, item) in items {
        let arch: Architecture = parse(&item["arch"]).map_err(none)?;
        let precision: rooflaw_stdlib::Precision = parse(&item["precision"]).map_err(none)?;
        let plan: Plan = parse(&item["plan"]).map_err(none)?;
        let dtype = dtype_for(&precision).map_err(|e| none(StageError::new(e)))?;
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
    let memory = rooflaw_stdlib::machine::Machine::this().memory / 4.0;
    let eta = rooflaw_stdlib::eta::Eta::start();
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
    });
    let (ms, error) = match ms {
        Ok(ms) => (ms, None),
        Err(s) => (s.done, Some(StageError::new(s.error.to_string()))),
    };
    let done = items
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
        .collect();
    match error {
        None => Ok(done),
        Some(e) => Err((done, e)),
    }
}

/// The `measurements` table (the contract with `calibrate`; columns in the
/// module doc above).
pub fn table(rows: &[Row]) -> Table {
    let mut archs = candidates::ArchColumns::with_capacity(rows.len());
    for r in rows {
        archs.push(&r.arch);
    }
    let mut t = Table::new();
    archs.into_columns(&mut t);
    let ints = |f: fn(&Row) -> usize| {
        Column::I64(
            rows.iter()
                .map(|r| i64::try_from(f(r)).unwrap_or(i64::MAX))
                .collect(),
        )
    };
    let ms = |f: fn(&Measurement) -> f64| Column::F64(rows.iter().map(|r| f(&r.m) * 1e3).collect());
    t.push(
        "precision",
        Column::Str(rows.iter().map(|r| r.precision.clone()).collect()),
    );
    t.push("batch", ints(|r| r.plan.batch));
    t.push("prompt", ints(|r| r.plan.prompt));
    t.push("generate", ints(|r| r.plan.generate));
    t.push("prefill_ms", ms(|m| m.prefill.median));
    t.push("prefill_ms_min", ms(|m| m.prefill.min));
    t.push("prefill_ms_max", ms(|m| m.prefill.max));
    t.push("decode_ms", ms(|m| m.decode.median));
    t.push("decode_ms_min", ms(|m| m.decode.min));
    t.push("decode_ms_max", ms(|m| m.decode.max));
    t.push("decode_ms_per_token", ms(|m| m.decode_per_token));
    t.push("repeats", ints(|r| r.m.repeats));
    t.push(
        "device",
        Column::Str(rows.iter().map(|r| r.m.device.clone()).collect()),
    );
    t
}
