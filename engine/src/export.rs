//! `report a, b to "dir"`: the reported stages' outputs as CSV and JSON that
//! pandas or polars load directly, then the stdlib's human-facing report.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rooflaw_cache::boundary::resolve_inside;
use rooflaw_dsl::spec::Spec;
use rooflaw_dsl::{Code, Diagnostic};

use crate::artifact::{Artifact, Body};
use crate::report_dir;
use crate::stage::Registry;

/// Write every `report` declaration of the spec; returns the files written.
/// Each report directory is written whole into a fresh sibling and swapped
/// in (see [`report_dir`](crate::report_dir)).
pub fn export(
    spec: &Spec,
    registry: &Registry,
    base_dir: &Path,
    outputs: &BTreeMap<String, Arc<Artifact>>,
) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    for report in &spec.reports {
        // A run stopped early (`--until`) leaves a report whose stages did
        // not all run exactly as the last full run wrote it.
        if report.stages.iter().any(|n| !outputs.contains_key(&n.node)) {
            continue;
        }
        let dir = match spec.project.confining_root() {
            // Checked at compile time too; links may have changed since.
            Some(root) => base_dir
                .join(resolve_inside(root, base_dir, &report.dir.node).map_err(|e| e.to_string())?),
            None => base_dir.join(&report.dir.node),
        };
        let fresh = report_dir::stage(&dir)?;
        let result = write_report(spec, registry, outputs, report, &fresh);
        let here = match result {
            Ok(h) => h,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&fresh);
                return Err(e);
            }
        };
        let rel: Vec<String> = here
            .iter()
            .filter_map(|p| p.strip_prefix(&fresh).ok())
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        report_dir::swap_in(&dir, &fresh, &rel)?;
        written.extend(rel.iter().map(|r| dir.join(r)));
    }
    Ok(written)
}

fn write_report(
    spec: &Spec,
    registry: &Registry,
    outputs: &BTreeMap<String, Arc<Artifact>>,
    report: &rooflaw_dsl::spec::Report,
    dir: &Path,
) -> Result<Vec<PathBuf>, String> {
    let names: Vec<String> = report.stages.iter().map(|n| n.node.clone()).collect();
    // Stage tables under `data/`, so a stage's name can never clash with
    // the report's own files (its plot data is `frontier.csv` too).
    let data = dir.join("data");
    std::fs::create_dir_all(&data).map_err(|e| format!("cannot create {}: {e}", data.display()))?;
    let mut here = Vec::new();
    for name in &names {
        let Some(artifact) = outputs.get(name) else {
            continue;
        };
        here.extend(write_artifact(&data, name, artifact)?);
    }
    if let Some(reporter) = registry.reporter() {
        here.extend(reporter.write(dir, spec, outputs, &names)?);
    }
    Ok(here)
}

/// Report directories that lead out of the project: located errors for
/// `check` and before a run.
pub fn check_dirs(spec: &Spec) -> Vec<Diagnostic> {
    let Some(root) = spec.project.confining_root() else {
        return Vec::new();
    };
    spec.reports
        .iter()
        .filter_map(|r| {
            // Relative to the pipeline file, wherever the report is declared.
            let file = &spec.sources.get(rooflaw_dsl::FileId(0)).name;
            let from = Path::new(file).parent().unwrap_or(Path::new(""));
            resolve_inside(root, from, &r.dir.node).err().map(|e| {
                Diagnostic::error(Code::OutsideProject, e.to_string())
                    .at(r.dir.span, "outside the project")
                    .help(OUTSIDE_HELP)
            })
        })
        .collect()
}

/// How a user who trusts a pipeline lets it reach further.
pub const OUTSIDE_HELP: &str = "name a path inside the project; to allow this anyway, run with \
     `--root DIR` naming a directory that contains it, or `--allow-outside-root`";

/// `<dir>/<name>.csv` and `<dir>/<name>.json` for a table, `<name>.json` for
/// a document, into a report directory being staged (see
/// [`report_dir`](crate::report_dir), which syncs it before publishing).
pub fn write_artifact(dir: &Path, name: &str, artifact: &Artifact) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    match &artifact.body {
        Body::Table(t) => {
            let csv = dir.join(format!("{name}.csv"));
            write_staged(&csv, t.to_csv().as_bytes())?;
            out.push(csv);
            let json = dir.join(format!("{name}.json"));
            let text = serde_json::to_string(&t.to_records()).map_err(|e| e.to_string())?;
            write_staged(&json, text.as_bytes())?;
            out.push(json);
            // Facts about the table (units, hardware, headline comparisons)
            // beside it, so the records stay a plain rectangular table.
            if !t.meta.is_empty() {
                let meta = dir.join(format!("{name}.meta.json"));
                let text = serde_json::to_string_pretty(&t.meta).map_err(|e| e.to_string())?;
                write_staged(&meta, text.as_bytes())?;
                out.push(meta);
            }
        }
        Body::Json(v) => {
            let json = dir.join(format!("{name}.json"));
            let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
            write_staged(&json, text.as_bytes())?;
            out.push(json);
        }
    }
    Ok(out)
}

fn write_staged(path: &Path, bytes: &[u8]) -> Result<(), String> {
    rooflaw_cache::files::write_staged(path, bytes)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
