//! `calibrate(measurements, hardware: H, holdout: 0.5, seed: 0)`: hold the
//! roofline to measured latencies and fit the hardware's efficiencies and
//! launch overhead to them. The output is a hardware artifact (usable
//! wherever `hardware:` takes a stage) whose `extra.calibration` carries the
//! validation: every point predicted before and after, and the metrics on
//! the calibration and held-out halves.
//!
//! Input rows are the `measure` stage's table (or a `measurements("f.csv")`
//! of one exported under `DIR/data/`): the architecture columns of
//! [`candidates::ArchColumns`], `precision`, `batch`, `prompt`, `generate`,
//! `prefill_ms` and `decode_ms` (all decode steps); `device`, `attention`
//! (`fused`|`unfused`, default unfused) and `experts_kernels`
//! (`grouped`|`looped`, default looped) are read when present — the
//! defaults are how candle, so `measure`, runs.
use std::sync::atomic::Ordering;

use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Code, Diagnostic, Dim, Param, ParamType, Signature};
use rooflaw_engine::{Artifact, Inputs, RunCtx, StageError, StageKind, Table};
use serde_json::{Value, json};

use super::{args, candidates, hardware_io};
use crate::calibrate::{Calibration, Options, Sample, calibrate_cancellable};
use crate::hardware::{Hardware, HardwarePreset, HardwareSources};
use crate::precision::Precision;
use crate::workload::{Attention, Experts, Workload};

pub(crate) struct Calibrate(Signature);

impl Calibrate {
    pub(crate) fn new() -> Self {
        Self(Signature {
            kind: "calibrate",
            doc: "Predicted against measured latency, and the hardware's efficiencies and launch overhead fitted to a calibration half of the measurements.",
            params: vec![
                Param::input(
                    "measurements",
                    ParamType::Stage,
                    "a measure stage (or measurements of a CSV it exported)",
                ),
                args::hardware_param(
                    "the hardware to calibrate: a hardware block, or a probe or calibrate stage",
                ),
                Param::optional(
                    "holdout",
                    ParamType::Number(Dim::NONE),
                    "fraction of architectures held out to judge the fit (default 0.5)",
                ),
                Param::optional(
                    "seed",
                    ParamType::Integer,
                    "seed of the calibration/held-out split (default 0)",
                ),
            ],
        })
    }
}

/// Measurement tables without `attention`/`experts` columns come from
/// rooflaw's own `measure`, which runs candle's kernels.
const DEFAULT_ATTENTION: Attention = crate::workload::MEASURED_ATTENTION;
const DEFAULT_EXPERTS: Experts = crate::workload::MEASURED_EXPERTS;

/// Measured runs as calibration samples, and the devices they ran on.
pub(crate) fn samples(t: &Table) -> Result<(Vec<Sample>, String), StageError> {
    let num = |name: &str| {
        t.column(name).ok_or_else(|| {
            StageError::new(format!(
                "the measurements have no `{name}` column (expected the `measure` stage's table)"
            ))
        })
    };
    let (batch, prompt, generate) = (num("batch")?, num("prompt")?, num("generate")?);
    let (prefill, decode) = (num("prefill_ms")?, num("decode_ms")?);
    let precision = t.strs("precision").ok_or_else(|| {
        StageError::new("the measurements have no `precision` column of labels like `fp32`")
    })?;
    let attention = t.strs("attention");
    let experts = t.strs("experts_kernels");
    let mut out = Vec::with_capacity(t.rows());
    for i in 0..t.rows() {
        let arch = candidates::arch_at(t, i)?;
        let at = |e: String| StageError::new(format!("measurement row {}: {e}", i + 1));
        let precision = Precision::parse(&precision[i]).map_err(|e| at(e.to_string()))?;
        let whole = |c: &rooflaw_engine::Column, what: &str| {
            let v = c.f64_at(i);
            if v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) {
                Ok(v as u32)
            } else {
                Err(at(format!("`{what}` must be a whole number, got {v}")))
            }
        };
        let mut workload = Workload::new(
            whole(batch, "batch")?,
            whole(prompt, "prompt")?,
            whole(generate, "generate")?,
            precision,
        );
        workload.attention = match attention {
            Some(a) => Attention::parse(&a[i]).ok_or_else(|| {
                at(format!(
                    "`attention` is `fused` or `unfused`, got `{}`",
                    a[i]
                ))
            })?,
            None => DEFAULT_ATTENTION,
        };
        workload.experts = match experts {
            Some(e) => Experts::parse(&e[i]).ok_or_else(|| {
                at(format!(
                    "`experts` is `grouped` or `looped`, got `{}`",
                    e[i]
                ))
            })?,
            None => DEFAULT_EXPERTS,
        };
        out.push(Sample {
            label: format!(
                "{} {} b{} s{}+{}",
                candidates::label(&arch),
                precision.label(),
                workload.batch,
                workload.prompt,
                workload.generate
            ),
            arch,
            workload,
            prefill: prefill.f64_at(i) / 1e3,
            decode: decode.f64_at(i) / 1e3,
        });
    }
    let mut devices: Vec<String> = t.strs("device").map(<[_]>::to_vec).unwrap_or_default();
    devices.sort();
    devices.dedup();
    Ok((out, devices.join("; ")))
}

/// What `extra.calibration` of the output holds; the reporter and the CLI
/// read it back.
pub(crate) fn validation_json(
    c: &Calibration,
    samples: &[Sample],
    before: &Hardware,
    device: &str,
) -> Value {
    let mut workloads: Vec<String> = samples
        .iter()
        .map(|s| {
            let w = &s.workload;
            format!(
                "batch {}, {} prompt + {} generated tokens, {} ({} attention)",
                w.batch,
                w.prompt,
                w.generate,
                w.precision.label(),
                if w.attention == Attention::Fused {
                    "fused"
                } else {
                    "unfused"
                }
            )
        })
        .collect();
    workloads.sort();
    workloads.dedup();
    json!({
        "samples": c.samples,
        "workload": workloads.join("; "),
        "compute_dtype": samples.first().map(|s| s.workload.precision.compute().name()),
        "device": device,
        "holdout": c.options.holdout,
        "seed": c.options.seed,
        "train": c.train,
        "heldout": c.heldout,
        "on_train": args::json(&c.on_train),
        "on_heldout": c.on_heldout.as_ref().map(args::json),
        "before": {
            "efficiency_compute": before.efficiency_compute,
            "efficiency_memory": before.efficiency_memory,
            "efficiency_vector": before.vector_efficiency(),
            "launch": before.launch,
        },
        "after": {
            "efficiency_compute": c.hardware.efficiency_compute,
            "efficiency_memory": c.hardware.efficiency_memory,
            "efficiency_vector": c.hardware.vector_efficiency(),
            "launch": c.hardware.launch,
        },
        "objective": c.objective,
        "converged": c.converged,
        "starts": c.starts,
        // Seconds.
        "points": args::json(&c.points),
    })
}

/// The hardware to calibrate with the provenance of its numbers: a probe's
/// or an earlier calibration's artifact carries its sources; a block's are
/// not carried through `resolve`, so only an unchanged preset's are known.
fn base_preset(params: &Value, inputs: &Inputs) -> Result<HardwarePreset, StageError> {
    if params.get("hardware").is_some_and(|v| !v.is_null()) {
        let hardware = args::hardware_of(params, inputs, "hardware")?;
        let sources = crate::hardware::presets()
            .into_iter()
            .find(|p| p.hardware == hardware)
            .map_or_else(HardwareSources::default, |p| p.sources);
        return Ok(HardwarePreset { hardware, sources });
    }
    hardware_io::from_artifact(inputs.require("hardware")?)
        .map_err(|e| StageError::new(format!("`hardware`: {}", e.0)))
}

impl StageKind for Calibrate {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn version(&self) -> u32 {
        2
    }

    fn resolve(&self, stage: &Stage, spec: &Spec) -> Result<Value, Vec<Diagnostic>> {
        let hw = args::hardware(stage, spec, "hardware")?;
        let holdout = args::number(stage, "holdout").unwrap_or(0.5);
        if !(0.0..1.0).contains(&holdout) {
            return Err(vec![
                Diagnostic::error(Code::InvalidValue, "`holdout` must be a fraction in [0, 1)")
                    .at(args::span(stage, "holdout"), "out of range"),
            ]);
        }
        let mut params = json!({
            "holdout": holdout,
            "seed": args::integer(stage, "seed", 0).map_err(|e| vec![e])?,
        });
        hw.insert(&mut params, "hardware");
        Ok(params)
    }

    fn run(&self, ctx: &RunCtx, params: &Value, inputs: &Inputs) -> Result<Artifact, StageError> {
        let base = base_preset(params, inputs)?;
        let hw = base.hardware.clone();
        let t = inputs
            .require("measurements")?
            .as_table()
            .ok_or_else(|| StageError::new("`calibrate` reads a table of measurements"))?;
        let (samples, device) = samples(t)?;
        let opts = Options {
            holdout: params["holdout"].as_f64().unwrap_or(0.5),
            seed: params["seed"].as_u64().unwrap_or(0),
            ..Options::default()
        };
        ctx.progress.message(format!(
            "calibrating {} on {} measurements",
            hw.name,
            samples.len()
        ));
        let cancel = ctx.cancel.clone();
        let c = calibrate_cancellable(&samples, &hw, &opts, &move || {
            cancel.load(Ordering::Relaxed)
        })
        .map_err(|e| StageError::new(format!("calibrate: {e}")))?;
        let preset = c.preset(&base, &crate::clock::utc_date(), &device);
        Ok(hardware_io::to_artifact(
            &preset,
            Some(json!({ "calibration": validation_json(&c, &samples, &hw, &device) })),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rooflaw_engine::Column;

    #[test]
    fn rows_become_samples_with_unfused_attention_by_default() {
        let a = crate::arch::Architecture::dense(2, 64, 2, 1, 192);
        let mut cols = candidates::ArchColumns::default();
        cols.push(&a);
        let mut t = Table::new();
        cols.into_columns(&mut t);
        t.push("precision", Column::Str(vec!["fp32".into()]));
        for (c, v) in [("batch", 1), ("prompt", 128), ("generate", 32)] {
            t.push(c, Column::I64(vec![v]));
        }
        t.push("prefill_ms", Column::F64(vec![2.0]));
        t.push("decode_ms", Column::F64(vec![31.0]));
        t.push("device", Column::Str(vec!["cpu: test".into()]));
        let (s, device) = samples(&t).unwrap();
        assert_eq!(device, "cpu: test");
        assert_eq!(s[0].arch, a);
        assert_eq!(s[0].workload.attention, Attention::Unfused);
        assert_eq!(s[0].workload.experts, Experts::Looped);
        assert_eq!(s[0].workload.prompt, 128);
        assert!((s[0].prefill - 2e-3).abs() < 1e-15 && (s[0].decode - 31e-3).abs() < 1e-15);
        t.push("attention", Column::Str(vec!["fused".into()]));
        assert_eq!(
            samples(&t).unwrap().0[0].workload.attention,
            Attention::Fused
        );
        let mut bad = Table::new();
        bad.push("batch", Column::I64(vec![1]));
        let e = samples(&bad).unwrap_err().to_string();
        assert!(e.contains("`prompt`"), "{e}");
    }

    /// The run's cancel flag reaches the fitter: a cancelled run's
    /// `calibrate` ends with the cancellation, not with a result or another
    /// error.
    #[test]
    fn a_cancelled_run_stops_the_calibration() {
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;

        let mut cols = candidates::ArchColumns::default();
        let mut t = Table::new();
        let rows = 8;
        for layers in 1..=rows {
            cols.push(&crate::arch::Architecture::dense(layers, 64, 2, 1, 192));
        }
        cols.into_columns(&mut t);
        t.push("precision", Column::Str(vec!["fp32".into(); rows as usize]));
        for (c, v) in [("batch", 1), ("prompt", 128), ("generate", 32)] {
            t.push(c, Column::I64(vec![v; rows as usize]));
        }
        let ms = |base: f64| Column::F64((1..=rows).map(|l| base * f64::from(l)).collect());
        t.push("prefill_ms", ms(2.0));
        t.push("decode_ms", ms(31.0));
        let inputs = Inputs {
            items: vec![(
                "measurements".into(),
                "measure".into(),
                Arc::new(Artifact::table("measurements", t)),
            )],
        };
        let hw = crate::hardware::presets()
            .into_iter()
            .find(|p| p.hardware.id == "apple-m2-8c")
            .expect("the apple-m2-8c preset")
            .hardware;
        let params = json!({ "hardware": args::json(&hw), "holdout": 0.0, "seed": 0 });
        let ctx = RunCtx {
            stage: "calibrate".into(),
            progress: rooflaw_engine::Progress::hidden(),
            workdir: std::env::temp_dir(),
            base_dir: std::env::temp_dir(),
            cancel: Arc::new(AtomicBool::new(true)),
        };
        let err = Calibrate::new().run(&ctx, &params, &inputs).unwrap_err();
        assert_eq!(err.to_string(), "calibrate: cancelled");
    }
}
