use std::path::PathBuf;
use std::process::ExitCode;

use super::pipeline::{self, CacheArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file.
    pub file: PathBuf,
    /// The stage to explain.
    pub stage: String,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub project: pipeline::ProjectArgs,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let Some(loaded) = pipeline::load(&args.file, &args.project)? else {
        return Ok(ExitCode::from(1));
    };
    pipeline::check_stage_name(&loaded.spec, &args.stage)?;
    let store = pipeline::open_store(&args.file, &args.cache)?;
    let Some(session) = pipeline::session(&loaded, &store, &args.file) else {
        return Ok(ExitCode::from(1));
    };
    let plan = session.plan(&rooflaw_engine::Options::default());
    let entry = plan
        .iter()
        .find(|e| e.stage == args.stage)
        .expect("checked stage");
    let (old, new) = session.manifests(&args.stage, &plan);
    println!(
        "stage {} ({}): {}",
        entry.stage,
        entry.kind,
        match entry.action {
            rooflaw_engine::Action::Cached => "cached".to_string(),
            _ => format!(
                "will run: {}",
                entry
                    .reasons
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        }
    );
    if let Some(k) = &entry.key {
        println!("key {k}");
    }
    let Some(old) = old else {
        println!("\nno earlier run of this stage in this cache; current manifest:");
        println!("{}", serde_json::to_string_pretty(&new.to_value())?);
        return Ok(ExitCode::SUCCESS);
    };
    let changes = new.field_changes(&old);
    if changes.is_empty() {
        println!("\nmanifest unchanged since the last run");
    } else {
        println!("\nmanifest fields that differ from the last run:");
        let w = changes.iter().map(|c| c.path.len()).max().unwrap_or(0);
        for c in changes {
            let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "—".into());
            println!("  {:<w$}  {} → {}", c.path, show(&c.old), show(&c.new));
        }
    }
    Ok(ExitCode::SUCCESS)
}
