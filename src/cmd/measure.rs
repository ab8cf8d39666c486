//! `rooflaw measure`: run one model for real on this machine (candle, random
//! weights, KV cache) and time prefill and decode; with `--hardware`, put
//! the roofline's prediction and its error beside each phase.
use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context, bail};
use rooflaw_neural::measure::{self, Measurement, Plan, Row};
use rooflaw_stdlib::roofline::{self, Summary};
use rooflaw_stdlib::{Architecture, Hardware, Precision, Workload, hardware};
use serde_json::{Value, json};

use super::roofline::{Format, resolve_model};

#[derive(clap::Args)]
#[allow(clippy::struct_field_names)]
pub struct Args {
    /// Model preset id (rooflaw presets models) or a Hugging Face config.json.
    #[arg(long)]
    pub model: String,
    /// Also predict with this hardware (preset id or YAML) and show the error.
    #[arg(long)]
    pub hardware: Option<String>,
    /// Sequences processed together.
    #[arg(long, default_value_t = 1)]
    pub batch: u32,
    /// Prompt tokens per sequence.
    #[arg(long, default_value_t = 128)]
    pub prompt: u32,
    /// Output tokens per sequence (the first comes out of prefill).
    #[arg(long, default_value_t = 32)]
    pub generate: u32,
    /// fp32, fp16 or bf16 (what candle runs).
    #[arg(long, default_value = "fp32")]
    pub precision: String,
    /// Timed runs; the figures are their median, min and max.
    #[arg(long, default_value_t = 5)]
    pub repeats: usize,
    /// Untimed runs first.
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Seed of the random weights and token ids.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub shape: Overrides,
    /// Output format: text, json, or csv (what rooflaw calibrate reads).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Changes to the model's shape, for quick small measurements
/// (`--model qwen2.5-0.5b --layers 4 --width 256 --heads 4 --kv-heads 2`).
/// Changing width or heads without `--head-dim` sets `head_dim` = width / heads.
#[derive(clap::Args, Default)]
pub struct Overrides {
    /// Transformer blocks.
    #[arg(long)]
    pub layers: Option<u32>,
    /// Hidden size (model dimension).
    #[arg(long)]
    pub width: Option<u32>,
    /// Query heads.
    #[arg(long)]
    pub heads: Option<u32>,
    /// Key/value heads (grouped-query attention when fewer than --heads).
    #[arg(long)]
    pub kv_heads: Option<u32>,
    /// Dimension of one head [default: width / heads when width or heads change].
    #[arg(long)]
    pub head_dim: Option<u32>,
    /// FFN intermediate size (of one expert).
    #[arg(long)]
    pub ffn: Option<u32>,
    /// Routed experts (1 = dense).
    #[arg(long)]
    pub experts: Option<u32>,
    /// Experts each token is routed to.
    #[arg(long)]
    pub top_k: Option<u32>,
    /// Vocabulary size.
    #[arg(long)]
    pub vocab: Option<u32>,
}

impl Overrides {
    fn apply(&self, arch: &mut Architecture) -> bool {
        let mut changed = false;
        for (field, v) in [
            (&mut arch.layers, self.layers),
            (&mut arch.width, self.width),
            (&mut arch.heads, self.heads),
            (&mut arch.kv_heads, self.kv_heads),
            (&mut arch.ffn, self.ffn),
            (&mut arch.experts, self.experts),
            (&mut arch.top_k, self.top_k),
            (&mut arch.vocab, self.vocab),
        ] {
            if let Some(v) = v {
                *field = v;
                changed = true;
            }
        }
        if let Some(h) = self.head_dim {
            arch.head_dim = h;
        } else if (self.width.is_some() || self.heads.is_some()) && arch.heads > 0 {
            arch.head_dim = arch.width / arch.heads;
        }
        if self.experts == Some(1) && self.top_k.is_none() {
            arch.top_k = 1;
        }
        changed
    }
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let (mut name, mut arch) = resolve_model(&args.model)?;
    if args.shape.apply(&mut arch) {
        name = format!("{name} ({})", rooflaw_neural::train::model::label(&arch));
    }
    arch.validate().context("the model's shape")?;
    let precision = Precision::parse(&args.precision)?;
    let dtype = measure::dtype_for(&precision).map_err(anyhow::Error::msg)?;
    let wl = Workload::new(args.batch, args.prompt, args.generate, precision).as_measured();
    let hw = args
        .hardware
        .as_deref()
        .map(hardware::resolve)
        .transpose()?;
    let predicted = match &hw {
        Some(hw) => Some(roofline::evaluate(&arch, hw, &wl)?),
        None => None,
    };
    if args.repeats == 0 {
        bail!("--repeats must be at least 1");
    }
    let plan = Plan {
        batch: args.batch as usize,
        prompt: args.prompt as usize,
        generate: args.generate as usize,
        repeats: args.repeats,
        warmup: args.warmup,
        seed: args.seed,
    };
    let device = measure::default_device();
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} runs, ETA {eta}")
            .expect("static template")
            .progress_chars("=> "),
    );
    let m = measure::measure(&arch, &plan, dtype, &device, &mut |p| {
        bar.set_length(p.runs as u64);
        bar.set_position(p.run as u64);
        bar.set_message(format!(
            "measuring {name}: {}",
            if p.warmup { "warm-up" } else { "timed" }
        ));
    })?;
    bar.finish_and_clear();
    let row = Row {
        arch,
        precision: precision.label(),
        plan,
        m,
    };
    let out = match args.format {
        Format::Text => text(&name, &row, hw.as_ref().zip(predicted.as_ref())),
        Format::Json => {
            serde_json::to_string_pretty(&to_json(&name, &row, predicted.as_ref()))? + "\n"
        }
        Format::Csv => csv(&row, predicted.as_ref()),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// Signed error of a prediction relative to the measurement, percent.
fn error_pct(predicted: f64, measured: f64) -> f64 {
    (predicted - measured) / measured * 100.0
}

fn text(name: &str, r: &Row, predicted: Option<(&Hardware, &Summary)>) -> String {
    let m = &r.m;
    let steps = m.decode_steps;
    let mut out = String::new();
    let _ = writeln!(out, "model      {name}");
    let _ = writeln!(out, "device     {}  ({})", m.device, m.dtype);
    let _ = writeln!(
        out,
        "workload   batch {}, prompt {}, generate {} ({steps} decode steps), {}",
        r.plan.batch, r.plan.prompt, r.plan.generate, r.precision
    );
    let _ = writeln!(
        out,
        "runs       {} timed after {} warm-up",
        m.repeats, r.plan.warmup
    );
    let _ = writeln!(out);
    let pred = predicted.map(|(hw, s)| (hw, [s.prefill, s.decode, s.decode_per_token]));
    let _ = write!(
        out,
        "{:<18} {:>11} {:>11} {:>11} {:>8}",
        "phase", "median ms", "min ms", "max ms", "spread"
    );
    if let Some((hw, _)) = &pred {
        let _ = write!(out, "  {:>12} {:>8}", format!("{} ms", hw.id), "error");
    }
    out.push('\n');
    let per_token = measure::Stats {
        median: m.decode_per_token,
        min: m.decode.min / steps.max(1) as f64,
        max: m.decode.max / steps.max(1) as f64,
    };
    for (i, (phase, s)) in [
        ("prefill", m.prefill),
        ("decode (all)", m.decode),
        ("decode per token", per_token),
    ]
    .into_iter()
    .enumerate()
    {
        let _ = write!(
            out,
            "{phase:<18} {:>11.3} {:>11.3} {:>11.3} {:>7.1}%",
            s.median * 1e3,
            s.min * 1e3,
            s.max * 1e3,
            s.spread() * 100.0
        );
        if let Some((_, p)) = &pred {
            let _ = write!(
                out,
                "  {:>12.3} {:>+7.1}%",
                p[i] * 1e3,
                error_pct(p[i], s.median)
            );
        }
        out.push('\n');
    }
    out
}

fn measured_json(r: &Row) -> Value {
    let t = rooflaw_neural::stages::measurements_table(std::slice::from_ref(r));
    t.to_records()
        .as_array()
        .and_then(|a| a.first().cloned())
        .unwrap_or(Value::Null)
}

fn to_json(name: &str, r: &Row, predicted: Option<&Summary>) -> Value {
    let mut v = measured_json(r);
    if let Value::Object(o) = &mut v {
        o.insert("model".into(), json!(name));
        o.insert("dtype".into(), json!(r.m.dtype));
        o.insert("runs_ms".into(), runs_ms(&r.m));
        if let Some(s) = predicted {
            o.insert(
                "predicted".into(),
                json!({
                    "prefill_ms": s.prefill * 1e3,
                    "decode_ms": s.decode * 1e3,
                    "decode_ms_per_token": s.decode_per_token * 1e3,
                    "prefill_error_pct": error_pct(s.prefill, r.m.prefill.median),
                    "decode_error_pct": error_pct(s.decode, r.m.decode.median),
                }),
            );
        }
    }
    v
}

fn runs_ms(m: &Measurement) -> Value {
    json!(
        m.runs
            .iter()
            .map(|(p, d)| json!({ "prefill_ms": p * 1e3, "decode_ms": d * 1e3 }))
            .collect::<Vec<_>>()
    )
}

/// The `measurements` table's header and row (what the `measure` stage
/// exports, so `rooflaw calibrate` reads either), plus the prediction when
/// there is one.
fn csv(r: &Row, predicted: Option<&Summary>) -> String {
    let mut t = rooflaw_neural::stages::measurements_table(std::slice::from_ref(r));
    if let Some(s) = predicted {
        use rooflaw_engine::Column;
        t.push("predicted_prefill_ms", Column::F64(vec![s.prefill * 1e3]));
        t.push("predicted_decode_ms", Column::F64(vec![s.decode * 1e3]));
    }
    t.to_csv()
}
