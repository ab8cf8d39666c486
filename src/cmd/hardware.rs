//! `rooflaw hardware probe`: describe this machine from measurements, as a
//! hardware file usable wherever a preset is.
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use rooflaw_engine::Bars;
use rooflaw_neural::probe::{self, Options, Probe};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// Measure this machine's peak matmul rate per datatype, memory bandwidth and per-op
    /// overhead, and write them as a hardware description (YAML, with method and date).
    Probe(ProbeArgs),
}

#[derive(clap::Args)]
pub struct ProbeArgs {
    /// Write the description here instead of to stdout.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// The description's id [default: probed-<cpu>].
    #[arg(long)]
    pub id: Option<String>,
    /// About a second instead of about ten; small matmuls may not reach the roof.
    #[arg(long)]
    pub quick: bool,
    /// Output format of the hardware description.
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    pub format: Format,
    /// No progress bar and no summary on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    /// The preset schema (`rooflaw roofline --hardware FILE.yaml` reads it).
    Yaml,
    /// The same document as JSON (also readable as `--hardware FILE.json`).
    Json,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    match &args.command {
        Command::Probe(a) => probe_cmd(a),
    }
}

fn probe_cmd(args: &ProbeArgs) -> anyhow::Result<ExitCode> {
    let bars = Bars::new(!args.quiet && std::io::stderr().is_terminal());
    let progress = bars.stage("probe");
    let opts = Options {
        quick: args.quick,
        id: args.id.clone(),
    };
    let p = probe::probe(&opts, &progress)?;
    progress.finish();
    let text = match args.format {
        Format::Yaml => rooflaw_stdlib::hardware::to_yaml(&p.preset),
        Format::Json => {
            serde_json::to_string_pretty(&rooflaw_stdlib::hardware::to_json(&p.preset))? + "\n"
        }
    };
    match &args.output {
        Some(path) => rooflaw_cache::files::write_atomic(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    if !args.quiet {
        eprint!("{}", summary(&p));
        if let Some(path) = &args.output {
            eprintln!(
                "wrote {}; use it with `rooflaw roofline --hardware {}`",
                path.display(),
                path.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// What was measured, with its spread, for the terminal.
fn summary(p: &Probe) -> String {
    use std::fmt::Write as _;
    let mut s = format!(
        "probed {} in {:.1} s{}\n",
        p.machine.label(),
        p.seconds,
        if p.preset.hardware.id.is_empty() {
            String::new()
        } else {
            format!(" as `{}`", p.preset.hardware.id)
        }
    );
    for f in &p.figures {
        let q = |v| probe::q(v, f.dim);
        let _ = writeln!(
            s,
            "  {:<17} {:>14}   ({}; runs {} – {}, {} runs)",
            f.field,
            q(f.value),
            f.at,
            q(f.spread.min),
            q(f.spread.max),
            f.spread.samples
        );
    }
    let _ = writeln!(
        s,
        "  {:<17} {:>14}",
        "memory",
        probe::q(p.preset.hardware.memory, rooflaw_dsl::Dim::BYTES)
    );
    for (d, why) in &p.unsupported {
        let _ = writeln!(
            s,
            "  {:<17} not measured: {why}",
            format!("peak.{}", d.name())
        );
    }
    s
}
