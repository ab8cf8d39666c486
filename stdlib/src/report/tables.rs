//! The numbers beside the plots: CSV files that pandas and polars load as
//! they are (one header row, plain numbers, the unit in the column name).
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::data::ReportData;
use super::error::ReportError;

#[derive(Serialize)]
struct CandidateRow<'a> {
    group: &'a str,
    label: &'a str,
    latency_ms: f64,
    loss: f64,
}

#[derive(Serialize)]
struct FrontierRow<'a> {
    group: &'a str,
    label: &'a str,
    latency_ms: f64,
    /// The error band (10th–90th percentile of measured / predicted).
    latency_ms_lo: Option<f64>,
    latency_ms_hi: Option<f64>,
    loss: f64,
}

#[derive(Default, Serialize)]
struct TopCsvRow<'a> {
    /// The `search` stage the row belongs to.
    search: &'a str,
    rank: u32,
    label: &'a str,
    group: &'a str,
    layers: u32,
    width: u32,
    heads: u32,
    kv_heads: u32,
    ffn_ratio: f64,
    experts: u32,
    top_k: u32,
    params_m: f64,
    prefill_ms: f64,
    decode_ms: f64,
    total_ms: f64,
    prefill_ms_lo: Option<f64>,
    prefill_ms_hi: Option<f64>,
    decode_ms_lo: Option<f64>,
    decode_ms_hi: Option<f64>,
    total_ms_lo: Option<f64>,
    total_ms_hi: Option<f64>,
    memory_gb: f64,
    loss: f64,
    ppl: f64,
    latency_margin_ms: Option<f64>,
    loss_margin: Option<f64>,
}

#[derive(Serialize)]
struct OpRow<'a> {
    phase: &'a str,
    name: &'a str,
    intensity_flop_per_byte: f64,
    achieved_tflop_s: f64,
    time_ms: f64,
    bound: &'a str,
}

#[derive(Serialize)]
struct FitRow<'a> {
    label: &'a str,
    measured_loss: f64,
    predicted_loss: f64,
    heldout: bool,
}

#[derive(Serialize)]
struct LatencyRow<'a> {
    label: &'a str,
    measured_ms: f64,
    predicted_ms: f64,
    heldout: bool,
}

fn write_rows<T: Serialize>(
    path: PathBuf,
    rows: impl IntoIterator<Item = T>,
) -> Result<PathBuf, ReportError> {
    write_rows_or_header(path, rows, None)
}

/// As [`write_rows`], and with no rows the header of `blank`, so an empty
/// table still reads as one (with its columns) rather than as an empty file.
fn write_rows_or_header<T: Serialize>(
    path: PathBuf,
    rows: impl IntoIterator<Item = T>,
    blank: Option<T>,
) -> Result<PathBuf, ReportError> {
    let err = |source| ReportError::Csv {
        path: path.clone(),
        source,
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut any = false;
    for r in rows {
        w.serialize(r).map_err(err)?;
        any = true;
    }
    if let (false, Some(b)) = (any, blank) {
        let mut header = csv::Writer::from_writer(Vec::new());
        header.serialize(b).map_err(err)?;
        let text = header.into_inner().map_err(|e| ReportError::Io {
            path: path.clone(),
            source: e.into_error(),
        })?;
        let first = text.split(|&c| c == b'\n').next().unwrap_or_default();
        w.write_record(first.split(|&c| c == b',')).map_err(err)?;
    }
    let bytes = w.into_inner().map_err(|e| ReportError::Io {
        path: path.clone(),
        source: e.into_error(),
    })?;
    rooflaw_cache::files::write_staged(&path, &bytes).map_err(|source| ReportError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Every search's top designs, each row naming its search.
fn top_rows(d: &ReportData) -> impl Iterator<Item = TopCsvRow<'_>> {
    d.searches
        .iter()
        .flat_map(|s| s.top.iter().map(move |t| (s, t)))
        .map(|(s, t)| TopCsvRow {
            search: &s.stage,
            rank: t.rank,
            label: &t.label,
            group: &t.group,
            layers: t.layers,
            width: t.width,
            heads: t.heads,
            kv_heads: t.kv_heads,
            ffn_ratio: t.ffn_ratio,
            experts: t.experts,
            top_k: t.top_k,
            params_m: t.params / 1e6,
            prefill_ms: t.prefill_s * 1e3,
            decode_ms: t.decode_s * 1e3,
            total_ms: t.total_s * 1e3,
            prefill_ms_lo: t.band.map(|b| b.prefill_s.0 * 1e3),
            prefill_ms_hi: t.band.map(|b| b.prefill_s.1 * 1e3),
            decode_ms_lo: t.band.map(|b| b.decode_s.0 * 1e3),
            decode_ms_hi: t.band.map(|b| b.decode_s.1 * 1e3),
            total_ms_lo: t.band.map(|b| b.total_s.0 * 1e3),
            total_ms_hi: t.band.map(|b| b.total_s.1 * 1e3),
            memory_gb: t.memory_bytes / 1e9,
            loss: t.loss,
            ppl: t.ppl,
            latency_margin_ms: t.latency_margin_s.map(|m| m * 1e3),
            loss_margin: t.loss_margin,
        })
}

/// Writes every CSV the data has content for; returns their paths.
pub(crate) fn write_csvs(dir: &Path, d: &ReportData) -> Result<Vec<PathBuf>, ReportError> {
    let mut out = Vec::new();
    // A report of measurements or a calibration alone has no candidates.
    let searched = !(d.candidates.is_empty() && d.frontiers.is_empty() && d.searches.is_empty());
    if searched {
        out.extend([
            write_rows(
                dir.join("candidates.csv"),
                d.candidates.iter().map(|c| CandidateRow {
                    group: &c.group,
                    label: &c.label,
                    latency_ms: c.latency_s * 1e3,
                    loss: c.loss,
                }),
            )?,
            write_rows(
                dir.join("frontier.csv"),
                d.frontiers.iter().flat_map(|f| {
                    f.points.iter().map(|p| FrontierRow {
                        group: &f.group,
                        label: &p.label,
                        latency_ms: p.latency_s * 1e3,
                        latency_ms_lo: p.band_s.map(|b| b.0 * 1e3),
                        latency_ms_hi: p.band_s.map(|b| b.1 * 1e3),
                        loss: p.loss,
                    })
                }),
            )?,
            write_rows_or_header(dir.join("top.csv"), top_rows(d), Some(TopCsvRow::default()))?,
        ]);
    }
    if !d.roofline_ops.is_empty() {
        out.push(write_rows(
            dir.join("roofline_ops.csv"),
            d.roofline_ops.iter().map(|o| OpRow {
                phase: &o.phase,
                name: &o.name,
                intensity_flop_per_byte: o.intensity,
                achieved_tflop_s: o.achieved_flops / 1e12,
                time_ms: o.time_s * 1e3,
                bound: o.bound.name(),
            }),
        )?);
    }
    for v in &d.fits {
        let file = if d.fits.len() == 1 {
            "fit.csv".to_string()
        } else {
            format!("fit_{}.csv", v.name)
        };
        out.push(write_rows(
            dir.join(file),
            v.points.iter().map(|p| FitRow {
                label: &p.label,
                measured_loss: p.measured,
                predicted_loss: p.predicted,
                heldout: p.heldout,
            }),
        )?);
    }
    if let Some(v) = &d.validation {
        out.push(write_rows(
            dir.join("validation_latency.csv"),
            v.points.iter().map(|p| LatencyRow {
                label: &p.label,
                measured_ms: p.measured * 1e3,
                predicted_ms: p.predicted * 1e3,
                heldout: p.heldout,
            }),
        )?);
    }
    Ok(out)
}
