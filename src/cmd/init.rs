//! `rooflaw init [DIR]`: a commented pipeline for one device with a
//! baseline, and a `.gitignore` for what a run writes next to it.
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use rooflaw_stdlib::{Hardware, Precision, Workload, hardware, roofline};

/// The file `init` writes the pipeline to.
pub const PIPELINE: &str = "codesign.pipeline";

#[derive(clap::Args)]
pub struct Args {
    /// Directory to write `codesign.pipeline` and `.gitignore` into (created if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Hardware preset id to design for (`rooflaw presets hardware`).
    #[arg(long, default_value = "jetson-orin-nano-8gb")]
    pub hardware: String,
    /// Model preset id to compare the chosen design with (`rooflaw presets models`).
    #[arg(long, default_value = "qwen2.5-0.5b")]
    pub model: String,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let hw = hardware::preset(&args.hardware).with_context(|| {
        match rooflaw_dsl::did_you_mean(&args.hardware, hardware::ids()) {
            Some(s) => format!(
                "unknown hardware preset `{}`; did you mean `{s}`?",
                args.hardware
            ),
            None => format!(
                "unknown hardware preset `{}` (`rooflaw presets hardware` lists them)",
                args.hardware
            ),
        }
    })?;
    let model_path = Path::new(&args.model);
    if model_path.exists()
        || model_path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        bail!("--model takes a preset id (`rooflaw presets models`), not a file");
    }
    let (model, arch) = super::roofline::resolve_model(&args.model)?;
    let text = pipeline(&args.hardware, &hw, &args.model, &model, &arch)?;
    let files = [
        (args.dir.join(PIPELINE), text),
        (args.dir.join(".gitignore"), GITIGNORE.to_owned()),
    ];
    // Check every file before writing any, so a refusal leaves nothing half done.
    let existing: Vec<String> = files
        .iter()
        .filter(|(p, _)| p.exists())
        .map(|(p, _)| p.display().to_string())
        .collect();
    if !existing.is_empty() {
        bail!(
            "{} already exist{}; init does not overwrite files (move them, or init another directory)",
            existing.join(" and "),
            if existing.len() == 1 { "s" } else { "" }
        );
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    for (path, text) in &files {
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let file = files[0].0.display();
    println!("wrote {file} and {}", files[1].0.display());
    println!("next: rooflaw check {file} && rooflaw run {file}");
    Ok(ExitCode::SUCCESS)
}

const GITIGNORE: &str = "\
# rooflaw: the stage cache and the reports are rebuilt by `rooflaw run`.
# Keep codesign.pipeline.lock: `rooflaw run --locked` checks against it.
.rooflaw/
out/
";

/// The workload the scaffold starts from: a chat turn, batch 1.
const PROMPT: u32 = 512;
const GENERATE: u32 = 64;

/// The precisions of the scaffold's workload that `hw` has peak figures for
/// (fp16 and 4-bit weights where it can, else fp32), with the baseline's
/// roofline latency at the first.
fn precisions(
    hw: &Hardware,
    arch: &rooflaw_stdlib::Architecture,
) -> anyhow::Result<(Vec<&'static str>, f64)> {
    let mut usable = Vec::new();
    let mut first = None;
    for p in ["fp16", "w4a16", "fp32"] {
        if p == "fp32" && !usable.is_empty() {
            break;
        }
        let wl = Workload::new(1, PROMPT, GENERATE, Precision::parse(p)?);
        if let Ok(s) = roofline::evaluate(arch, hw, &wl) {
            first.get_or_insert(s.total);
            usable.push(p);
        }
    }
    match first {
        Some(total) => Ok((usable, total)),
        None => bail!("{} has no peak compute figure for fp16 or fp32", hw.id),
    }
}

/// `x` rounded up to two significant digits, so the budget reads like one
/// a person would write.
fn round_up(x: f64) -> String {
    let exponent = x.log10().floor() as i32 - 1;
    let digits = (x / 10f64.powi(exponent)).ceil();
    let decimals = usize::try_from(-exponent).unwrap_or(0);
    format!("{:.decimals$}", digits * 10f64.powi(exponent))
}

fn pipeline(
    hw_id: &str,
    hw: &Hardware,
    model_id: &str,
    model: &str,
    arch: &rooflaw_stdlib::Architecture,
) -> anyhow::Result<String> {
    let (precisions, baseline_total) = precisions(hw, arch)?;
    let latency_ms = round_up(baseline_total * 1e3);
    // Leave a tenth of the memory to the OS and the runtime.
    let memory_gib = (hw.memory * 0.9 / f64::from(1u32 << 30) * 10.0).floor() / 10.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "# Which architecture gives the lowest loss on {} ({hw_id}) within the
# latency of {model} ({model_id}), and how much better is it?
#
#   rooflaw check {PIPELINE}     validate without running
#   rooflaw run {PIPELINE}       run (cached: an edit reruns only what it changes)
#   rooflaw plan {PIPELINE}      what a run would redo, and why
#
# The report lands in out/codesign/ (index.html, summary.md, CSV and JSON);
# the cache in .rooflaw/. The language: dsl/GRAMMAR.md in the rooflaw repository.
",
        hw.name
    );
    let _ = writeln!(
        s,
        "# The device: a bundled preset (`rooflaw presets hardware`). Override any
# figure in the braces, e.g. {{ bandwidth = 60 GB/s }}, or describe this
# machine with `rooflaw hardware probe -o here.yaml` and write
# `hardware device from \"here.yaml\" {{}}`.
hardware device from \"{hw_id}\" {{}}

# What one request does: a prompt read at once (prefill), then tokens
# generated one by one (decode). Each precision is evaluated separately.
workload chat {{
  batch     = 1
  prompt    = {PROMPT} tokens
  generate  = {GENERATE} tokens
  precision = [{}]
}}
",
        precisions.join(", ")
    );
    let _ = writeln!(
        s,
        "# The designs to consider: every combination of these fields that passes the
# `require` lines. `ffn` is the FFN width as a multiple of `width`;
# (experts, top_k) = (1, 1) is a dense model.
space candidates {{
  layers           = [4, 8 .. 24 step 4]
  width            = 768 .. 2048 step 256
  heads            = width / 64
  kv_heads         = [1, 2, 4, heads]
  ffn              = [1, 2, 4]
  (experts, top_k) = [(1, 1), (8, 1), (8, 2)]
  vocab            = 32000
  require heads % kv_heads == 0
}}

# The limits a design must meet. The latency is {model}'s own on this device
# ({:.1} ms at {}, rounded up), the memory nine tenths of the device's.
budget target {{
  latency.total <= {latency_ms} ms
  memory        <= {memory_gib} GiB
}}
",
        baseline_total * 1e3,
        precisions[0]
    );
    let _ = writeln!(
        s,
        "# The pipeline: each stage is cached by its inputs (`rooflaw stages` lists every kind).
stage designs  = enumerate(candidates)
stage latency  = roofline(designs, hardware: device, workload: chat)
stage loss     = law(\"sun2026\")
stage frontier = pareto(latency, loss, objective: total)
stage best     = search(frontier, budget: target, baseline: \"{model_id}\")

report best, frontier to \"out/codesign\""
    );
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::round_up;

    #[test]
    fn budgets_round_up_to_two_digits() {
        assert_eq!(round_up(1234.0), "1300");
        assert_eq!(round_up(98.1), "99");
        assert_eq!(round_up(0.512), "0.52");
    }
}
