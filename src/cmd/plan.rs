use std::collections::BTreeMap;
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
    /// Output format: text for people, json for programs.
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
    let estimates: BTreeMap<String, serde_json::Value> = plan
        .iter()
        .filter(|e| e.action == Action::Run)
        .filter_map(|e| Some((e.stage.clone(), estimate(&loaded, &session, &e.stage)?)))
        .collect();
    match args.format {
        Format::Json => {
            let rows: Vec<serde_json::Value> = plan
                .iter()
                .map(|e| {
                    serde_json::json!({
                        "estimate": estimates.get(&e.stage),
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
        Format::Text => {
            print!("{}", render_plan(&plan));
            print!("{}", render_estimates(&estimates));
            if let Some(list) = super::consent::describe(&loaded.spec) {
                print!("\n{list}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A stage's cost estimate from its inputs' latest outputs (the last run's:
/// `rooflaw run --until STAGE` of a cheap upstream stage makes them known).
fn estimate(
    loaded: &pipeline::Loaded,
    session: &rooflaw_engine::Session<'_>,
    stage: &str,
) -> Option<serde_json::Value> {
    let spec_stage = loaded.spec.stage(stage)?;
    let kind = loaded.registry.kind(&spec_stage.kind.node)?;
    let mut inputs = rooflaw_engine::Inputs::default();
    for arg in &spec_stage.args {
        for r in arg.stage_refs() {
            let a = session.output(&r.node).ok().flatten()?;
            inputs.items.push((arg.param.clone(), r.node.clone(), a));
        }
    }
    kind.estimate(session.params(stage)?, &inputs)
}

/// The cost lines under the plan.
pub fn render_estimates(estimates: &BTreeMap<String, serde_json::Value>) -> String {
    let mut out = String::new();
    let mut total_hours = 0.0;
    let mut total_flops = 0.0;
    for (stage, e) in estimates {
        let flops = e["flops"].as_f64().unwrap_or(0.0);
        total_flops += flops;
        let _ = write!(
            out,
            "\ncost of `{stage}`: {} runs × {} tokens, 6·N·D = {flops:.3e} FLOPs",
            e["runs"], e["tokens_per_run"]
        );
        match (e["gpu_hours"].as_f64(), e["peak_flops"].as_f64()) {
            (Some(h), Some(peak)) => {
                total_hours += h;
                let _ = writeln!(
                    out,
                    "\n  at {:.0}% of {}'s {:.0} TFLOPS {}: {h:.0} GPU-hours (longest run {:.1} h)",
                    e["utilisation"].as_f64().unwrap_or(0.0) * 100.0,
                    e["device"].as_str().unwrap_or("the accelerator"),
                    peak / 1e12,
                    e["dtype"].as_str().unwrap_or(""),
                    e["wall_hours_per_run_max"].as_f64().unwrap_or(0.0)
                );
            }
            _ => {
                let _ = writeln!(out, "\n  (name the accelerator with `gpu:` for GPU-hours)");
            }
        }
    }
    if estimates.len() > 1 {
        let _ = writeln!(
            out,
            "total: {total_flops:.3e} FLOPs, {total_hours:.0} GPU-hours"
        );
    }
    out
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
