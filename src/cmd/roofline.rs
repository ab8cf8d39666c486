//! `rooflaw roofline`: latency and memory of one model on one chip.
use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use rooflaw_stdlib::roofline::{self, Breakdown, OpRow, Summary};
use rooflaw_stdlib::runtime::{self, BandPhase, Coverage};
use rooflaw_stdlib::{
    Architecture, Attention, Experts, Hardware, Precision, RuntimeRef, Workload, gguf, hardware,
    hf, models,
};
use serde_json::{Value, json};

mod comparison;

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

// The help text names formats and llama-bench tests as users type them;
// backticks would show in --help.
#[allow(clippy::doc_markdown)]
#[derive(clap::Args)]
pub struct Args {
    /// Model preset id (rooflaw presets models), a Hugging Face config.json, or a GGUF file
    /// (its header only is read: shapes and each tensor's type); several, comma-separated,
    /// give one row per combination with --hardware and --precision.
    #[arg(long, required = true, value_delimiter = ',')]
    pub model: Vec<String>,
    /// Hardware preset id (rooflaw presets hardware) or a hardware YAML file; several,
    /// comma-separated.
    #[arg(long, required = true, value_delimiter = ',')]
    pub hardware: Vec<String>,
    /// Sequences processed together.
    #[arg(long, default_value_t = 1)]
    pub batch: u32,
    /// Prompt tokens per sequence, as the language writes numbers (2k,
    /// 2_048); 0 decodes from the cache as it is (llama-bench's tgN).
    #[arg(long, default_value = "1024", value_parser = tokens)]
    pub prompt: u32,
    /// Output tokens per sequence (the first comes out of prefill); 0 runs
    /// the prompt only (llama-bench's ppN).
    #[arg(long, default_value = "128", value_parser = tokens)]
    pub generate: u32,
    /// Tokens per sequence already in the KV cache before the prompt (a chat
    /// turn's history).
    #[arg(long, default_value = "0", value_parser = tokens)]
    pub context: u32,
    /// The format: fp32, bf16, fp16, fp8, int8 (w8a8), w8a16, w4a16, w4a8
    /// (optional group size: w4a16g64); llama.cpp's Q4_K_M, Q8_0, IQ4_XS, ...;
    /// MLC's q4f16_1, q3f16_1; mlx_4bit, mlx_8bit, nf4, nvfp4, mxfp4; with an
    /// optional KV suffix (kv8, kvfp8: w4a16kv8, Q4_K_M_kv8). Default fp16, or a
    /// GGUF model's own tensor types; several, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub precision: Vec<String>,
    // clap prints doc comments as written: help text stays free of Markdown.
    #[allow(clippy::doc_markdown)]
    /// Fused (FlashAttention) or unfused attention (scores written to DRAM);
    /// default: the runtime's, else fused.
    #[arg(long, value_enum)]
    pub attention: Option<AttentionArg>,
    /// Mixture-of-experts kernels: one grouped GEMM per projection, or one kernel per
    /// expert hit (candle, eager frameworks); default: the runtime's, else grouped.
    #[arg(long, value_enum)]
    pub experts: Option<ExpertsArg>,
    /// The runtime: a preset (rooflaw presets runtimes: llama.cpp, mlc, mlx, vllm,
    /// tensorrt-llm, executorch, qnn, candle, tinychat, ideal) or a profile YAML
    /// (rooflaw calibrate -o).
    #[arg(long, default_value = "ideal")]
    pub runtime: String,
    /// Also print the per-operator table of both phases (one combination only).
    #[arg(long)]
    pub ops: bool,
    /// Output format: text, json, or csv.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut rows = Vec::new();
    for model in &args.model {
        for hardware in &args.hardware {
            if args.precision.is_empty() {
                rows.push(evaluate_one(args, model, hardware, None)?);
            }
            for precision in &args.precision {
                rows.push(evaluate_one(args, model, hardware, Some(precision))?);
            }
        }
    }
    let out = match rows.as_slice() {
        [(model_name, hw, wl, summary)] => {
            let ops = if args.ops {
                Some(roofline::breakdown(
                    &resolve_model(&args.model[0])?.1,
                    hw,
                    wl,
                )?)
            } else {
                None
            };
            match args.format {
                Format::Text => text(model_name, hw, wl, summary, ops.as_ref()),
                Format::Json => {
                    serde_json::to_string_pretty(&to_json(
                        model_name,
                        hw,
                        wl,
                        summary,
                        ops.as_ref(),
                    ))? + "\n"
                }
                Format::Csv => match &ops {
                    Some(b) => csv(b),
                    None => comparison::csv(&rows),
                },
            }
        }
        _ if args.ops => bail!(
            "--ops prints one combination's operators; give one model, hardware and precision"
        ),
        _ => match args.format {
            Format::Text => comparison::text(&rows),
            Format::Json => {
                let all: Vec<Value> = rows
                    .iter()
                    .map(|(m, h, w, s)| to_json(m, h, w, s, None))
                    .collect();
                serde_json::to_string_pretty(&all)? + "\n"
            }
            Format::Csv => comparison::csv(&rows),
        },
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// One model on one chip at one precision, as the flags describe it.
fn evaluate_one(
    args: &Args,
    model: &str,
    hardware: &str,
    precision: Option<&str>,
) -> anyhow::Result<comparison::Row> {
    let (model_name, arch, own) = resolve_model_and_format(model)?;
    let hw = hardware::resolve(hardware)?;
    let precision = precision_for(precision, own, model)?;
    let rt = runtime::resolve(&args.runtime)?;
    let mut wl = Workload::new(args.batch, args.prompt, args.generate, precision)
        .on(RuntimeRef::new(rt.runtime));
    wl.context = args.context;
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
    Ok((model_name, hw, wl, summary))
}

/// A token count as the language writes it: `2048`, `2k`, `2_048`,
/// `2k tokens`.
pub(crate) fn tokens(text: &str) -> Result<u32, String> {
    let t = text.trim();
    let t = t
        .strip_suffix("tokens")
        .or_else(|| t.strip_suffix("token"))
        .unwrap_or(t)
        .trim_end();
    let v = rooflaw_dsl::parse::number_value(t)?;
    if v < 0.0 || v.fract() != 0.0 || v > f64::from(u32::MAX) {
        return Err(format!("`{text}` is not a whole number of tokens"));
    }
    Ok(v as u32)
}

/// The precision to run: `--precision`, or a GGUF file's own types. A
/// GGUF file fixes its weights, so `--precision` may only restate the
/// file's type (to change the KV cache: `Q4_K_M_kv8`).
fn precision_for(
    arg: Option<&str>,
    own: Option<Precision>,
    model: &str,
) -> anyhow::Result<Precision> {
    let Some(own) = own else {
        return Ok(Precision::parse(arg.unwrap_or("fp16"))?);
    };
    let Some(arg) = arg else {
        return Ok(own);
    };
    let asked = Precision::parse(arg)?;
    let file_mix = match own.scheme {
        rooflaw_stdlib::format::Scheme::File(f) => f.mix,
        _ => None,
    };
    match (asked.scheme, file_mix) {
        (rooflaw_stdlib::format::Scheme::Llama(m), Some(f)) if m == f => Ok(Precision {
            kv: asked.kv,
            ..own
        }),
        _ => bail!(
            "{model} stores its weights as {}; --precision cannot change them (give the file's \
             own type, e.g. `{}_kv8`, to change the KV cache, or leave --precision out)",
            file_mix.map_or_else(
                || "the types in its header".to_owned(),
                |m| m.name().to_owned()
            ),
            file_mix.map_or("Q4_K_M", |m| m.name()),
        ),
    }
}

/// A preset id, or a path to a Hugging Face `config.json` or a GGUF file.
pub(crate) fn resolve_model(arg: &str) -> anyhow::Result<(String, Architecture)> {
    resolve_model_and_format(arg).map(|(name, arch, _)| (name, arch))
}

/// [`resolve_model`], with a GGUF file's own precision.
pub(crate) fn resolve_model_and_format(
    arg: &str,
) -> anyhow::Result<(String, Architecture, Option<Precision>)> {
    let path = Path::new(arg);
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
        || starts_with_gguf_magic(path)
    {
        let m = gguf::read(path)?;
        let precision = m.precision();
        return Ok((m.name, m.arch, Some(precision)));
    }
    let (name, arch) = resolve_json_or_preset(arg)?;
    Ok((name, arch, None))
}

/// Whether `path` is a file that starts as every GGUF file does.
fn starts_with_gguf_magic(path: &Path) -> bool {
    use std::io::Read as _;
    let mut magic = [0_u8; 4];
    path.is_file()
        && std::fs::File::open(path)
            .and_then(|mut f| f.read_exact(&mut magic))
            .is_ok()
        && &magic == b"GGUF"
}

fn resolve_json_or_preset(arg: &str) -> anyhow::Result<(String, Architecture)> {
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
                "batch {}, {}prompt {}, generate {}, {} attention, runtime {}",
                wl.batch,
                if wl.context > 0 {
                    format!("context {}, ", wl.context)
                } else {
                    String::new()
                },
                wl.prompt,
                wl.generate,
                attention,
                wl.runtime.id
            ),
        ),
        (
            "precision",
            format!(
                "{p}: weights {:.2} bits/weight ({}), activations {}, KV {}, matmuls in {}",
                s.weights_bytes * 8.0 / s.params_total as f64,
                if p.scheme.is_plain() {
                    p.weights.name()
                } else {
                    "as the format stores each tensor"
                },
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
        m.insert("context".into(), json!(wl.context));
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

/// With `--ops`, one row per operator and phase (without, see
/// [`comparison::csv`]).
fn csv(b: &Breakdown) -> String {
    let mut out = String::new();
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
            Format::Csv => match &b {
                Some(b) => csv(b),
                None => comparison::csv(&[(name, hw, wl, s)]),
            },
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

    #[test]
    fn token_counts_take_the_languages_number_forms() {
        assert_eq!(tokens("2k"), Ok(2000));
        assert_eq!(tokens("2_048"), Ok(2048));
        assert_eq!(tokens("2k tokens"), Ok(2000));
        assert_eq!(tokens("0"), Ok(0));
        assert_eq!(
            tokens("1.5"),
            Err("`1.5` is not a whole number of tokens".into())
        );
        assert!(tokens("lots").is_err());
    }

    fn args(model: &str, precision: Option<&str>, prompt: u32, generate: u32) -> Args {
        Args {
            model: vec![model.into()],
            hardware: vec!["apple-m2".into()],
            batch: 1,
            prompt,
            generate,
            context: 0,
            precision: precision.map(str::to_owned).into_iter().collect(),
            attention: None,
            experts: None,
            runtime: "ideal".into(),
            ops: false,
            format: Format::Json,
        }
    }

    fn summary(a: &Args) -> anyhow::Result<Summary> {
        let precision = a.precision.first().map(String::as_str);
        Ok(evaluate_one(a, &a.model[0], &a.hardware[0], precision)?.3)
    }

    #[test]
    #[allow(clippy::float_cmp)] // exactly zero: the phase does not run
    fn phases_and_formats_reach_the_summary() {
        let tg = summary(&args("llama-3.2-1b", Some("Q4_K_M"), 0, 128)).unwrap();
        assert_eq!(tg.prefill, 0.0);
        assert!(tg.decode_per_token > 0.0);
        let pp = summary(&args("llama-3.2-1b", Some("q4f16_1"), 512, 0)).unwrap();
        assert_eq!(pp.decode, 0.0);
        assert!(pp.prefill > 0.0);
        let err = summary(&args("llama-3.2-1b", Some("q4_km"), 1, 1))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("did you mean") && err.contains("`Q4_K_M`"),
            "{err}"
        );
        let err = summary(&args("llama-2-7b", Some("fp16"), 4000, 200))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("exceeds the model's maximum context of 4096"),
            "{err}"
        );
    }
}
