//! Several models, chips and precisions in one `rooflaw roofline` call: one
//! table, one CSV, one row per combination, with what each row describes
//! first.
use std::fmt::Write as _;

use rooflaw_stdlib::roofline::Summary;
use rooflaw_stdlib::{Hardware, Workload};
use serde_json::Value;

/// One combination: the model's name, the chip, the workload (with its
/// precision), and the roofline's figures.
pub(super) type Row = (String, Hardware, Workload, Summary);

/// The columns that say what a row is, before the figures.
const CONTEXT: [&str; 8] = [
    "model",
    "hardware",
    "precision",
    "batch",
    "prompt",
    "generate",
    "attention",
    "runtime",
];

/// The error band columns after the figures, as the JSON names them.
const BANDS: [&str; 7] = [
    "prefill_ms_lo",
    "prefill_ms_hi",
    "decode_ms_per_token_lo",
    "decode_ms_per_token_hi",
    "total_ms_lo",
    "total_ms_hi",
    "band_calibrated",
];

fn bands(row: &Row) -> [String; 7] {
    let (_, hw, wl, s) = row;
    let r = rooflaw_stdlib::runtime::Ranges::new(&wl.runtime, hw, s);
    let ms = |x: f64| (x * 1e3).to_string();
    [
        ms(r.prefill_s.0),
        ms(r.prefill_s.1),
        ms(r.decode_per_token_s.0),
        ms(r.decode_per_token_s.1),
        ms(r.total_s.0),
        ms(r.total_s.1),
        r.calibrated().to_string(),
    ]
}

fn context(row: &Row) -> [String; 8] {
    let (model, hw, wl, _) = row;
    let attention = serde_json::to_value(wl.attention)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    [
        model.clone(),
        hw.id.clone(),
        wl.precision.label(),
        wl.batch.to_string(),
        wl.prompt.to_string(),
        wl.generate.to_string(),
        attention,
        wl.runtime.id.clone(),
    ]
}

/// A CSV cell: quoted when it holds a comma, a quote or a line break.
fn cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The context columns, every figure of the summary, then its error bands.
pub(super) fn csv(rows: &[Row]) -> String {
    let mut out = String::new();
    let figures = |s: &Summary| match serde_json::to_value(s) {
        Ok(Value::Object(m)) => m,
        _ => serde_json::Map::new(),
    };
    let Some(first) = rows.first() else {
        return out;
    };
    let names = figures(&first.3);
    let header: Vec<&str> = CONTEXT
        .iter()
        .copied()
        .chain(names.keys().map(String::as_str))
        .chain(BANDS)
        .collect();
    let _ = writeln!(out, "{}", header.join(","));
    for row in rows {
        let values = figures(&row.3)
            .into_iter()
            .map(|(_, x)| x.as_str().map_or_else(|| x.to_string(), str::to_owned));
        let line: Vec<String> = context(row)
            .into_iter()
            .chain(values)
            .chain(bands(row))
            .map(|v| cell(&v))
            .collect();
        let _ = writeln!(out, "{}", line.join(","));
    }
    out
}

/// One aligned table: a line per combination.
pub(super) fn text(rows: &[Row]) -> String {
    let header = [
        "model",
        "hardware",
        "precision",
        "prefill ms",
        "decode ms/tok",
        "total ms",
        "tokens/s",
        "memory GB",
        "fits",
    ];
    let body: Vec<[String; 9]> = rows
        .iter()
        .map(|(model, hw, wl, s)| {
            [
                model.clone(),
                hw.id.clone(),
                wl.precision.label(),
                format!("{:.3}", s.prefill * 1e3),
                format!("{:.3}", s.decode_per_token * 1e3),
                format!("{:.3}", s.total * 1e3),
                format!("{:.1}", s.tokens_per_s),
                format!("{:.2}", s.memory_bytes / 1e9),
                if s.fits_memory { "yes" } else { "NO" }.to_owned(),
            ]
        })
        .collect();
    let width: Vec<usize> = (0..header.len())
        .map(|c| {
            body.iter()
                .map(|r| r[c].chars().count())
                .chain([header[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(c, v)| {
                let w = width[c];
                // Names read left-aligned, figures right-aligned.
                if c < 3 {
                    format!("{v:<w$}")
                } else {
                    format!("{v:>w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(header.to_vec());
    for r in &body {
        line(r.iter().map(String::as_str).collect());
    }
    let _ = writeln!(
        out,
        "\nbatch {}, prompt {}, generate {}",
        rows.first().map_or(0, |r| r.2.batch),
        rows.first().map_or(0, |r| r.2.prompt),
        rows.first().map_or(0, |r| r.2.generate)
    );
    out
}
