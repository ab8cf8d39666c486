//! `rooflaw check FILE...`: parse, load imports, lower and validate pipeline
//! files, and resolve every stage's arguments, without running anything.
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

use rooflaw_dsl::diagnostic::{JsonDiagnostic, to_json};
use rooflaw_dsl::{Code, Diagnostic, RenderOptions, SourceMap, render};

use crate::loader::{normalise, read_pipeline_text};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Rendered diagnostics on stderr.
    Human,
    /// One JSON array of diagnostics on stdout, for editors and CI.
    Json,
}

#[derive(clap::Args)]
pub struct Args {
    /// Pipeline files to check.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// How to print diagnostics: rendered for people, or JSON for editors and CI.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// Print what each valid file lowers to: units in SI, names resolved,
    /// space fields in dependency order.
    #[arg(long)]
    pub summary: bool,
    #[command(flatten)]
    pub project: super::pipeline::ProjectArgs,
}

/// Exit 0 when every file is valid, 1 when any has an error.
pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let registry = rooflaw_neural::registry();
    let mut json: Vec<JsonDiagnostic> = Vec::new();
    let mut errors = 0usize;
    let width = 100;
    for path in &args.files {
        // Normalised like import names, so a file importing itself is
        // recognised as the same file.
        let name = normalise(path).to_string_lossy().into_owned();
        let (diags, sources) = match read_pipeline_text(path) {
            Ok(text) => {
                let out = args.project.compile(path, &name, &text, &registry);
                if let (true, Some(spec)) = (args.summary, &out.spec) {
                    print!("{}", spec.summary());
                }
                let mut diags = out.diagnostics.0;
                // A file the language accepts may still have arguments its
                // stage kinds reject (a custom law naming an unknown
                // variable): `run` would refuse it, so `check` says so too.
                if let Some(spec) = &out.spec {
                    diags.extend(rooflaw_engine::session::check(spec, &registry));
                    if args.format == Format::Human
                        && let Some(list) = super::consent::describe(spec)
                    {
                        eprint!("{list}");
                    }
                }
                (diags, out.sources)
            }
            Err(e) => {
                // A file that cannot be read has no span to point at: report
                // it as a located-nowhere diagnostic so JSON consumers see it.
                let d = Diagnostic::error(Code::Io, e);
                (vec![d], SourceMap::default())
            }
        };
        errors += diags.iter().filter(|d| d.is_error()).count();
        match args.format {
            Format::Json => json.extend(to_json(&diags, &sources).into_iter().map(|mut d| {
                if d.file.is_none() {
                    d.file = Some(name.clone());
                }
                d
            })),
            Format::Human => {
                let color = std::io::stderr().is_terminal();
                eprint!(
                    "{}",
                    render(&diags, &sources, RenderOptions { color, width })
                );
            }
        }
    }
    match args.format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&json)?),
        Format::Human if errors == 0 => {
            eprintln!("ok: {} file(s) checked", args.files.len());
        }
        Format::Human => {
            eprintln!("{errors} error(s) in {} file(s) checked", args.files.len());
        }
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
