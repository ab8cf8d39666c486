//! `report a, b to "dir"`: the reported stages' outputs as CSV and JSON that
//! pandas or polars load directly, then the stdlib's human-facing report.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rooflaw_dsl::spec::Spec;

use crate::artifact::{Artifact, Body};
use crate::stage::Registry;

/// Write every `report` declaration of the spec; returns the files written.
pub fn export(
    spec: &Spec,
    registry: &Registry,
    base_dir: &Path,
    outputs: &BTreeMap<String, Arc<Artifact>>,
) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    for report in &spec.reports {
        let names: Vec<String> = report.stages.iter().map(|n| n.node.clone()).collect();
        // A run stopped early (`--until`) leaves a report whose stages did
        // not all run exactly as the last full run wrote it.
        if names.iter().any(|n| !outputs.contains_key(n)) {
            continue;
        }
        let dir = base_dir.join(&report.dir.node);
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        // Stage tables under `data/`, so a stage's name can never clash with
        // the report's own files (its plot data is `frontier.csv` too).
        let data = dir.join("data");
        std::fs::create_dir_all(&data)
            .map_err(|e| format!("cannot create {}: {e}", data.display()))?;
        let mut here = Vec::new();
        for name in &names {
            let Some(artifact) = outputs.get(name) else {
                continue;
            };
            here.extend(write_artifact(&data, name, artifact)?);
        }
        if let Some(reporter) = registry.reporter() {
            here.extend(reporter.write(&dir, spec, outputs, &names)?);
        }
        remove_stale(&dir, &here)?;
        written.extend(here);
    }
    Ok(written)
}

/// Where a report directory lists the files rooflaw wrote into it.
const MANIFEST: &str = ".rooflaw-report";

/// Deletes the files the previous report into `dir` wrote and this one did
/// not (a stage no longer reported, a plot renamed), so the directory shows
/// one run; files rooflaw did not write are never touched. Then records
/// `written` for the next run.
fn remove_stale(dir: &Path, written: &[PathBuf]) -> Result<(), String> {
    let now: Vec<String> = written
        .iter()
        .filter_map(|p| p.strip_prefix(dir).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let manifest = dir.join(MANIFEST);
    if let Ok(before) = std::fs::read_to_string(&manifest) {
        for old in before.lines() {
            // Only plain relative paths below `dir`, as this function writes them.
            let rel = Path::new(old);
            let inside = rel
                .components()
                .all(|c| matches!(c, std::path::Component::Normal(_)));
            if inside && !old.is_empty() && !now.iter().any(|n| n == old) {
                let _ = std::fs::remove_file(dir.join(rel));
            }
        }
    }
    let mut text = now.join("\n");
    text.push('\n');
    write_atomic(&manifest, text.as_bytes())
}

/// `<dir>/<name>.csv` and `<dir>/<name>.json` for a table, `<name>.json` for
/// a document. Writes go through a temp file and a rename.
pub fn write_artifact(dir: &Path, name: &str, artifact: &Artifact) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    match &artifact.body {
        Body::Table(t) => {
            let csv = dir.join(format!("{name}.csv"));
            write_atomic(&csv, t.to_csv().as_bytes())?;
            out.push(csv);
            let json = dir.join(format!("{name}.json"));
            let text = serde_json::to_string(&t.to_records()).map_err(|e| e.to_string())?;
            write_atomic(&json, text.as_bytes())?;
            out.push(json);
            // Facts about the table (units, hardware, headline comparisons)
            // beside it, so the records stay a plain rectangular table.
            if !t.meta.is_empty() {
                let meta = dir.join(format!("{name}.meta.json"));
                let text = serde_json::to_string_pretty(&t.meta).map_err(|e| e.to_string())?;
                write_atomic(&meta, text.as_bytes())?;
                out.push(meta);
            }
        }
        Body::Json(v) => {
            let json = dir.join(format!("{name}.json"));
            let text = serde_json::to_string_pretty(v).map_err(|e| e.to_string())?;
            write_atomic(&json, text.as_bytes())?;
            out.push(json);
        }
    }
    Ok(out)
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    std::fs::write(&tmp, bytes).map_err(|e| format!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| format!("cannot write {}: {e}", path.display()))
}
