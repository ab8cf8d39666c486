//! `advise(hardware:, workload:, budget:, law:)`: the paper's closed forms
//! (Theorems 5.1–5.3, l*, r*, gqa*, the regime test η) next to the
//! enumerated optimum, so users see where theory and search agree.
use rooflaw_dsl::spec::{ArgValue, Spec, Stage};
use rooflaw_dsl::{Diagnostic, Dim, Param, ParamType, Signature};
use rooflaw_engine::{Artifact, Inputs, RunCtx, StageError, StageKind};
use serde_json::{Value, json};

use super::{args, candidates, law};
use crate::advise::{AdviseInput, SunCoefficients, advise, targets};
use crate::budget::Budget;
use crate::workload::Workload;

pub(crate) struct Advise(Signature);

impl Advise {
    pub(crate) fn new() -> Self {
        Self(Signature {
            kind: "advise",
            doc: "The paper's closed-form optimum (depth, FFN ratio, GQA, MoE sparsity) for a chip, workload and budget.",
            params: vec![
                args::hardware_param(args::THE_CHIP),
                Param::required(
                    "workload",
                    ParamType::Workload,
                    "the workload (its first precision)",
                ),
                Param::required(
                    "budget",
                    ParamType::Budget,
                    "prefill/decode latency and memory limits",
                ),
                Param::required(
                    "law",
                    ParamType::Stage,
                    "a law stage of the sun2026 form (published or fitted)",
                ),
                Param::optional(
                    "widths",
                    ParamType::List(Box::new(ParamType::Number(Dim::NONE))),
                    "widths d to solve at (default 1024, 2048)",
                ),
                Param::optional(
                    "experts",
                    ParamType::Integer,
                    "most experts allowed, so ρ_min = 1/experts (default 16)",
                ),
                Param::optional(
                    "best",
                    ParamType::Stage,
                    "a search stage whose best design to show alongside",
                ),
            ],
        })
    }
}

impl StageKind for Advise {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn version(&self) -> u32 {
        1
    }

    fn resolve(&self, stage: &Stage, spec: &Spec) -> Result<Value, Vec<Diagnostic>> {
        let hw = args::hardware(stage, spec, "hardware")?;
        let wl = args::workloads(stage, spec, "workload")?;
        let budget = args::budget(stage, spec, "budget")?
            .ok_or_else(|| vec![args::missing(stage, "budget")])?;
        let widths: Vec<f64> = match args::value(stage, "widths") {
            Some(ArgValue::List(items)) => items
                .iter()
                .filter_map(|i| match &i.node {
                    ArgValue::Quantity(q) => Some(q.value),
                    _ => None,
                })
                .collect(),
            _ => vec![1024.0, 2048.0],
        };
        let experts = args::integer(stage, "experts", 16)
            .map_err(|d| vec![d])?
            .max(1);
        let mut params = json!({
            "workload": args::json(&wl[0]),
            "budget": args::budget_params(&budget),
            "widths": widths,
            "experts": experts,
        });
        hw.insert(&mut params, "hardware");
        Ok(params)
    }

    fn run(&self, _: &RunCtx, params: &Value, inputs: &Inputs) -> Result<Artifact, StageError> {
        let bad = |e: serde_json::Error| StageError::new(e.to_string());
        let hw = args::hardware_of(params, inputs, "hardware")?;
        let wl: Workload = serde_json::from_value(params["workload"].clone()).map_err(bad)?;
        let budget: Budget = args::budget_from_params(&params["budget"])
            .ok_or_else(|| StageError::new("corrupt budget"))?;
        let (law, _) = law::read(inputs.require("law")?)?;
        let coeffs = SunCoefficients::from_law(&law).ok_or_else(|| {
            StageError::new(format!(
                "`advise` needs a sun2026-form law; `{}` is {}",
                law.name,
                law.form.name()
            ))
        })?;
        let t = targets(&budget.under(&wl.runtime, &hw), f64::from(wl.generate));
        let (dtype, peak) = hw
            .peak_for(wl.precision.compute())
            .ok_or_else(|| StageError::new(format!("{} lists no compute peak", hw.name)))?;
        let experts = params["experts"].as_f64().unwrap_or(16.0);
        let mut per_width = Vec::new();
        for d in params["widths"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_f64)
        {
            let input = AdviseInput {
                peak: peak * hw.efficiency_compute,
                bandwidth: hw.bandwidth * hw.efficiency_memory,
                memory: t.memory.unwrap_or(hw.memory),
                batch: f64::from(wl.batch),
                prompt: f64::from(wl.prompt),
                generate: f64::from(wl.generate),
                bytes_weight: wl.precision.weight_bytes(),
                bytes_kv: wl.precision.kv_bytes(),
                prefill_s: t.prefill_s,
                decode_s: t.decode_s,
                width: d,
                rho_min: 1.0 / experts,
                heads: Some((d / 64.0) as u32),
            };
            match advise(&input, &coeffs) {
                Ok(a) => per_width.push(json!({ "width": d, "advice": args::json(&a) })),
                Err(e) => per_width.push(json!({ "width": d, "error": e.to_string() })),
            }
        }
        let best = match inputs.get("best").and_then(|a| a.as_table()) {
            Some(t) if t.rows() > 0 => {
                let arch = candidates::arch_at(t, 0)?;
                json!({ "arch": args::json(&arch), "rho": arch.rho(), "ffn_ratio": arch.ffn_ratio(), "gqa": arch.gqa(), "loss": t.f64s("loss").map(|l| l[0]) })
            }
            _ => Value::Null,
        };
        Ok(Artifact::json(
            "advice",
            json!({
                "hardware": hw.name,
                "compute_dtype": dtype.name(),
                "precision": wl.precision.label(),
                "targets": args::json(&t),
                "note": "Closed forms of arXiv 2602.10377 §5 with its formulas as published; where its worked examples disagree with them (ρ* at d = 1024 is 0.40 from the coefficients, the text says 0.25), the formulas win. A total-latency limit has no closed form and is listed under targets.unused.",
                "widths": per_width,
                "enumerated_best": best,
            }),
        ))
    }
}
