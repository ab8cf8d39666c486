//! The two documents: a self-contained HTML page (SVGs and CSS inline, no
//! script, no external URL) and a Markdown summary linking the SVG files.
use std::fmt::Write as _;

use super::data::{
    AdviceRow, CalibrationRow, Coefficient, Figures, ReportData, SearchView, TopRow, TrainedRow,
};
use super::notation::{bytes, percent, plain, si};
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

/// `best` against `base` in words with its sign: "12.3% lower perplexity",
/// "8.04% higher latency", "the same memory".
fn change(best: f64, base: f64, less: &str, more: &str, what: &str) -> String {
    let r = (best / base - 1.0) * 100.0;
    if !r.is_finite() {
        return format!("{what} not comparable");
    }
    // Below what three significant digits of the figures can show.
    if r.abs() < 0.05 {
        return format!("the same {what}");
    }
    let word = if r < 0.0 { less } else { more };
    format!("{}% {word} {what}", percent(r))
}

fn figures_text(f: &Figures, objective: &str, binary: bool) -> String {
    format!(
        "{objective} {}, memory {}, perplexity {}, loss {}",
        si(f.latency_s, "s"),
        bytes(f.memory_bytes, binary),
        plain(f.ppl),
        plain(f.loss)
    )
}

fn design_in(design: &str, precision: &str) -> String {
    if precision.is_empty() {
        design.to_string()
    } else {
        format!("{design} ({precision})")
    }
}

/// A search's answer in words, shared by the page, the summary and the
/// terminal: a title ("L24 d2048 (w4a16): 12.3% lower perplexity than
/// qwen2.5-0.5b") and the sentences behind it; for a search that found
/// nothing, why.
pub fn headline_text(s: &SearchView, binary: bool) -> (String, String) {
    let Some(h) = &s.headline else {
        let why = s
            .empty
            .clone()
            .unwrap_or_else(|| format!("no design meets {}", s.limit));
        // The title is the sentence's claim, the body the whole of it.
        let claim = why.split(':').next().unwrap_or(&why);
        let mut title = claim.to_string();
        if let Some(first) = title.get(..1) {
            title.replace_range(..1, &first.to_uppercase());
        }
        return (title, why);
    };
    let design = design_in(&h.design, &h.precision);
    let title = if h.baselines.is_empty() {
        format!("{design}: the lowest predicted loss within {}", s.limit)
    } else {
        let vs: Vec<String> = h
            .baselines
            .iter()
            .map(|b| {
                let ppl = change(
                    h.figures.ppl,
                    b.figures.ppl,
                    "lower",
                    "higher",
                    "perplexity",
                );
                // "the same perplexity as", "12% lower perplexity than".
                let link = if ppl.starts_with("the same") {
                    "as"
                } else {
                    "than"
                };
                format!("{ppl} {link} {}", b.name)
            })
            .collect();
        format!("{design}: {}", vs.join("; "))
    };
    let mut body = format!(
        "Within {}, the lowest predicted loss is {design}'s: {}.",
        s.limit,
        figures_text(&h.figures, &s.objective, binary)
    );
    let also = if h.precision.is_empty() {
        String::new()
    } else {
        format!(", also in {}", h.precision)
    };
    for b in &h.baselines {
        let _ = write!(
            body,
            " Against {}{also} ({}): {}, {}, {}.",
            b.name,
            figures_text(&b.figures, &s.objective, binary),
            change(
                h.figures.ppl,
                b.figures.ppl,
                "lower",
                "higher",
                "perplexity"
            ),
            change(
                h.figures.latency_s,
                b.figures.latency_s,
                "lower",
                "higher",
                "latency"
            ),
            change(
                h.figures.memory_bytes,
                b.figures.memory_bytes,
                "less",
                "more",
                "memory"
            ),
        );
    }
    (title, body)
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
const TOP_HEADER: [(&str, bool); 18] = [
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
    ("total band", true),
    ("memory", true),
    ("loss", true),
    ("ppl", true),
    ("margin", true),
];

fn top_cells(t: &TopRow, binary: bool) -> [String; 18] {
    [
        t.rank.to_string(),
        t.label.clone(),
        t.group.clone(),
        t.layers.to_string(),
        t.width.to_string(),
        t.heads.to_string(),
        t.kv_heads.to_string(),
        plain(t.ffn_ratio),
        moe(t),
        si(t.params, ""),
        si(t.prefill_s, "s"),
        si(t.decode_s, "s"),
        si(t.total_s, "s"),
        t.band.map_or("–".into(), |b| {
            format!(
                "{}–{}{}",
                si(b.total_s.0, "s"),
                si(b.total_s.1, "s"),
                if b.calibrated { "" } else { "*" }
            )
        }),
        bytes(t.memory_bytes, binary),
        plain(t.loss),
        plain(t.ppl),
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
    for (k, v) in facts(d) {
        let _ = write!(h, "<dt>{k}</dt><dd>{}</dd>", escape(&v));
    }
    let _ = writeln!(h, "</dl>");
    if let Some(p) = primary(d) {
        headline_html(&mut h, p, d.binary_sizes, "headline");
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
    // The searches follow the loss–latency plot they are drawn from.
    if !has_loss_latency(figures) {
        searches_html(&mut h, d);
    }
    for f in figures {
        figure_html(&mut h, f);
        if f.id == LOSS_LATENCY {
            searches_html(&mut h, d);
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

/// The header's facts, shared by both documents: pipeline, hardware,
/// workload, objective and how many designs were evaluated.
fn facts(d: &ReportData) -> Vec<(&'static str, String)> {
    let hw = &d.hardware;
    let mut out = vec![
        ("Pipeline", d.pipeline.clone()),
        (
            "Hardware",
            format!(
                "{} — peak {} ({}), {} DRAM, {} memory",
                hw.name,
                si(hw.peak_flops, "FLOP/s"),
                hw.compute_dtype,
                si(hw.bandwidth, "B/s"),
                bytes(hw.memory, d.binary_sizes)
            ),
        ),
        ("Workload", d.workload.clone()),
        ("Objective", d.objective.clone()),
    ];
    let digits =
        |n: u64| super::loss_latency::group_digits(usize::try_from(n).unwrap_or(usize::MAX));
    if let Some(c) = d.counts {
        out.push((
            "Designs",
            format!(
                "{} ({} architectures × {} precision{})",
                digits(c.designs),
                digits(c.architectures),
                c.precisions,
                if c.precisions == 1 { "" } else { "s" }
            ),
        ));
    } else if !d.candidates.is_empty() {
        out.push(("Designs", digits(d.candidates.len() as u64)));
    }
    out
}

/// The search the page leads with: the first with an answer, else the
/// first.
fn primary(d: &ReportData) -> Option<&SearchView> {
    d.searches
        .iter()
        .find(|s| s.headline.is_some())
        .or_else(|| d.searches.first())
}

fn headline_html(h: &mut String, s: &SearchView, binary: bool, id: &str) {
    let (title, body) = headline_text(s, binary);
    let _ = writeln!(
        h,
        "<section class=\"headline\" id=\"{id}\"><strong>{}</strong><br>{}</section>",
        code_spans(&title),
        code_spans(&body)
    );
}

/// Escaped text with `names` in backticks set as code, as the Markdown
/// shows them.
fn code_spans(text: &str) -> String {
    let mut out = String::new();
    for (i, part) in escape(text).split('`').enumerate() {
        if i % 2 == 1 {
            let _ = write!(out, "<code>{part}</code>");
        } else {
            out.push_str(part);
        }
    }
    out
}

/// Every search: its headline (the page's first already stands at the top),
/// its top designs and how many designs met its limit.
fn searches_html(h: &mut String, d: &ReportData) {
    let lead = primary(d).map(|p| p.stage.as_str());
    for (i, s) in d.searches.iter().enumerate() {
        let _ = writeln!(
            h,
            "<h2 id=\"search-{}\">Top designs of <code>{}</code>: within {}</h2>",
            super::svg::slug(&s.stage),
            escape(&s.stage),
            code_spans(&s.limit)
        );
        if lead != Some(s.stage.as_str()) {
            headline_html(
                h,
                s,
                d.binary_sizes,
                &format!("headline-{}", super::svg::slug(&s.stage)),
            );
        }
        if !s.top.is_empty() {
            let id = if i == 0 {
                "top".to_string()
            } else {
                format!("top-{}", super::svg::slug(&s.stage))
            };
            h.push_str("<div class=\"scroll\">");
            html_table(
                h,
                &id,
                &TOP_HEADER,
                s.top.iter().map(|t| top_cells(t, d.binary_sizes)),
            );
            h.push_str("</div>\n");
        }
        let _ = writeln!(
            h,
            "<p class=\"meta-note\">{}</p>",
            code_spans(&search_note(s))
        );
    }
    if !d.advice.is_empty() {
        h.push_str(
            "<h2 id=\"advice\">Closed-form optima (Theorems 5.1–5.3)</h2>\n<div class=\"scroll\">",
        );
        html_table(
            h,
            "advice",
            &ADVICE_HEADER,
            d.advice.iter().map(|a| advice_cells(a, d.binary_sizes)),
        );
        h.push_str("</div>\n");
    }
}

fn search_note(s: &SearchView) -> String {
    let mut note = format!(
        "{} of the {} designs searched ({}) are within {}; margin: latency headroom under it.",
        super::loss_latency::group_digits(usize::try_from(s.feasible).unwrap_or(usize::MAX)),
        super::loss_latency::group_digits(usize::try_from(s.searched).unwrap_or(usize::MAX)),
        s.searched_what,
        s.limit
    );
    if s.top.iter().any(|t| t.band.is_some()) {
        note.push_str(
            " Total band: where the measured total latency should fall, the 10th to 90th \
             percentile of measured / predicted time in leave-one-device-out cross-validation \
             of the runtime profile on this memory class",
        );
        note.push_str(if s.top.iter().any(|t| t.band.is_some_and(|b| !b.calibrated)) {
            " (* no calibration data for this runtime and hardware: the widest band of any profile)."
        } else {
            "."
        });
    }
    note
}

const ADVICE_HEADER: [(&str, bool); 12] = [
    ("stage", false),
    ("width", true),
    ("constraint", false),
    ("regime", false),
    ("layers", true),
    ("FFN ratio", true),
    ("heads", true),
    ("kv heads", true),
    ("experts (K/E)", true),
    ("loss", true),
    ("ppl", true),
    ("weights", true),
];

fn advice_cells(a: &AdviceRow, binary: bool) -> [String; 12] {
    [
        a.stage.clone(),
        plain(a.width),
        a.constraint.clone(),
        a.regime.clone(),
        a.layers.to_string(),
        plain(a.ffn_ratio),
        a.heads.to_string(),
        a.kv_heads.to_string(),
        if a.experts > 1 {
            format!("{}/{}", a.top_k, a.experts)
        } else {
            "dense".into()
        },
        plain(a.loss),
        plain(a.loss.exp()),
        a.weight_bytes.map_or("–".into(), |b| bytes(b, binary)),
    ]
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
    let _ = writeln!(m, "# {}\n", d.title);
    for (k, v) in facts(d) {
        let _ = writeln!(m, "- **{k}:** {v}");
    }
    let _ = writeln!(m);
    if let Some(p) = primary(d) {
        let (title, body) = headline_text(p, d.binary_sizes);
        let _ = writeln!(m, "> **{title}.** {body}\n");
    }
    trained_markdown(&mut m, &d.trained);
    if !has_loss_latency(figures) {
        searches_markdown(&mut m, d);
    }
    for f in figures {
        let _ = writeln!(
            m,
            "## {}\n\n![{}]({})\n\n*{}*\n",
            f.heading, f.heading, f.file, f.caption
        );
        if f.id == LOSS_LATENCY {
            searches_markdown(&mut m, d);
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

/// Every search as in [`searches_html`], in Markdown.
fn searches_markdown(m: &mut String, d: &ReportData) {
    let lead = primary(d).map(|p| p.stage.as_str());
    for s in &d.searches {
        let _ = writeln!(m, "## Top designs of `{}`: within {}\n", s.stage, s.limit);
        if lead != Some(s.stage.as_str()) {
            let (title, body) = headline_text(s, d.binary_sizes);
            let _ = writeln!(m, "> **{title}.** {body}\n");
        }
        if !s.top.is_empty() {
            md_table(
                m,
                &TOP_HEADER,
                s.top.iter().map(|t| top_cells(t, d.binary_sizes)),
            );
        }
        let _ = writeln!(m, "*{}*\n", search_note(s));
    }
    if !d.advice.is_empty() {
        m.push_str("## Closed-form optima (Theorems 5.1–5.3)\n\n");
        md_table(
            m,
            &ADVICE_HEADER,
            d.advice.iter().map(|a| advice_cells(a, d.binary_sizes)),
        );
    }
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
