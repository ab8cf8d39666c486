//! `rooflaw roofline`: latency and memory of one model on one chip.
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use rooflaw_stdlib::roofline::{self, Breakdown, OpRow, Summary};
use rooflaw_stdlib::runtime::{self, BandPhase, Coverage};
use rooflaw_stdlib::{
    Architecture, Attention, Experts, Hardware, Precision, RuntimeRef, Workload, hardware, hf,
    models,
};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
    Csv,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AttentionArg {
    Fused,
    Unfused,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExpertsArg {
    Grouped,
    Looped,
}

#[derive(clap::Args)]
pub struct Args {
    /// Model preset id (`rooflaw presets models`) or a Hugging Face config.json.
    #[arg(long)]
    pub model: String,
    /// Hardware preset id (`rooflaw presets hardware`) or a hardware YAML file.
    #[arg(long)]
    pub hardware: String,
    /// Sequences processed together.
    #[arg(long, default_value_t = 1)]
    pub batch: u32,
    /// Prompt tokens per sequence.
    #[arg(long, default_value_t = 1024)]
    pub prompt: u32,
    /// Output tokens per sequence (the first comes out of prefill).
    #[arg(long, default_value_t = 128)]
    pub generate: u32,
    /// fp32, bf16, fp16, fp8, int8 (w8a8), w8a16, w4a16, w4a8; optional
    /// group size (w4a16g64) and KV suffix (kv8, kv4, kvfp8, kv16).
    #[arg(long, default_value = "fp16")]
    pub precision: String,
    /// Fused (`FlashAttention`) or unfused attention (scores written to DRAM);
    /// default: the runtime's, else fused.
    #[arg(long, value_enum)]
    pub attention: Option<AttentionArg>,
    /// Mixture-of-experts kernels: one grouped GEMM per projection, or one kernel per
    /// expert hit (candle, eager frameworks); default: the runtime's, else grouped.
    #[arg(long, value_enum)]
    pub experts: Option<ExpertsArg>,
    /// The runtime: a preset (`rooflaw presets runtimes`: llama.cpp, mlc, mlx, vllm,
    /// tensorrt-llm, executorch, qnn, candle, tinychat, ideal) or a profile YAML
    /// (`rooflaw calibrate -o`).
    #[arg(long, default_value = "ideal")]
    pub runtime: String,
    /// Also print the per-operator table of both phases.
    #[arg(long)]
    pub ops: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let (model_name, arch) = resolve_model(&args.model)?;
    let hw = hardware::resolve(&args.hardware)?;
    let precision = Precision::parse(&args.precision)?;
    let rt = runtime::resolve(&args.runtime)?;
    let mut wl = Workload::new(args.batch, args.prompt, args.generate, precision)
        .on(RuntimeRef::new(rt.runtime));
    if let Some(a) = args.attention {
        wl.attention = match a {
            AttentionArg::Fused => Attention::Fused,
            AttentionArg::Unfused => Attention::Unfused,
        };
    }
    if let Some(e) = args.experts {
        wl.experts = match e {
            ExpertsArg::Grouped => Experts::Grouped,
            ExpertsArg::Looped => Experts::Looped,
        };
    }
    let summary = roofline::evaluate(&arch, &hw, &wl)?;
    let ops = if args.ops {
        Some(roofline::breakdown(&arch, &hw, &wl)?)
    } else {
        None
    };
    let out = match args.format {
        Format::Text => text(&model_name, &hw, &wl, &summary, ops.as_ref()),
        Format::Json => {
            serde_json::to_string_pretty(&to_json(&model_name, &hw, &wl, &summary, ops.as_ref()))?
                + "\n"
        }
        Format::Csv => csv(&summary, ops.as_ref()),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// A preset id, or a path to a Hugging Face `config.json`.
pub(crate) fn resolve_model(arg: &str) -> anyhow::Result<(String, Architecture)> {
    let path = Path::new(arg);
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || path.is_file()
    {
        let text = rooflaw_cache::files::read_text(path, rooflaw_cache::files::INPUT_LIMIT)?;
        let arch = hf::from_json(&text).with_context(|| arg.to_owned())?;
        return Ok((arg.to_owned(), arch));
    }
    match models::find(arg) {
        Some(p) => Ok((p.name, p.arch)),
        None => match rooflaw_dsl::did_you_mean(arg, models::ids()) {
            Some(s) => bail!("unknown model preset `{arg}`; did you mean `{s}`?"),
            None => bail!("unknown model preset `{arg}` (`rooflaw presets models` lists them)"),
        },
    }
}

fn gb(bytes: f64) -> String {
    format!("{:.2} GB", bytes / 1e9)
}

fn billions(n: u64) -> String {
    format!("{:.3} B", n as f64 / 1e9)
}

fn text(model: &str, hw: &Hardware, wl: &Workload, s: &Summary, ops: Option<&Breakdown>) -> String {
    let p = &wl.precision;
    let steps = wl.decode_steps();
    let attention = match wl.attention {
        Attention::Fused => "fused",
        Attention::Unfused => "unfused",
    };
    let rows: Vec<(&str, String)> = vec![
        (
            "model",
            format!(
                "{model}  ({} params, {} active)",
                billions(s.params_total),
                billions(s.params_active)
            ),
        ),
        ("hardware", format!("{}  ({})", hw.name, hw.id)),
        (
            "workload",
            format!(
                "batch {}, prompt {}, generate {}, {} attention, runtime {}",
                wl.batch, wl.prompt, wl.generate, attention, wl.runtime.id
            ),
        ),
        (
            "precision",
            format!(
                "{p}: weights {}, activations {}, KV {}, matmuls in {}",
                p.weights.name(),
                p.activations.name(),
                p.kv.name(),
                p.compute().name()
            ),
        ),
        (
            "prefill (TTFT)",
            format!(
                "{:>10.3} ms   {}-bound",
                s.prefill * 1e3,
                s.prefill_bound.name()
            ),
        ),
        (
            "decode",
            format!(
                "{:>10.3} ms/token   {}-bound   ({:.3} ms for {steps} steps)",
                s.decode_per_token * 1e3,
                s.decode_bound.name(),
                s.decode * 1e3
            ),
        ),
        ("total", format!("{:>10.3} ms", s.total * 1e3)),
        ("band", band_text(wl, hw, s)),
        ("throughput", format!("{:>10.1} tokens/s", s.tokens_per_s)),
        (
            "memory",
            format!(
                "{} weights + {} KV + {} activations = {} of {}: {}",
                gb(s.weights_bytes),
                gb(s.kv_cache_bytes),
                gb(s.activation_bytes),
                gb(s.memory_bytes),
                gb(hw.memory),
                if s.fits_memory {
                    "fits"
                } else {
                    "DOES NOT FIT"
                }
            ),
        ),
    ];
    let width = rows.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (k, v) in &rows {
        let _ = writeln!(out, "{k:<width$}  {v}");
    }
    if let Some(b) = ops {
        out.push('\n');
        op_table(&mut out, "prefill (whole prompt)", &b.prefill);
        if !b.decode.is_empty() {
            out.push('\n');
            let title = format!("decode (mean of {} steps)", b.decode_steps);
            op_table(&mut out, &title, &b.decode);
        }
    }
    out
}

/// The p10–p90 range of each phase, and where it comes from.
fn band_text(wl: &Workload, hw: &Hardware, s: &Summary) -> String {
    let r = runtime::Ranges::new(&wl.runtime, hw, s);
    let ms = |(lo, hi): (f64, f64)| format!("{:.3}–{:.3}", lo * 1e3, hi * 1e3);
    let why = |c: &Coverage, phase: BandPhase| match c {
        Coverage::Calibrated(b) => format!(
            "{} {}: {} rows on {} devices",
            phase.name(),
            b.memory.map_or("all hardware", |m| memory_class(m)),
            b.rows,
            b.devices
        ),
        Coverage::Uncalibrated(_) => format!(
            "{}: no calibration data for {} on this hardware, widest band",
            phase.name(),
            wl.runtime.id
        ),
    };
    format!(
        "prefill {} ms, decode {} ms/token, total {} ms  ({:.0}% bands, leave-one-device-out; {}; {})",
        ms(r.prefill_s),
        ms(r.decode_per_token_s),
        ms(r.total_s),
        runtime::COVERAGE * 100.0,
        why(&r.prefill, BandPhase::Prefill),
        why(&r.decode, BandPhase::Decode),
    )
}

fn memory_class(m: hardware::MemoryClass) -> &'static str {
    match m {
        hardware::MemoryClass::Lpddr => "LPDDR",
        hardware::MemoryClass::Gddr => "GDDR",
        hardware::MemoryClass::Hbm => "HBM",
    }
}

fn op_table(out: &mut String, title: &str, rows: &[OpRow]) {
    let _ = writeln!(out, "{title}");
    let _ = writeln!(
        out,
        "{:<12} {:>5} {:>12} {:>11} {:>11} {:>11} {:>11} {:>9} {:>8} {:>10}",
        "op",
        "count",
        "GFLOP",
        "weights MB",
        "act MB",
        "KV rd MB",
        "KV wr MB",
        "FLOP/B",
        "bound",
        "time ms"
    );
    let mut total = 0.0;
    for r in rows {
        total += r.time;
        let _ = writeln!(
            out,
            "{:<12} {:>5} {:>12.4} {:>11.3} {:>11.3} {:>11.3} {:>11.3} {:>9.1} {:>8} {:>10.4}",
            r.name,
            r.count,
            r.flops / 1e9,
            r.weight_bytes / 1e6,
            r.activation_bytes / 1e6,
            r.kv_read_bytes / 1e6,
            r.kv_write_bytes / 1e6,
            r.intensity,
            r.bound.name(),
            r.time * 1e3
        );
    }
    let _ = writeln!(out, "{:<12} {:>101.4}", "sum", total * 1e3);
}

fn to_json(
    model: &str,
    hw: &Hardware,
    wl: &Workload,
    s: &Summary,
    ops: Option<&Breakdown>,
) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.insert("model".into(), json!(model));
        m.insert("hardware".into(), json!(hw.id));
        m.insert("batch".into(), json!(wl.batch));
        m.insert("prompt".into(), json!(wl.prompt));
        m.insert("generate".into(), json!(wl.generate));
        m.insert("precision".into(), json!(wl.precision.label()));
        m.insert("attention".into(), json!(wl.attention));
        m.insert("runtime".into(), json!(wl.runtime.id));
        let r = runtime::Ranges::new(&wl.runtime, hw, s);
        for (k, (lo, hi)) in [
            ("prefill_ms", r.prefill_s),
            ("decode_ms_per_token", r.decode_per_token_s),
            ("total_ms", r.total_s),
        ] {
            m.insert(format!("{k}_lo"), json!(lo * 1e3));
            m.insert(format!("{k}_hi"), json!(hi * 1e3));
        }
        m.insert("band_calibrated".into(), json!(r.calibrated()));
        if let Some(b) = ops {
            m.insert("ops".into(), serde_json::to_value(b).unwrap_or(Value::Null));
        }
    }
    v
}

/// One header and one row of the summary, or with `--ops` one row per
/// operator and phase.
fn csv(s: &Summary, ops: Option<&Breakdown>) -> String {
    let mut out = String::new();
    match ops {
        None => {
            let v = serde_json::to_value(s).unwrap_or(Value::Null);
            let m = v.as_object().cloned().unwrap_or_default();
            let keys: Vec<&str> = m.keys().map(String::as_str).collect();
            let vals: Vec<String> = m
                .values()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), str::to_owned))
                .collect();
            let _ = writeln!(out, "{}", keys.join(","));
            let _ = writeln!(out, "{}", vals.join(","));
        }
        Some(b) => {
            let _ = writeln!(
                out,
                "phase,op,count,engine,kernels,flops,weight_bytes,activation_bytes,kv_read_bytes,kv_write_bytes,intensity,bound,time_ms"
            );
            for (phase, rows) in [("prefill", &b.prefill), ("decode", &b.decode)] {
                for r in rows {
                    let _ = writeln!(
                        out,
                        "{phase},{},{},{},{},{},{},{},{},{},{},{},{}",
                        r.name,
                        r.count,
                        r.engine,
                        r.kernels,
                        r.flops,
                        r.weight_bytes,
                        r.activation_bytes,
                        r.kv_read_bytes,
                        r.kv_write_bytes,
                        r.intensity,
                        r.bound.name(),
                        r.time * 1e3
                    );
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_to_string(model: &str, format: Format, ops: bool) -> anyhow::Result<String> {
        let (name, arch) = resolve_model(model)?;
        let hw = hardware::resolve("a100-80gb")?;
        let wl = Workload::new(1, 1024, 128, Precision::parse("fp16")?);
        let s = roofline::evaluate(&arch, &hw, &wl)?;
        let b = if ops {
            Some(roofline::breakdown(&arch, &hw, &wl)?)
        } else {
            None
        };
        Ok(match format {
            Format::Text => text(&name, &hw, &wl, &s, b.as_ref()),
            Format::Json => to_json(&name, &hw, &wl, &s, b.as_ref()).to_string(),
            Format::Csv => csv(&s, b.as_ref()),
        })
    }

    #[test]
    fn json_has_the_stable_keys_and_the_inputs() {
        let v: Value =
            serde_json::from_str(&run_to_string("llama-2-7b", Format::Json, true).unwrap())
                .unwrap();
        for k in [
            "prefill_ms",
            "ttft_ms",
            "decode_ms_per_token",
            "total_ms",
            "tokens_per_s",
        ] {
            assert!(v[k].as_f64().unwrap() > 0.0, "{k}");
        }
        assert_eq!(v["params_total"], 6_738_415_616_u64);
        assert_eq!(v["hardware"], "a100-80gb");
        assert_eq!(v["precision"], "fp16");
        assert_eq!(v["ops"]["decode_steps"], 127);
        assert!(
            v["ops"]["prefill"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["name"] == "lm_head")
        );
    }

    #[test]
    fn text_and_csv_render() {
        let t = run_to_string("llama-2-7b", Format::Text, true).unwrap();
        assert!(t.contains("prefill (TTFT)") && t.contains("fits") && t.contains("ffn_down"));
        let c = run_to_string("llama-2-7b", Format::Csv, false).unwrap();
        let lines: Vec<&str> = c.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("prefill_ms"));
        let c = run_to_string("llama-2-7b", Format::Csv, true).unwrap();
        assert!(c.lines().any(|l| l.starts_with("decode,attention,")));
    }

    #[test]
    fn unknown_models_suggest_a_preset() {
        let err = resolve_model("llama-2-7").unwrap_err().to_string();
        assert_eq!(
            err,
            "unknown model preset `llama-2-7`; did you mean `llama-2-7b`?"
        );
        let err = resolve_model("/nonexistent/config.json")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot read /nonexistent/config.json"),
            "{err}"
        );
    }
}
