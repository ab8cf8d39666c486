//! `rooflaw calibrate MEASUREMENTS.csv --hardware FILE.yaml|PRESET`: how far
//! the roofline is from measured prefill and decode latency, before and
//! after fitting the hardware's efficiencies and launch overhead to a
//! calibration half of the runs; `--write` / `--output` save the calibrated
//! hardware as YAML with its provenance.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use rooflaw_stdlib::calibrate::{BeforeAfter, Calibration, Metrics, Options, calibrate};
use rooflaw_stdlib::hardware::{self, HardwarePreset};
use serde_json::json;

pub use super::TextOrJson as Format;

#[derive(clap::Args)]
#[command(after_help = "\
MEASUREMENTS.csv is what the measure stage exports (DIR/data/<stage>.csv) or rooflaw measure
--format csv writes: architecture columns (layers, width, heads, kv_heads, head_dim, ffn, experts,
top_k, shared_experts, shared_ffn, vocab, tied, gated, qk_norm), precision, batch, prompt,
generate, prefill_ms and decode_ms (all decode steps); device, attention (fused|unfused,
default unfused) and experts_kernels (grouped|looped, default looped) when present: the
defaults are how candle, so the measure stage, runs.
The fit minimises the squared log error of prefill and decode over the calibration runs
(L-BFGS from a grid of starts); the split is seeded and stratified by dense/MoE.")]
pub struct Args {
    /// CSV file of measured runs.
    pub file: PathBuf,
    /// Hardware to calibrate: a YAML file or a preset id.
    #[arg(long)]
    pub hardware: String,
    /// Fraction of runs held out to judge the calibration (0: judge on the fitted runs).
    #[arg(long, default_value_t = 0.5)]
    pub holdout: f64,
    /// Seed of the calibration/validation split and the starts.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Write the calibrated efficiencies and launch back into the --hardware YAML file.
    #[arg(long, conflicts_with = "output")]
    pub write: bool,
    /// Write the calibrated hardware (or, with --runtime, the runtime profile)
    /// to this YAML file.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Calibrate a runtime profile instead of the hardware: the runtime the
    /// measurements ran on (a preset such as llama.cpp, or a profile YAML).
    /// Reads llama-bench output (-o json, jsonl or csv) or a plain table
    /// (device, model, format, runtime, phase, prompt, generate, context,
    /// value, unit).
    #[arg(long)]
    pub runtime: Option<String>,
    /// With --runtime: the model measured (a preset or config.json), where
    /// the file does not name one; llama-bench files are matched to a preset
    /// by their parameter count otherwise.
    #[arg(long)]
    pub model: Option<String>,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

/// The hardware with the sources of its numbers: a file is loaded, anything
/// else is a preset id.
fn load_hardware(arg: &str) -> anyhow::Result<(HardwarePreset, Option<PathBuf>)> {
    let path = Path::new(arg);
    let is_yaml = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"));
    if is_yaml || path.is_file() {
        return Ok((hardware::load(path)?, Some(path.to_path_buf())));
    }
    match hardware::presets()
        .into_iter()
        .find(|p| p.hardware.id == arg)
    {
        Some(p) => Ok((p, None)),
        // `resolve` words the unknown-preset error with its did-you-mean.
        None => Err(hardware::resolve(arg).err().map_or_else(
            || anyhow::anyhow!("unknown hardware `{arg}`"),
            anyhow::Error::from,
        )),
    }
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    if let Some(rt) = &args.runtime {
        return super::calibrate_runtime::run(args, rt);
    }
    let (base, file) = load_hardware(&args.hardware)?;
    let target = match (&args.output, args.write, &file) {
        (Some(out), _, _) => Some(out.clone()),
        (None, true, Some(f)) => Some(f.clone()),
        (None, true, None) => bail!(
            "--write needs --hardware to be a YAML file; `{}` is a preset (use --output FILE)",
            args.hardware
        ),
        (None, false, _) => None,
    };
    let (samples, device) = rooflaw_stdlib::stages::measured_samples(&args.file)
        .map_err(|e| anyhow::anyhow!(e))
        .with_context(|| format!("reading {}", args.file.display()))?;
    if samples.is_empty() {
        bail!("{}: no data rows", args.file.display());
    }
    let opts = Options {
        holdout: args.holdout,
        seed: args.seed,
        ..Options::default()
    };
    let c = calibrate(&samples, &base.hardware, &opts)
        .with_context(|| format!("calibrating {}", base.hardware.id))?;
    let preset = c.preset(&base, &rooflaw_stdlib::clock::utc_date(), &device);
    match args.format {
        Format::Text => print_text(&c, &base, &device),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "hardware": preset,
                "device": device,
                "calibration": c,
            }))?
        ),
    }
    if let Some(path) = target {
        rooflaw_cache::files::write_atomic(&path, hardware::to_yaml(&preset).as_bytes())
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote the calibrated hardware to {}", path.display());
    }
    if !c.converged {
        eprintln!(
            "warning: the best start stopped on the iteration cap; the figures may not be the optimum"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn rho(m: &Metrics) -> String {
    m.spearman.map_or("–".into(), |r| format!("{r:.3}"))
}

fn print_side(name: &str, s: &BeforeAfter) {
    for (phase, b, a) in [
        ("prefill", &s.before.prefill, &s.after.prefill),
        ("decode", &s.before.decode, &s.after.decode),
        ("both", &s.before.overall, &s.after.overall),
    ] {
        println!(
            "{name:<12} {phase:<8} {:>4}   {:>7.1}% → {:>6.1}%   {:>7.1}% → {:>6.1}%   {:>6} → {:>6}",
            b.n,
            b.median_ape,
            a.median_ape,
            b.mape,
            a.mape,
            rho(b),
            rho(a)
        );
    }
}

fn print_text(c: &Calibration, base: &HardwarePreset, device: &str) {
    let hw = &c.hardware;
    let b = &base.hardware;
    println!(
        "{} calibrated on {} of {} runs{} (seed {}, {} starts{})",
        b.name,
        c.train.len(),
        c.samples,
        if device.is_empty() {
            String::new()
        } else {
            format!(" measured on {device}")
        },
        c.options.seed,
        c.starts,
        if c.converged { "" } else { ", not converged" }
    );
    println!();
    println!(
        "efficiency compute  {:.4} → {:.4}",
        b.efficiency_compute, hw.efficiency_compute
    );
    println!(
        "efficiency memory   {:.4} → {:.4}",
        b.efficiency_memory, hw.efficiency_memory
    );
    println!(
        "efficiency vector   {:.4} → {:.4}",
        b.vector_efficiency(),
        hw.vector_efficiency()
    );
    println!(
        "launch              {:.3} µs → {:.3} µs",
        b.launch * 1e6,
        hw.launch * 1e6
    );
    println!();
    println!(
        "{:<12} {:<8} {:>4}   {:>18}   {:>18}   {:>16}",
        "runs", "phase", "n", "median |error|", "mean |error|", "Spearman"
    );
    if let Some(h) = &c.on_heldout {
        print_side("held out", h);
    }
    print_side("calibration", &c.on_train);
}
