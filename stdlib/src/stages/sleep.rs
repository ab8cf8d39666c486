//! `sleep(seconds, after: stage)`: a slow stage for the engine's end-to-end
//! tests (a run killed midway, concurrent runs). Registered only when
//! `ROOFLAW_TEST_STAGES=1`, so users never see it.
use std::time::{Duration, Instant};

use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Diagnostic, Dim, Param, ParamType, Signature};
use rooflaw_engine::{Artifact, Column, Inputs, RunCtx, StageError, StageKind, Table};
use serde_json::{Value, json};

use super::args;

pub(crate) struct Sleep(Signature);

impl Sleep {
    pub(crate) fn new() -> Self {
        Self(Signature {
            kind: "sleep",
            doc: "Test only: wait, then emit the time waited.",
            params: vec![
                Param::input("time", ParamType::Number(Dim::TIME), "how long"),
                Param::optional("after", ParamType::Stage, "an upstream stage"),
            ],
        })
    }
}

impl StageKind for Sleep {
    fn signature(&self) -> &Signature {
        &self.0
    }
    fn version(&self) -> u32 {
        1
    }
    fn resolve(&self, stage: &Stage, _: &Spec) -> Result<Value, Vec<Diagnostic>> {
        Ok(json!({ "time": args::number(stage, "time").unwrap_or(0.0) }))
    }
    fn run(&self, ctx: &RunCtx, params: &Value, _: &Inputs) -> Result<Artifact, StageError> {
        let t = params["time"].as_f64().unwrap_or(0.0);
        let start = Instant::now();
        while start.elapsed().as_secs_f64() < t {
            if ctx.cancelled() {
                return Err(StageError::new("cancelled"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(Artifact::table(
            "slept",
            Table::new().with("seconds", Column::F64(vec![t])),
        ))
    }
}
