//! The two documents: a self-contained HTML page (SVGs and CSS inline, no
//! script, no external URL) and a Markdown summary linking the SVG files.
use std::fmt::Write as _;

use super::data::{CalibrationRow, Coefficient, Headline, ReportData, TopRow, TrainedRow};
use super::notation::si;
use super::svg::escape;

/// One rendered figure, as both documents place it.
pub(crate) struct Figure {
    /// File name of the standalone SVG.
    pub(crate) file: String,
    pub(crate) id: String,
    pub(crate) heading: String,
    pub(crate) svg: String,
    pub(crate) caption: String,
    /// Fitted coefficients, tabled under the plot.
    pub(crate) coefficients: Vec<Coefficient>,
}

const CSS: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;\
color:#222;margin:0;background:#fafafa}main{max-width:1120px;margin:0 auto;padding:24px 28px 60px;\
background:#fff}h1{font-size:1.6em;margin:0 0 .3em}h2{font-size:1.2em;margin:1.6em 0 .5em;\
border-bottom:1px solid #ddd;padding-bottom:.2em}.meta{display:grid;grid-template-columns:max-content 1fr;\
gap:.2em 1em;margin:.6em 0 1em}.meta dt{color:#666}.meta dd{margin:0}.headline{background:#f1f6fb;\
border-left:4px solid #0072B2;padding:.8em 1em;margin:1em 0}.headline strong{font-size:1.15em}\
figure{margin:1em 0}figure svg{max-width:100%;height:auto;display:block}figcaption{color:#555;\
font-size:.9em;margin-top:.3em}table{border-collapse:collapse;font-size:.8em;width:100%}\
th,td{padding:.25em .4em;border-bottom:1px solid #e6e6e6;white-space:nowrap}th{background:#f4f4f4;\
text-align:left}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.scroll{overflow-x:auto}\
ul.notes li{margin:.3em 0}#coefficients{width:auto;margin-top:.5em}code{font-size:.95em}";

fn headline_sentence(h: &Headline) -> String {
    format!(
        "At the latency of {} ({}), {} reaches predicted loss {:.4} against {:.4}: \
         perplexity {:.2} against {:.2}, {:.2}% lower.",
        h.baseline,
        si(h.latency_s, "s"),
        h.best,
        h.loss_best,
        h.loss_base,
        h.ppl_best,
        h.ppl_base,
        h.ppl_reduction_pct
    )
}

fn moe(t: &TopRow) -> String {
    if t.experts > 1 {
        format!("{}/{}", t.top_k, t.experts)
    } else {
        "dense".into()
    }
}

/// Header and one cell per column of the top-designs table, shared by both
/// documents so they cannot disagree.
const TOP_HEADER: [(&str, bool); 17] = [
    ("#", true),
    ("design", false),
    ("precision", false),
    ("layers", true),
    ("width", true),
    ("heads", true),
    ("kv heads", true),
    ("FFN ratio", true),
    ("experts (K/E)", true),
    ("params", true),
    ("prefill", true),
    ("decode", true),
    ("total", true),
    ("memory", true),
    ("loss", true),
    ("ppl", true),
    ("margin", true),
];

fn top_cells(t: &TopRow) -> [String; 17] {
    [
        t.rank.to_string(),
        t.label.clone(),
        t.group.clone(),
        t.layers.to_string(),
        t.width.to_string(),
        t.heads.to_string(),
        t.kv_heads.to_string(),
        format!("{:.2}", t.ffn_ratio),
        moe(t),
        si(t.params, ""),
        si(t.prefill_s, "s"),
        si(t.decode_s, "s"),
        si(t.total_s, "s"),
        si(t.memory_bytes, "B"),
        format!("{:.4}", t.loss),
        format!("{:.2}", t.ppl),
        t.latency_margin_s.map_or("–".into(), |m| si(m, "s")),
    ]
}

const TRAINED_HEADER: [(&str, bool); 10] = [
    ("role", false),
    ("design", false),
    ("params", true),
    ("tokens", true),
    ("predicted latency", true),
    ("measured latency", true),
    ("predicted loss", true),
    ("predicted ppl", true),
    ("measured val loss", true),
    ("measured val ppl", true),
];

fn trained_cells(t: &TrainedRow) -> [String; 10] {
    [
        t.role.clone(),
        t.design.clone(),
        si(t.params, ""),
        si(t.tokens, ""),
        si(t.predicted_latency_s, "s"),
        t.measured_latency_s
            .map_or_else(|| "–".into(), |v| si(v, "s")),
        format!("{:.4}", t.predicted_loss),
        format!("{:.2}", t.predicted_ppl),
        format!("{:.4}", t.val_loss),
        format!("{:.2}", t.val_ppl),
    ]
}

/// One sentence on the measured outcome: the chosen design's validation
/// perplexity against the baseline's, both trained with the same recipe.
fn trained_sentence(rows: &[TrainedRow]) -> Option<String> {
    let base = rows.iter().find(|r| r.role == "baseline")?;
    let best = rows.iter().find(|r| r.role.starts_with("best"))?;
    Some(format!(
        "Trained with the same recipe and {} tokens, {} reaches validation perplexity {:.2} \
         against {:.2} for the baseline {}: {:.1}% lower (predicted {:.2} against {:.2}).",
        si(best.tokens, ""),
        best.design,
        best.val_ppl,
        base.val_ppl,
        base.design,
        (1.0 - best.val_ppl / base.val_ppl) * 100.0,
        best.predicted_ppl,
        base.predicted_ppl,
    ))
}

/// The trained baseline and chosen designs, in Markdown (nothing when
/// no `train(search)` was reported).
fn trained_markdown(m: &mut String, rows: &[TrainedRow]) {
    if rows.is_empty() {
        return;
    }
    m.push_str("## Trained: the chosen design against the baseline\n\n");
    if let Some(s) = trained_sentence(rows) {
        let _ = writeln!(m, "{s}\n");
    }
    md_table(m, &TRAINED_HEADER, rows.iter().map(trained_cells));
}

fn coefficient_cells(c: &Coefficient) -> [String; 3] {
    let ci = match (c.ci_low, c.ci_high) {
        (Some(lo), Some(hi)) => format!("[{}, {}]", number(lo), number(hi)),
        _ => "–".into(),
    };
    [c.name.clone(), number(c.value), ci]
}

/// Six significant digits in plain notation where that reads well, and in
/// scientific notation outside 1e-4..1e9: an unidentified coefficient's
/// bootstrap interval can reach 1e170, which plain digits would spell out.
fn number(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 || !v.is_finite() || (1e-4..1e9).contains(&a) {
        format!("{v:.6}")
    } else {
        format!("{v:.5e}")
    }
}

pub(crate) fn html(d: &ReportData, figures: &[Figure], files: &[String]) -> String {
    let mut h =
        String::with_capacity(64 * 1024 + figures.iter().map(|f| f.svg.len()).sum::<usize>());
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{}</title><style>{CSS}</style></head><body><main>\n<h1>{}</h1>\n<dl class=\"meta\">",
        escape(&d.title),
        escape(&d.title)
    );
    let hw = &d.hardware;
    let hw_text = format!(
        "{} — peak {} ({}), {} DRAM, {} memory",
        hw.name,
        si(hw.peak_flops, "FLOP/s"),
        hw.compute_dtype,
        si(hw.bandwidth, "B/s"),
        si(hw.memory, "B")
    );
    for (k, v) in [
        ("Pipeline", d.pipeline.as_str()),
        ("Hardware", hw_text.as_str()),
        ("Workload", d.workload.as_str()),
        ("Objective", d.objective.as_str()),
    ] {
        let _ = write!(h, "<dt>{k}</dt><dd>{}</dd>", escape(v));
    }
    if !d.candidates.is_empty() {
        let _ = write!(
            h,
            "<dt>Candidates</dt><dd>{}</dd>",
            super::loss_latency::group_digits(d.candidates.len())
        );
    }
    let _ = writeln!(h, "</dl>");
    if let Some(hl) = &d.headline {
        let _ = writeln!(
            h,
            "<section class=\"headline\" id=\"headline\"><strong>{:.2}% lower perplexity</strong> \
             than {} at the same latency.<br>{}</section>",
            hl.ppl_reduction_pct,
            escape(&hl.baseline),
            escape(&headline_sentence(hl))
        );
    }
    if !d.trained.is_empty() {
        h.push_str("<h2>Trained: the chosen design against the baseline</h2>\n");
        if let Some(s) = trained_sentence(&d.trained) {
            let _ = writeln!(h, "<p>{}</p>", escape(&s));
        }
        html_table(
            &mut h,
            "trained",
            &TRAINED_HEADER,
            d.trained.iter().map(trained_cells),
        );
    }
    // The top designs follow the loss–latency plot they are drawn from.
    if !has_loss_latency(figures) {
        top_table_html(&mut h, &d.top);
    }
    for f in figures {
        figure_html(&mut h, f);
        if f.id == LOSS_LATENCY {
            top_table_html(&mut h, &d.top);
        }
        if f.id == VALIDATION && !d.calibration.is_empty() {
            html_table(
                &mut h,
                "calibration",
                &CALIBRATION_HEADER,
                d.calibration.iter().map(calibration_cells),
            );
        }
        if !f.coefficients.is_empty() {
            html_table(
                &mut h,
                "coefficients",
                &COEFFICIENT_HEADER,
                f.coefficients.iter().map(coefficient_cells),
            );
        }
    }
    if !d.notes.is_empty() {
        h.push_str("<h2>Notes</h2>\n<ul class=\"notes\">");
        for n in &d.notes {
            let _ = write!(h, "<li>{}</li>", escape(n));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<h2>Data</h2>\n<ul>");
    for f in files {
        let _ = write!(h, "<li><a href=\"{0}\">{0}</a></li>", escape(f));
    }
    h.push_str("</ul>\n</main></body></html>\n");
    h
}

fn top_table_html(h: &mut String, top: &[TopRow]) {
    if top.is_empty() {
        return;
    }
    h.push_str("<h2>Top designs</h2>\n<div class=\"scroll\">");
    html_table(h, "top", &TOP_HEADER, top.iter().map(top_cells));
    h.push_str("</div>\n<p class=\"meta-note\">Margin: latency headroom under the budget.</p>\n");
}

/// An HTML table: a header of (name, numeric) columns, numeric ones
/// right-aligned, and one row of cells per item, all escaped.
fn html_table<R: IntoIterator<Item = String>>(
    h: &mut String,
    id: &str,
    header: &[(&str, bool)],
    rows: impl Iterator<Item = R>,
) {
    let class = |num: bool| if num { " class=\"n\"" } else { "" };
    let _ = write!(h, "<table id=\"{id}\"><thead><tr>");
    for (name, num) in header {
        let _ = write!(h, "<th{}>{}</th>", class(*num), escape(name));
    }
    h.push_str("</tr></thead><tbody>\n");
    for row in rows {
        h.push_str("<tr>");
        for (cell, (_, num)) in row.into_iter().zip(header) {
            let _ = write!(h, "<td{}>{}</td>", class(*num), escape(&cell));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table>\n");
}

fn figure_html(h: &mut String, f: &Figure) {
    let _ = write!(
        h,
        "<h2>{}</h2>\n<figure id=\"fig-{}\">",
        escape(&f.heading),
        f.id
    );
    // The standalone file's XML prolog has no place inside HTML.
    h.push_str(
        f.svg
            .trim_start_matches("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .trim_end(),
    );
    let _ = writeln!(
        h,
        "<figcaption>{}</figcaption></figure>",
        escape(&f.caption)
    );
}

/// Columns of a fit's coefficient table, and whether each is numeric.
const COEFFICIENT_HEADER: [(&str, bool); 3] =
    [("coefficient", false), ("value", true), ("interval", true)];

/// Columns of the calibration table, and whether each is numeric.
const CALIBRATION_HEADER: [(&str, bool); 7] = [
    ("split", false),
    ("phase", false),
    ("n", true),
    ("median error before", true),
    ("median error after", true),
    ("Spearman before", true),
    ("Spearman after", true),
];

fn calibration_cells(r: &CalibrationRow) -> [String; 7] {
    let rho = |v: Option<f64>| v.map_or("–".into(), |v| format!("{v:.3}"));
    [
        r.split.clone(),
        r.phase.clone(),
        r.n.to_string(),
        format!("{:.1}%", r.median_before),
        format!("{:.1}%", r.median_after),
        rho(r.spearman_before),
        rho(r.spearman_after),
    ]
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

pub(crate) fn markdown(d: &ReportData, figures: &[Figure], files: &[String]) -> String {
    let mut m = String::new();
    let hw = &d.hardware;
    let _ = writeln!(m, "# {}\n", d.title);
    let _ = writeln!(m, "- **Pipeline:** {}", d.pipeline);
    let _ = writeln!(
        m,
        "- **Hardware:** {} — peak {} ({}), {} DRAM, {} memory",
        hw.name,
        si(hw.peak_flops, "FLOP/s"),
        hw.compute_dtype,
        si(hw.bandwidth, "B/s"),
        si(hw.memory, "B")
    );
    let _ = writeln!(m, "- **Workload:** {}", d.workload);
    let _ = writeln!(m, "- **Objective:** {}", d.objective);
    if !d.candidates.is_empty() {
        let _ = writeln!(
            m,
            "- **Candidates:** {}",
            super::loss_latency::group_digits(d.candidates.len())
        );
    }
    let _ = writeln!(m);
    if let Some(hl) = &d.headline {
        let _ = writeln!(
            m,
            "> **{:.2}% lower perplexity.** {}\n",
            hl.ppl_reduction_pct,
            headline_sentence(hl)
        );
    }
    trained_markdown(&mut m, &d.trained);
    if !has_loss_latency(figures) {
        top_markdown(&mut m, &d.top);
    }
    for f in figures {
        let _ = writeln!(
            m,
            "## {}\n\n![{}]({})\n\n*{}*\n",
            f.heading, f.heading, f.file, f.caption
        );
        if f.id == LOSS_LATENCY {
            top_markdown(&mut m, &d.top);
        }
        if f.id == VALIDATION && !d.calibration.is_empty() {
            md_table(
                &mut m,
                &CALIBRATION_HEADER,
                d.calibration.iter().map(calibration_cells),
            );
        }
        if !f.coefficients.is_empty() {
            md_table(
                &mut m,
                &COEFFICIENT_HEADER,
                f.coefficients.iter().map(coefficient_cells),
            );
        }
    }
    if !d.notes.is_empty() {
        m.push_str("## Notes\n\n");
        for n in &d.notes {
            let _ = writeln!(m, "- {n}");
        }
        m.push('\n');
    }
    m.push_str("## Data\n\n");
    for f in files {
        let _ = writeln!(m, "- [{f}]({f})");
    }
    m
}

/// The top designs as a Markdown table; nothing when there are none.
fn top_markdown(m: &mut String, top: &[TopRow]) {
    if top.is_empty() {
        return;
    }
    m.push_str("## Top designs\n\n");
    md_table(m, &TOP_HEADER, top.iter().map(top_cells));
}

/// A Markdown table: a header of (name, numeric) columns, numeric ones
/// right-aligned, and one row of cells per item; a blank line after it.
fn md_table<R: IntoIterator<Item = String>>(
    m: &mut String,
    header: &[(&str, bool)],
    rows: impl Iterator<Item = R>,
) {
    m.push('|');
    for (name, _) in header {
        let _ = write!(m, " {name} |");
    }
    m.push_str("\n|");
    for (_, num) in header {
        m.push_str(if *num { " ---: |" } else { " --- |" });
    }
    m.push('\n');
    for row in rows {
        m.push('|');
        for c in row {
            let _ = write!(m, " {} |", md_cell(&c));
        }
        m.push('\n');
    }
    m.push('\n');
}

/// The id of the loss–latency figure, which the top designs follow.
pub(crate) const LOSS_LATENCY: &str = "loss-latency";

/// The id of the latency validation figure, which the calibration table
/// follows.
pub(crate) const VALIDATION: &str = "validation";

fn has_loss_latency(figures: &[Figure]) -> bool {
    figures.iter().any(|f| f.id == LOSS_LATENCY)
}
