//! Reports: SVG plots, a self-contained HTML page, a Markdown summary and
//! the numbers as CSV and JSON, rendered from a plain [`ReportData`] so the
//! renderer needs nothing from the engine.
//!
//! `write_report(dir, &data)` writes into `dir`:
//! - `index.html`: every figure inline, CSS inline, no script, no external URL;
//! - `summary.md`: headline, top table, links to the SVG files;
//! - `loss_latency.svg` (when there are candidates), `roofline.svg` (when
//!   operators are given), `fit_loss.svg` and `validation_latency.svg` (when
//!   those views are given; with several fits, `fit_loss_<stage>.svg` each);
//! - `candidates.csv`, `frontier.csv`, `top.csv` (when there are candidates),
//!   and `roofline_ops.csv`, `fit.csv` (`fit_<stage>.csv`),
//!   `validation_latency.csv` when present;
//! - `report.json`: everything except the candidate list, which only
//!   `candidates.csv` holds (a million rows of JSON helps no one).
mod agreement;
mod data;
mod error;
mod frame;
mod loss_latency;
mod notation;
mod pages;
mod roofline_chart;
mod scale;
mod svg;
mod tables;
mod thin;

use std::path::{Path, PathBuf};

use serde::Serialize;

pub use data::{
    AdviceRow, Bound, BudgetLine, CalibrationRow, Coefficient, Compared, Counts, Figures, FitPoint,
    FitView, Frontier, FrontierPoint, HardwareInfo, Headline, LatencyBand, Marked, OpPoint, Point,
    ReportData, SearchView, TopRow, TrainedRow,
};
pub use error::ReportError;
pub use notation::{bytes, percent, plain, si};
pub use pages::headline_text;

use pages::Figure;
use scale::Kind;

/// A rendered figure: its file name, the SVG text and its caption.
pub struct RenderedFigure {
    pub file: String,
    pub svg: String,
    pub caption: String,
}

/// Renders every figure the data has content for, without touching disk.
pub fn render_figures(data: &ReportData) -> Result<Vec<RenderedFigure>, ReportError> {
    data.validate()?;
    Ok(figures(data)
        .into_iter()
        .map(|f| RenderedFigure {
            file: f.file,
            svg: f.svg,
            caption: f.caption,
        })
        .collect())
}

fn figures(d: &ReportData) -> Vec<Figure> {
    let mut out = Vec::new();
    // A report of measurements or a calibration alone has no candidates.
    if !d.candidates.is_empty() {
        let ll = loss_latency::render(d);
        out.push(Figure {
            file: "loss_latency.svg".into(),
            id: pages::LOSS_LATENCY.into(),
            heading: "Loss against latency".into(),
            svg: ll.svg,
            caption: ll.caption,
            coefficients: Vec::new(),
        });
    }
    if !d.roofline_ops.is_empty() {
        let name = d
            .chosen
            .as_ref()
            .map_or("the chosen design", |c| c.label.as_str());
        out.push(Figure {
            file: "roofline.svg".into(),
            id: "roofline".into(),
            heading: "Roofline of the chosen design".into(),
            svg: roofline_chart::render(d),
            caption: format!(
                "Operators of {name} on {}: circles are memory-bound, squares compute-bound; \
                 the largest time contributors per phase are labelled with their time.",
                d.hardware.name
            ),
            coefficients: Vec::new(),
        });
    }
    let fits: Vec<&FitView> = d.fits.iter().filter(|f| !f.points.is_empty()).collect();
    for fit in &fits {
        let (file, id, heading) = if fits.len() == 1 {
            (
                "fit_loss.svg".to_string(),
                "fit".to_string(),
                "Loss law: predicted against measured".to_string(),
            )
        } else {
            (
                format!("fit_loss_{}.svg", fit.name),
                format!("fit-{}", fit.name),
                format!("Loss law `{}`: predicted against measured", fit.name),
            )
        };
        out.push(Figure {
            file,
            id,
            heading,
            svg: agreement::render(
                fit,
                &agreement::Quantity {
                    title: "Predicted vs measured loss",
                    axis: "loss (nats/token)",
                    kind: Kind::Linear,
                    unit: "",
                },
            ),
            caption: agreement_caption(fit, "loss"),
            coefficients: fit.coefficients.clone(),
        });
    }
    if let Some(v) = d.validation.as_ref().filter(|f| !f.points.is_empty()) {
        out.push(Figure {
            file: "validation_latency.svg".into(),
            id: pages::VALIDATION.into(),
            heading: "Latency model: predicted against measured".into(),
            svg: agreement::render(
                v,
                &agreement::Quantity {
                    title: "Predicted vs measured latency",
                    axis: "latency",
                    kind: Kind::Log,
                    unit: "s",
                },
            ),
            caption: agreement_caption(v, "latency"),
            coefficients: v.coefficients.clone(),
        });
    }
    out
}

fn agreement_caption(v: &FitView, what: &str) -> String {
    let r2 = |r: Option<f64>| r.map_or("not given".into(), |x| format!("{x:.3}"));
    // Latency validation judges by relative error and rank (the table under
    // the plot), not R², so it gives none.
    let r2_text = if v.r2_train.is_none() && v.r2_holdout.is_none() {
        String::new()
    } else {
        format!(
            " R² train {}, held out {}.",
            r2(v.r2_train),
            r2(v.r2_holdout)
        )
    };
    format!(
        "Predicted against measured {what} for {} points (filled: fitted on; hollow: held out); \
         points on the dashed line are predicted exactly.{r2_text}",
        v.points.len(),
    )
}

#[derive(Serialize)]
struct ReportJson<'a> {
    title: &'a str,
    pipeline: &'a str,
    hardware: &'a HardwareInfo,
    workload: &'a str,
    objective: &'a str,
    counts: &'a Option<Counts>,
    candidate_count: usize,
    candidates_file: &'static str,
    frontiers: &'a [Frontier],
    budgets: &'a [BudgetLine],
    baselines: &'a [Marked],
    chosen: &'a Option<Marked>,
    searches: &'a [SearchView],
    advice: &'a [AdviceRow],
    roofline_ops: &'a [OpPoint],
    fits: &'a [FitView],
    validation: &'a Option<FitView>,
    trained: &'a [TrainedRow],
    notes: &'a [String],
}

fn write_file(path: PathBuf, contents: &str) -> Result<PathBuf, ReportError> {
    rooflaw_cache::files::write_staged(&path, contents.as_bytes()).map_err(|source| {
        ReportError::Io {
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}

/// Writes the whole report into `dir` (created if missing); returns the
/// paths written, `index.html` first.
pub fn write_report(dir: &Path, data: &ReportData) -> Result<Vec<PathBuf>, ReportError> {
    data.validate()?;
    std::fs::create_dir_all(dir).map_err(|source| ReportError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let figs = figures(data);
    let mut written = Vec::new();
    for f in &figs {
        written.push(write_file(dir.join(&f.file), &f.svg)?);
    }
    written.extend(tables::write_csvs(dir, data)?);
    let json = ReportJson {
        title: &data.title,
        pipeline: &data.pipeline,
        hardware: &data.hardware,
        workload: &data.workload,
        objective: &data.objective,
        counts: &data.counts,
        candidate_count: data.candidates.len(),
        candidates_file: "candidates.csv",
        frontiers: &data.frontiers,
        budgets: &data.budgets,
        baselines: &data.baselines,
        chosen: &data.chosen,
        searches: &data.searches,
        advice: &data.advice,
        roofline_ops: &data.roofline_ops,
        fits: &data.fits,
        validation: &data.validation,
        trained: &data.trained,
        notes: &data.notes,
    };
    written.push(write_file(
        dir.join("report.json"),
        &serde_json::to_string_pretty(&json)?,
    )?);
    let names: Vec<String> = written
        .iter()
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect();
    let md = write_file(
        dir.join("summary.md"),
        &pages::markdown(data, &figs, &names),
    )?;
    let html = write_file(dir.join("index.html"), &pages::html(data, &figs, &names))?;
    written.insert(0, md);
    written.insert(0, html);
    Ok(written)
}
