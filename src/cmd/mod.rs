//! One module per subcommand; each exposes `Args` and `run`.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod cache;
pub mod calibrate;
mod calibrate_runtime;
pub mod check;
pub mod completions;
pub mod consent;
pub mod explain;
pub mod fit;
pub mod graph;
pub mod hardware;
pub mod init;
mod interrupt;
pub mod measure;
pub mod pipeline;
pub mod plan;
pub mod presets;
pub mod roofline;
pub mod run;
pub mod stages;
pub mod train_job;

#[derive(Parser)]
#[command(
    name = "rooflaw",
    version,
    about = "Loss–latency co-design of on-device LLMs"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run a pipeline: only what changed since the last run.
    Run(run::Args),
    /// Show what a run would do, stage by stage, and why.
    Plan(plan::Args),
    /// Show the manifest fields behind a stage's plan.
    Explain(explain::Args),
    /// Print the stage graph as Graphviz dot or Mermaid.
    Graph(graph::Args),
    /// Check pipeline files for errors without running anything.
    Check(check::Args),
    /// Inspect, verify and clean the cache.
    Cache(cache::Args),
    /// Predict latency and memory of one model on one piece of hardware.
    Roofline(roofline::Args),
    /// Run one model for real on this machine and time prefill and decode.
    Measure(measure::Args),
    /// List the bundled hardware and model presets, with the source of every number.
    Presets(presets::Args),
    /// Fit a loss law to measured losses in a CSV file.
    Fit(fit::Args),
    /// Compare the roofline with measured latencies and fit the hardware's efficiencies and launch overhead to them.
    Calibrate(calibrate::Args),
    /// Describe this machine from measurements (rooflaw hardware probe).
    Hardware(hardware::Args),
    /// Write a commented starter pipeline for one device and a .gitignore.
    Init(init::Args),
    /// List the stage kinds a pipeline can use, with their parameters.
    Stages(stages::Args),
    /// Print a shell completion script (bash, zsh, fish, powershell, elvish).
    Completions(completions::Args),
    /// Print the man page (roff): rooflaw man > rooflaw.1
    #[command(hide = true)]
    Man,
    /// Run one training job's directory (what a Slurm node runs for the Slurm executor).
    TrainJob(train_job::Args),
}

/// The `--format` of commands that print either for people or for programs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum TextOrJson {
    #[default]
    Text,
    Json,
}

pub fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(a) => run::run(&a),
        Command::Plan(a) => plan::run(&a),
        Command::Explain(a) => explain::run(&a),
        Command::Graph(a) => graph::run(&a),
        Command::Check(a) => check::run(&a),
        Command::Cache(a) => cache::run(&a),
        Command::Roofline(a) => roofline::run(&a),
        Command::Measure(a) => measure::run(&a),
        Command::Presets(a) => presets::run(&a),
        Command::Fit(a) => fit::run(&a),
        Command::Calibrate(a) => calibrate::run(&a),
        Command::Hardware(a) => hardware::run(&a),
        Command::Init(a) => init::run(&a),
        Command::Stages(a) => stages::run(&a),
        Command::Completions(a) => completions::run(&a),
        Command::Man => completions::man(),
        Command::TrainJob(a) => Ok(train_job::run(&a)),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command and argument has help text, and none shows Markdown
    /// (clap prints doc comments as written, backticks and all).
    #[test]
    fn every_command_and_argument_is_documented_in_plain_text() {
        fn walk(cmd: &clap::Command, path: &str, problems: &mut Vec<String>) {
            let texts = [cmd.get_about(), cmd.get_long_about(), cmd.get_after_help()];
            if cmd.get_about().is_none() && !cmd.is_hide_set() {
                problems.push(format!("{path}: no description"));
            }
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") {
                    continue;
                }
                if arg.get_help().is_none() {
                    problems.push(format!("{path} {id}: no help"));
                }
                for t in [arg.get_help(), arg.get_long_help()].into_iter().flatten() {
                    if t.to_string().contains('`') {
                        problems.push(format!("{path} {id}: backticks in {t:?}"));
                    }
                }
            }
            for t in texts.into_iter().flatten() {
                if t.to_string().contains('`') {
                    problems.push(format!("{path}: backticks in {t:?}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), problems);
            }
        }
        let mut problems = Vec::new();
        let mut cli = super::Cli::command();
        cli.build();
        walk(&cli, "rooflaw", &mut problems);
        assert!(problems.is_empty(), "{}", problems.join("\n"));
    }
}
