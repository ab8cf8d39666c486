use std::path::PathBuf;
use std::process::ExitCode;

use super::pipeline;

#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file.
    pub file: PathBuf,
    #[command(flatten)]
    pub project: pipeline::ProjectArgs,
    #[arg(long, value_enum, default_value = "dot")]
    pub format: Format,
}

#[derive(clap::ValueEnum, Clone, Copy)]
pub enum Format {
    Dot,
    Mermaid,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let Some(loaded) = pipeline::load(&args.file, &args.project)? else {
        return Ok(ExitCode::from(1));
    };
    let dag = match rooflaw_engine::Dag::build(&loaded.spec) {
        Ok(d) => d,
        Err(d) => {
            eprint!("{}", pipeline::render(&d, &loaded.sources));
            return Ok(ExitCode::from(1));
        }
    };
    match args.format {
        Format::Dot => print!("{}", dag.to_dot(&loaded.spec)),
        Format::Mermaid => print!("{}", dag.to_mermaid(&loaded.spec)),
    }
    Ok(ExitCode::SUCCESS)
}
