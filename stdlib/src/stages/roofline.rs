//! `roofline(candidates, hardware:, workload:)`: latency and memory of
//! every candidate, one row per (candidate, precision).
use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Diagnostic, Param, ParamType, Signature};
use rooflaw_engine::{Artifact, Column, Inputs, RunCtx, StageError, StageKind, Table};
use serde_json::{Value, json};

use super::{args, candidates};
use crate::arch::Architecture;
use crate::hardware::Hardware;
use crate::roofline::{Summary, evaluate};
use crate::workload::Workload;

pub(crate) const KIND: &str = "latency";

pub(crate) struct Roofline(Signature);

impl Roofline {
    pub(crate) fn new() -> Self {
        Self(Signature {
            kind: "roofline",
            doc: "Predicted prefill, decode and total latency and the memory footprint of each candidate.",
            params: vec![
                Param::input(
                    "candidates",
                    ParamType::Stage,
                    "candidates (enumerate or sample)",
                ),
                args::hardware_param(args::THE_CHIP),
                Param::required(
                    "workload",
                    ParamType::Workload,
                    "batch, prompt, generated tokens, precisions",
                ),
            ],
        })
    }
}

/// How to read one metric from a summary.
type Metric = fn(&Summary) -> f64;

/// Metric columns, in table order, and how to read each from a summary.
pub(crate) const METRICS: &[(&str, Metric)] = &[
    ("prefill_ms", |s| s.prefill * 1e3),
    ("ttft_ms", |s| s.ttft * 1e3),
    ("decode_ms", |s| s.decode * 1e3),
    ("decode_ms_per_token", |s| s.decode_per_token * 1e3),
    ("total_ms", |s| s.total * 1e3),
    ("tokens_per_s", |s| s.tokens_per_s),
    ("weights_bytes", |s| s.weights_bytes),
    ("kv_cache_bytes", |s| s.kv_cache_bytes),
    ("memory_bytes", |s| s.memory_bytes),
];

struct Chunk {
    archs: candidates::ArchColumns,
    metrics: Vec<Vec<f64>>,
    fits: Vec<i32>,
    skipped: u64,
    first_error: Option<String>,
}

pub(crate) fn evaluate_all(
    cands: &Artifact,
    hw: &Hardware,
    wl: &Workload,
) -> Result<(Table, u64), StageError> {
    let chunks = candidates::map_chunks(cands, |it: &mut dyn Iterator<Item = Architecture>| {
        let mut c = Chunk {
            archs: candidates::ArchColumns::default(),
            metrics: vec![Vec::new(); METRICS.len()],
            fits: Vec::new(),
            skipped: 0,
            first_error: None,
        };
        for arch in it {
            match evaluate(&arch, hw, wl) {
                Ok(s) => {
                    c.archs.push(&arch);
                    for (col, (_, f)) in c.metrics.iter_mut().zip(METRICS) {
                        col.push(f(&s));
                    }
                    c.fits.push(i32::from(s.fits_memory));
                }
                Err(e) => {
                    c.skipped += 1;
                    c.first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        c
    })?;
    // Sized once: growing million-row columns by doubling spends more on
    // page faults than the roofline itself.
    let total = chunks.iter().map(|c| c.fits.len()).sum();
    let mut archs = candidates::ArchColumns::with_capacity(total);
    let mut metrics: Vec<Vec<f64>> = (0..METRICS.len())
        .map(|_| Vec::with_capacity(total))
        .collect();
    let mut fits = Vec::with_capacity(total);
    let mut skipped = 0;
    let mut first_error = None;
    for c in chunks {
        archs.append(c.archs);
        for (a, b) in metrics.iter_mut().zip(c.metrics) {
            a.extend(b);
        }
        fits.extend(c.fits);
        skipped += c.skipped;
        first_error = first_error.or(c.first_error);
    }
    let rows = fits.len();
    if rows == 0 {
        return Err(StageError::new(format!(
            "no candidate could be evaluated{}",
            first_error.map(|e| format!(": {e}")).unwrap_or_default()
        )));
    }
    let mut t = Table::new();
    archs.into_columns(&mut t);
    t.push("precision", Column::Str(vec![wl.precision.label(); rows]));
    for ((name, _), col) in METRICS.iter().zip(metrics) {
        t.push(*name, Column::F64(col));
    }
    t.push("fits_memory", Column::I32(fits));
    Ok((t, skipped))
}

impl StageKind for Roofline {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn version(&self) -> u32 {
        1
    }

    fn resolve(&self, stage: &Stage, spec: &Spec) -> Result<Value, Vec<Diagnostic>> {
        let hw = args::hardware(stage, spec, "hardware");
        let wl = args::workloads(stage, spec, "workload");
        match (hw, wl) {
            (Ok(hw), Ok(wl)) => {
                let mut params = json!({ "workloads": args::json(&wl) });
                hw.insert(&mut params, "hardware");
                Ok(params)
            }
            (hw, wl) => Err(hw.err().into_iter().chain(wl.err()).flatten().collect()),
        }
    }

    fn run(&self, ctx: &RunCtx, params: &Value, inputs: &Inputs) -> Result<Artifact, StageError> {
        let hw = args::hardware_of(params, inputs, "hardware")?;
        let wls: Vec<Workload> = serde_json::from_value(params["workloads"].clone())
            .map_err(|e| StageError::new(e.to_string()))?;
        let cands = inputs.require("candidates")?;
        let mut out: Option<Table> = None;
        let mut skipped = 0;
        for wl in &wls {
            ctx.progress.message(format!(
                "{} candidates at {}",
                count_hint(cands),
                wl.precision.label()
            ));
            let (t, s) = evaluate_all(cands, &hw, wl)?;
            skipped += s;
            out = Some(match out {
                None => t,
                Some(prev) => concat(prev, t),
            });
        }
        let mut t = out.ok_or_else(|| StageError::new("the workload lists no precision"))?;
        t.meta.insert("hardware".into(), args::json(&hw));
        t.meta
            .insert("workloads".into(), params["workloads"].clone());
        t.meta.insert("skipped".into(), json!(skipped));
        Ok(Artifact::table(KIND, t))
    }
}

fn count_hint(a: &Artifact) -> String {
    a.as_json().and_then(|v| v["count"].as_u64()).map_or_else(
        || {
            a.as_table()
                .map_or_else(String::new, |t| t.rows().to_string())
        },
        |n| n.to_string(),
    )
}

/// Rows of `b` under rows of `a` (same columns).
pub(crate) fn concat(mut a: Table, b: Table) -> Table {
    for ((_, ca), (_, cb)) in a.columns.iter_mut().zip(b.columns) {
        match (ca, cb) {
            (Column::F64(x), Column::F64(y)) => x.extend(y),
            (Column::F32(x), Column::F32(y)) => x.extend(y),
            (Column::I64(x), Column::I64(y)) => x.extend(y),
            (Column::I32(x), Column::I32(y)) => x.extend(y),
            (Column::Str(x), Column::Str(y)) => x.extend(y),
            _ => unreachable!("tables of one stage share a schema"),
        }
    }
    a
}
