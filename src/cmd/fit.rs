//! `rooflaw fit FILE.csv --form chinchilla|sun2026`: fit a loss law to losses
//! measured elsewhere and print its coefficients, 95% bootstrap intervals
//! and fit statistics.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::ValueEnum;
use rooflaw_stdlib::fit::{FitOptions, FitResult, Point, Stats, fit};
use rooflaw_stdlib::law::{Form, Var, Vars};
use serde::Serialize;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum FormArg {
    /// L = E + A/N^α + B/D^β; columns `params,tokens,loss` (N = all parameters).
    Chinchilla,
    /// The paper's law; columns `layers,width,ffn_ratio,rho,kv_dim,loss`.
    Sun2026,
}

pub use super::TextOrJson as Format;

#[derive(clap::Args)]
#[command(after_help = "\
CSV columns are named after the law's variables, plus `loss` (nats per token); other columns are ignored.
  chinchilla: params, tokens, loss        (params = all parameters, embeddings included)
  sun2026:    layers, width, ffn_ratio, rho, kv_dim, loss
              (ffn_ratio = top_k * ffn / width, rho = top_k / experts, kv_dim = head_dim * kv_heads;
               optional experts, top_k)
The fit minimises a Huber loss on ln-loss residuals with L-BFGS from a grid of starts
(Hoffmann et al. 2022; Besiroglu et al. 2024).")]
pub struct Args {
    /// CSV file of measured losses.
    pub file: PathBuf,
    #[arg(long, value_enum)]
    pub form: FormArg,
    /// Huber δ on ln-loss residuals.
    #[arg(long = "huber", default_value_t = 1e-3)]
    pub huber_delta: f64,
    /// L-BFGS starts [default: 4500 (Epoch's full grid) for chinchilla, 256 for sun2026].
    #[arg(long)]
    pub starts: Option<usize>,
    /// Fraction of points held out for validation statistics.
    #[arg(long, default_value_t = 0.0)]
    pub holdout: f64,
    /// Bootstrap resamples for the 95% intervals (0 for none).
    #[arg(long, default_value_t = 100)]
    pub bootstrap: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
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
    let result =
        fit(&points, &form, &opts).with_context(|| format!("fitting {}", args.file.display()))?;
    match args.format {
        Format::Text => print_text(&result, &opts),
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(&Report::new(&result, &opts))?
        ),
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

/// One point per row; the columns the form reads must all be there.
fn read_points(path: &std::path::Path, form: &Form) -> anyhow::Result<Vec<Point>> {
    let text = rooflaw_cache::files::read_text(path, rooflaw_cache::files::INPUT_LIMIT)?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .with_context(|| format!("reading {}", path.display()))?
        .clone();
    if let Some(h) = headers
        .iter()
        .enumerate()
        .find_map(|(i, h)| headers.iter().take(i).any(|o| o == h).then_some(h))
    {
        bail!(
            "{}: column `{h}` appears twice in the header",
            path.display()
        );
    }
    let wanted: Vec<&str> = form
        .vars()
        .iter()
        .map(|v| v.name())
        .chain(["loss"])
        .collect();
    let column = |name: &str| headers.iter().position(|h| h == name);
    for name in &wanted {
        if column(name).is_none() {
            bail!(
                "{}: no column `{name}`; the {} form reads columns {}",
                path.display(),
                form.name(),
                wanted.join(", ")
            );
        }
    }
    // Read every law variable the file has, so a range check can use them.
    let present: Vec<(Var, usize)> = Var::ALL
        .iter()
        .filter_map(|&v| Some((v, column(v.name())?)))
        .collect();
    let loss_col = column("loss").expect("checked above");
    let mut points = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.with_context(|| format!("{}: line {line}", path.display()))?;
        let num = |col: usize, name: &str| -> anyhow::Result<f64> {
            let text = record.get(col).unwrap_or("");
            text.parse::<f64>().with_context(|| {
                format!(
                    "{}: line {line}, column `{name}`: `{text}` is not a number",
                    path.display()
                )
            })
        };
        let mut vars = Vars::new();
        for &(var, col) in &present {
            vars.set(var, num(col, var.name())?);
        }
        points.push(Point {
            vars,
            loss: num(loss_col, "loss")?,
        });
    }
    if points.is_empty() {
        bail!("{}: no data rows", path.display());
    }
    Ok(points)
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
