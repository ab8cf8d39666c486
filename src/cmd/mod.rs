//! One module per subcommand; each exposes `Args` and `run`.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod check;
pub mod fit;
pub mod presets;
pub mod roofline;

#[derive(Parser)]
#[command(name = "rooflaw", version, about = "Loss–latency co-design of on-device LLMs")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Check pipeline files for errors without running anything.
    Check(check::Args),
    /// Predict latency and memory of one model on one piece of hardware.
    Roofline(roofline::Args),
    /// List hardware, model, budget and law presets.
    Presets(presets::Args),
    /// Fit a loss law to measured losses in a CSV file.
    Fit(fit::Args),
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Check(a) => check::run(&a),
        Command::Roofline(a) => roofline::run(&a),
        Command::Presets(a) => presets::run(&a),
        Command::Fit(a) => fit::run(&a),
    }
}
