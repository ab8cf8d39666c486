//! `rooflaw completions SHELL` and the hidden `rooflaw man`: generated from
//! the same clap definitions as `--help`, so they list every command and flag.
use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory;
use clap_complete::Shell;

use super::Cli;

#[derive(clap::Args)]
#[command(after_help = "\
Install, for example:
  bash:        rooflaw completions bash > ~/.local/share/bash-completion/completions/rooflaw
  zsh:         rooflaw completions zsh > ~/.zfunc/_rooflaw   (with fpath+=~/.zfunc before compinit)
  fish:        rooflaw completions fish > ~/.config/fish/completions/rooflaw.fish
  powershell:  rooflaw completions powershell >> $PROFILE")]
pub struct Args {
    /// The shell to write the completion script for.
    #[arg(value_enum)]
    pub shell: Shell,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    clap_complete::generate(args.shell, &mut Cli::command(), "rooflaw", &mut out);
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The man page, roff on stdout: `rooflaw man > rooflaw.1`.
pub fn man() -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
