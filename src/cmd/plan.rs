use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use rooflaw_engine::Action;

use super::pipeline::{self, CacheArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file.
    pub file: PathBuf,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub project: pipeline::ProjectArgs,
    /// Plan as if these stages were forced, or only up to one.
    #[command(flatten)]
    pub select: pipeline::Selection,
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub use super::TextOrJson as Format;

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let Some(loaded) = pipeline::load(&args.file, &args.project)? else {
        return Ok(ExitCode::from(1));
    };
    let store = pipeline::open_store(&args.file, &args.cache)?;
    let Some(session) = pipeline::session(&loaded, &store, &args.file) else {
        return Ok(ExitCode::from(1));
    };
    let opts = args.select.options(&loaded.spec, false)?;
    let plan = session.plan(&opts);
    match args.format {
        Format::Json => {
            let rows: Vec<serde_json::Value> = plan
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "stage": e.stage,
                        "kind": e.kind,
                        "action": e.action,
                        "reason": e.reasons.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "),
                        "reasons": e.reasons,
                        "root_cause": e.reasons.iter().any(rooflaw_engine::Reason::is_root_cause),
                        "key": e.key,
                    })
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&rows)?);
        }
        Format::Text => print!("{}", render_plan(&plan)),
    }
    Ok(ExitCode::SUCCESS)
}

/// The plan as a table: stage, kind, action, reason; then a one-line summary.
pub fn render_plan(plan: &[rooflaw_engine::PlanEntry]) -> String {
    let w_stage = plan.iter().map(|e| e.stage.len()).max().unwrap_or(5).max(5);
    let w_kind = plan.iter().map(|e| e.kind.len()).max().unwrap_or(4).max(4);
    let mut out = format!(
        "{:<w_stage$}  {:<w_kind$}  {:<6}  reason\n",
        "stage", "kind", "action"
    );
    for e in plan {
        let action = match e.action {
            Action::Run => "run",
            Action::Cached => "cached",
            Action::Skip => "skip",
        };
        let reason = if e.reasons.is_empty() {
            match e.action {
                Action::Cached => "up to date".to_string(),
                _ => "not needed (--until)".to_string(),
            }
        } else {
            e.reasons
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        };
        let _ = writeln!(
            out,
            "{:<w_stage$}  {:<w_kind$}  {action:<6}  {reason}",
            e.stage, e.kind
        );
    }
    let run = plan.iter().filter(|e| e.action == Action::Run).count();
    let roots = plan
        .iter()
        .filter(|e| {
            e.reasons.iter().any(rooflaw_engine::Reason::is_root_cause) && e.action == Action::Run
        })
        .count();
    let cached = plan.iter().filter(|e| e.action == Action::Cached).count();
    let _ = write!(
        out,
        "\n{run} to run ({roots} changed, {} downstream), {cached} cached\n",
        run - roots
    );
    out
}
