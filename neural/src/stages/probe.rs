//! `probe(quick: false)`: this machine's hardware description, measured
//! (see [`crate::probe`]). Its output is a hardware artifact, so
//! `roofline(..., hardware: hw)` can use the machine the pipeline runs on.
//! The machine's fingerprint is in the cache key: the probe reruns on
//! another machine and is reused on this one.
use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Diagnostic, Param, ParamType, Signature};
use rooflaw_engine::{Artifact, Inputs, Progress, RunCtx, StageError, StageKind};
use serde_json::{Value, json};

use crate::probe::{Options, Steps, probe};
use rooflaw_stdlib::machine::Machine;
use rooflaw_stdlib::stages::{args, hardware_io};

pub(crate) struct Probe(Signature);

impl Probe {
    pub(crate) fn new() -> Self {
        Self(Signature {
            kind: "probe",
            doc: "Measure this machine (matmul peaks, memory bandwidth, per-op overhead) as a hardware description.",
            params: vec![Param::optional(
                "quick",
                ParamType::Bool,
                "about a second instead of about ten; small matmuls may not reach the roof",
            )],
        })
    }
}

impl StageKind for Probe {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn version(&self) -> u32 {
        2
    }

    fn resolve(&self, stage: &Stage, _: &Spec) -> Result<Value, Vec<Diagnostic>> {
        Ok(json!({ "quick": args::boolean(stage, "quick", false) }))
    }

    fn environment(&self, _: &Value) -> Value {
        args::json(&Machine::this())
    }

    fn run(&self, ctx: &RunCtx, params: &Value, _: &Inputs) -> Result<Artifact, StageError> {
        let opts = Options {
            quick: params["quick"].as_bool().unwrap_or(false),
            // Named after the stage, as a hardware block is after its name;
            // not part of the key, so renaming the stage does not reprobe.
            id: Some(ctx.stage.clone()),
        };
        let p = probe(&opts, &ctx.progress).map_err(|e| StageError::new(e.to_string()))?;
        ctx.progress.finish();
        let figures: Vec<Value> = p
            .figures
            .iter()
            .map(|f| {
                json!({ "field": f.field, "value": f.value, "at": f.at,
                    "min": f.spread.min, "median": f.spread.median, "max": f.spread.max,
                    "samples": f.spread.samples })
            })
            .collect();
        Ok(hardware_io::to_artifact(
            &p.preset,
            Some(
                json!({ "machine": args::json(&p.machine), "seconds": p.seconds, "figures": figures }),
            ),
        ))
    }
}

/// The probe's steps on the engine's progress bar (the CLI's `hardware
/// probe` uses it too).
impl Steps for Progress {
    fn total(&self, steps: u64) {
        self.set_total(steps, "steps");
    }

    fn doing(&self, what: &str) {
        self.message(what);
    }

    fn step(&self) {
        self.inc(1);
    }
}
