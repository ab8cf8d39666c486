//! `rooflaw calibrate FILE --hardware HW --runtime RT [-o profile.yaml]`:
//! a runtime profile fitted to one's own measurements (llama-bench output
//! or a plain table), which `--runtime profile.yaml` then predicts with.
use std::process::ExitCode;

use anyhow::{Context, bail};
use rooflaw_stdlib::runtime::measured::{self, Measurement};
use rooflaw_stdlib::runtime::{self, profile};
use rooflaw_stdlib::{Architecture, hardware, models};

use super::calibrate::Args;

/// The architecture of a measurement: `--model`, else the row's model, else
/// the preset whose parameter count is within 1% of llama-bench's.
fn model(args: &Args, m: &Measurement) -> Result<Architecture, String> {
    if let Some(name) = args.model.as_deref().or(m.model.as_deref()) {
        return super::roofline::resolve_model(name)
            .map(|(_, a)| a)
            .map_err(|e| e.to_string());
    }
    let Some(n) = m.n_params else {
        return Err("no model: give --model PRESET|config.json".into());
    };
    models::ids()
        .into_iter()
        .filter_map(models::find)
        .map(|p| (p.arch.params_total().abs_diff(n) as f64 / n as f64, p))
        .filter(|(d, _)| *d < 0.01)
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, p)| p.arch)
        .ok_or_else(|| {
            format!("no model preset has {n} parameters (llama-bench's model_n_params): give --model PRESET|config.json")
        })
}

pub fn run(args: &Args, rt: &str) -> anyhow::Result<ExitCode> {
    let base = runtime::resolve(rt)?;
    let hw = hardware::resolve(&args.hardware)?;
    let rows = measured::read(&args.file)?;
    let samples = profile::samples(&base, &hw, &rows, |m| model(args, m))
        .map_err(|e| anyhow::anyhow!(e))
        .with_context(|| format!("reading {}", args.file.display()))?;
    if samples.is_empty() {
        bail!("{}: no measurements", args.file.display());
    }
    let c = profile::calibrate(&base, &samples, &args.file.display().to_string());
    let pct = |x: f64| {
        if x.is_nan() {
            "     –".to_string()
        } else {
            format!("{:>5.1}%", x * 100.0)
        }
    };
    println!(
        "{} calibrated on {} measurements on {}",
        base.runtime.name, c.rows, hw.name
    );
    println!("median |error|   {:>8} {:>8}", base.runtime.id, "fitted");
    println!(
        "decode           {:>8} {:>8}",
        pct(c.before.0),
        pct(c.after.0)
    );
    println!(
        "prefill          {:>8} {:>8}",
        pct(c.before.1),
        pct(c.after.1)
    );
    let e = &c.preset.runtime.efficiency;
    let class = hw
        .memory_technology
        .map(rooflaw_stdlib::hardware::MemoryTechnology::class);
    println!(
        "figures on this hardware: memory {:.4}, compute {:.4}, per token {:.3} ms",
        e.memory.get(class).unwrap_or(hw.efficiency_memory),
        e.compute.get(class).unwrap_or(hw.efficiency_compute),
        c.preset.runtime.per_token * 1e3
    );
    if let Some(path) = &args.output {
        std::fs::write(path, runtime::to_yaml(&c.preset))
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote the runtime profile to {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}
