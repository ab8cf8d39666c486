//! `rooflaw fit FILE.csv --form chinchilla|sun2026`: fit a loss law to losses
//! measured elsewhere and print its coefficients, 95% bootstrap intervals
//! and fit statistics.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::ValueEnum;
use rooflaw_stdlib::fit::{FitError, FitOptions, FitResult, Point, Stats, fit_cancellable, runs};
use rooflaw_stdlib::law::Form;
use serde::Serialize;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormArg {
    /// L = E + A/N^α + B/D^β; columns params, tokens, loss (N = all parameters).
    Chinchilla,
    // clap prints doc comments as written: help text stays free of Markdown.
    #[allow(clippy::doc_markdown)]
    /// The paper's law; columns layers, width, ffn_ratio, rho, kv_dim, loss.
    Sun2026,
}

pub use super::TextOrJson as Format;

#[derive(clap::Args)]
#[command(after_help = "\
CSV columns (comma, semicolon, tab or | separated, detected) are named after the law's variables, plus
loss (nats per token); other columns are ignored.
  chinchilla: params, tokens, loss        (params = all parameters, embeddings included)
  sun2026:    layers, width, ffn_ratio, rho, kv_dim, loss
              (ffn_ratio = top_k * ffn / width, rho = top_k / experts, kv_dim = head_dim * kv_heads)
In place of every variable but tokens, the architecture columns layers, width and ffn (one expert's
intermediate size) will do; optional: heads (width / 64), kv_heads (heads), head_dim (width / heads),
experts (1), top_k (1), shared_experts (0), vocab (32000), gated (1), tied (0), qk_norm (1),
qkv_bias (0). The pipeline's measurements(\"runs.csv\") reads the same files with the same defaults.
The fit minimises a Huber loss on ln-loss residuals with L-BFGS from a grid of starts
(Hoffmann et al. 2022; Besiroglu et al. 2024).")]
pub struct Args {
    /// CSV file of measured losses.
    pub file: PathBuf,
    /// The law's form.
    #[arg(long, value_enum)]
    pub form: FormArg,
    /// Huber δ on ln-loss residuals.
    #[arg(long = "huber", default_value_t = 1e-3)]
    pub huber_delta: f64,
    /// L-BFGS starts [default: 4500 (Epoch's full grid) for chinchilla, 256 for sun2026].
    #[arg(long)]
    pub starts: Option<usize>,
    /// Fraction of points held out for validation statistics (the pipeline's fit default too).
    #[arg(long, default_value_t = runs::HOLDOUT)]
    pub holdout: f64,
    /// Bootstrap resamples for the 95% intervals (0 for none; the pipeline's fit default too).
    #[arg(long, default_value_t = runs::BOOTSTRAP)]
    pub bootstrap: usize,
    /// Seed of the holdout split and the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t)]
    pub format: Format,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let form = match args.form {
        FormArg::Chinchilla => Form::Chinchilla,
        FormArg::Sun2026 => Form::Sun2026,
    };
    let points = read_points(&args.file, &form)?;
    let opts = FitOptions {
        huber_delta: args.huber_delta,
        starts: args.starts.unwrap_or(match args.form {
            FormArg::Chinchilla => 4500,
            FormArg::Sun2026 => 256,
        }),
        holdout: args.holdout,
        bootstrap: args.bootstrap,
        seed: args.seed,
        ..FitOptions::default()
    };
    let cancel = super::interrupt::cancel_flag("nothing is kept");
    let stop = || cancel.load(std::sync::atomic::Ordering::Relaxed);
    let result = match fit_cancellable(&points, &form, &opts, &stop) {
        Err(FitError::Cancelled) => {
            eprintln!("fit cancelled");
            return Ok(ExitCode::from(super::interrupt::EXIT));
        }
        r => r.with_context(|| format!("fitting {}", args.file.display()))?,
    };
    match args.format {
        Format::Text => print_text(&result, &opts),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&Report::new(&result, &opts))?
        ),
    }
    for w in &result.warnings {
        eprintln!("warning: {w}");
    }
    if !result.converged {
        eprintln!(
            "warning: the best start stopped on the iteration cap (|grad| {:.1e}); \
             the coefficients may not be the optimum",
            result.gradient_norm
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// One point per row (see [`runs::points`] for the columns).
fn read_points(path: &Path, form: &Form) -> anyhow::Result<Vec<Point>> {
    let table = runs::read_csv(path).map_err(anyhow::Error::msg)?;
    runs::points(&table, form, &path.display().to_string()).map_err(anyhow::Error::msg)
}

#[derive(Serialize)]
struct Coefficient<'a> {
    name: &'a str,
    value: f64,
    /// 95% bootstrap interval.
    lo: Option<f64>,
    hi: Option<f64>,
}

#[derive(Serialize)]
struct Report<'a> {
    form: &'static str,
    coefficients: Vec<Coefficient<'a>>,
    train: Stats,
    holdout: Option<Stats>,
    converged: bool,
    gradient_norm: f64,
    objective: f64,
    options: &'a FitOptions,
}

impl<'a> Report<'a> {
    fn new(r: &'a FitResult, opts: &'a FitOptions) -> Self {
        let coefficients = r
            .law
            .coefficients()
            .enumerate()
            .map(|(i, (name, value))| {
                let iv = r.intervals.as_ref().map(|iv| iv[i]);
                Coefficient {
                    name,
                    value,
                    lo: iv.map(|x| x.0),
                    hi: iv.map(|x| x.1),
                }
            })
            .collect();
        Self {
            form: r.law.form.name(),
            coefficients,
            train: r.train,
            holdout: r.holdout,
            converged: r.converged,
            gradient_norm: r.gradient_norm,
            objective: r.objective,
            options: opts,
        }
    }
}

fn print_text(r: &FitResult, opts: &FitOptions) {
    println!(
        "{} form fitted to {} points (Huber δ {}, {} starts, {} bootstrap resamples, seed {})",
        r.law.form.name(),
        r.train.n + r.holdout.map_or(0, |h| h.n),
        opts.huber_delta,
        r.starts_run,
        opts.bootstrap,
        opts.seed
    );
    println!();
    println!("{:<12} {:>14}   95% interval", "coefficient", "value");
    for (i, (name, value)) in r.law.coefficients().enumerate() {
        let iv = match &r.intervals {
            Some(iv) => format!("[{}, {}]", sig(iv[i].0), sig(iv[i].1)),
            None => "-".to_owned(),
        };
        println!("{name:<12} {:>14}   {iv}", sig(value));
    }
    println!();
    let line = |label: &str, s: &Stats| {
        println!(
            "{label:<8} n {:>4}   R² {:.4}   RMSE {:.4}   MAPE {:.3}%",
            s.n, s.r2, s.rmse, s.mape
        );
    };
    line("train", &r.train);
    if let Some(h) = &r.holdout {
        line("holdout", h);
    }
    println!(
        "converged {}   |grad| {:.1e}   objective {:.6e}",
        if r.converged { "yes" } else { "no" },
        r.gradient_norm,
        r.objective
    );
}

/// Six significant digits, without trailing noise.
fn sig(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return format!("{x}");
    }
    let digits = (5 - x.abs().log10().floor() as i32).max(0) as usize;
    format!("{x:.digits$}")
}
