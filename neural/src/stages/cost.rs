//! What a `train` stage would cost, for `rooflaw plan`: 6·N·D FLOPs per run
//! (N the active parameters, D the tokens), and at an assumed utilisation of
//! the target accelerator's bf16 peak, GPU-hours.
use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Code, Diagnostic};
use serde_json::{Value, json};

use rooflaw_stdlib::stages::args;
use rooflaw_stdlib::{Architecture, Dtype};

/// Default model FLOPs utilisation: what well-tuned dense pre-training
/// reaches on current GPUs (`PaLM` reports 46%, Llama 3 38–43% at scale).
pub(crate) const DEFAULT_UTILISATION: f64 = 0.4;

/// The target device and utilisation, as the stage's parameters hold them.
pub(crate) fn resolve(stage: &Stage, spec: &Spec) -> Result<Value, Vec<Diagnostic>> {
    let utilisation = args::number(stage, "utilisation").unwrap_or(DEFAULT_UTILISATION);
    if !(utilisation > 0.0 && utilisation <= 1.0) {
        return Err(vec![
            Diagnostic::error(
                Code::OutOfRange,
                format!("`utilisation` must be a fraction in (0, 1], found {utilisation}"),
            )
            .at(args::span(stage, "utilisation"), "out of range")
            .help("0.4 means 40% of the accelerator's peak"),
        ]);
    }
    let mut out = json!({ "utilisation": utilisation, "utilisation_default": stage.arg("utilisation").is_none() });
    if stage.arg("gpu").is_some()
        && let args::HardwareArg::Block(hw) = args::hardware(stage, spec, "gpu")?
        && let Some((dtype, peak)) = hw.peak_for(Dtype::Bf16)
    {
        out["device"] = json!(hw.name);
        out["dtype"] = json!(dtype.name());
        out["peak_flops"] = json!(peak);
    }
    Ok(out)
}

/// The estimate for these runs; `settings` is what [`resolve`] returned.
pub(crate) fn estimate(archs: &[Architecture], tokens: u64, gpus: u64, settings: &Value) -> Value {
    let flops: Vec<f64> = archs
        .iter()
        .map(|a| 6.0 * a.params_active() as f64 * tokens as f64)
        .collect();
    let total: f64 = flops.iter().sum();
    let mut out = json!({
        "runs": archs.len(),
        "tokens_per_run": tokens,
        "flops": total,
        "flops_max_run": flops.iter().copied().fold(0.0, f64::max),
        "utilisation": settings["utilisation"],
    });
    if let Some(peak) = settings["peak_flops"].as_f64() {
        let util = settings["utilisation"]
            .as_f64()
            .unwrap_or(DEFAULT_UTILISATION);
        // Each job holds `gpus` devices; the FLOPs are shared among them.
        let hours = total / (peak * util) / 3600.0;
        out["device"] = settings["device"].clone();
        out["dtype"] = settings["dtype"].clone();
        out["peak_flops"] = json!(peak);
        out["gpu_hours"] = json!(hours);
        out["wall_hours_per_run_max"] = json!(
            out["flops_max_run"].as_f64().unwrap_or(0.0) / (peak * util * gpus as f64) / 3600.0
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_n_d_and_gpu_hours() {
        let a = Architecture::dense(2, 64, 4, 2, 128);
        let n = a.params_active() as f64;
        let e = estimate(
            &[a.clone(), a],
            1_000_000,
            1,
            &json!({ "utilisation": 0.5, "peak_flops": 1e12, "device": "x", "dtype": "bf16" }),
        );
        assert!((e["flops"].as_f64().unwrap() - 2.0 * 6.0 * n * 1e6).abs() < 1.0);
        let hours = e["gpu_hours"].as_f64().unwrap();
        assert!((hours - 2.0 * 6.0 * n * 1e6 / 0.5e12 / 3600.0).abs() < 1e-12);
        let no_device = estimate(&[], 1, 1, &json!({ "utilisation": 0.4 }));
        assert!(no_device.get("gpu_hours").is_none());
    }
}
