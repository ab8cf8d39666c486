//! Measured runs as fit points, for `rooflaw fit` and the pipeline's
//! `measurements`/`fit` alike: a table needs only the columns its form reads
//! (or the architecture columns they are computed from, with the search
//! space's defaults for the rest), a missing column is reported together
//! with every other missing one, and rows are named by their line in the
//! file.
use std::fmt::Write as _;
use std::path::Path;

use rooflaw_engine::{Column, Table};

use super::Point;
use crate::arch::Architecture;
use crate::law::{Form, Var, Vars};

/// The column `read_csv` adds: each row's line in the file.
pub const LINE: &str = "line";

/// Architecture columns that law variables other than `tokens` can be
/// computed from when the table lacks them; every other architecture column
/// has a default.
pub const ARCH_REQUIRED: [&str; 3] = ["layers", "width", "ffn"];

/// The fraction of runs held out for validation by default, in `rooflaw
/// fit` and the pipeline's `fit` alike.
pub const HOLDOUT: f64 = 0.2;

/// Bootstrap resamples for the 95% intervals by default, in both.
pub const BOOTSTRAP: usize = 200;

/// The columns each preset form reads, for help texts.
pub fn columns(form: &Form) -> String {
    let mut names: Vec<&str> = form.vars().iter().map(|v| v.name()).collect();
    names.push("loss");
    names.join(", ")
}

/// A CSV file of runs as a table with a [`LINE`] column. The delimiter is
/// the header line's most frequent of `,` `;` tab `|`; a column whose every
/// cell parses as a number is `F64`, any other `Str`.
pub fn read_csv(path: &Path) -> Result<Table, String> {
    let bytes = rooflaw_cache::files::read_input(path, rooflaw_cache::files::INPUT_LIMIT)
        .map_err(|e| e.to_string())?;
    parse_csv(path, bytes)
}

/// [`read_csv`] of bytes already read (bounded, BOM dropped, UTF-8 checked).
pub fn parse_csv(path: &Path, bytes: Vec<u8>) -> Result<Table, String> {
    let text = rooflaw_cache::files::text_from_bytes(path, bytes).map_err(|e| e.to_string())?;
    let delimiter = detect_delimiter(text.lines().next().unwrap_or(""));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| format!("{}: {e}", path.display()))?
        .iter()
        .map(String::from)
        .collect();
    for (i, h) in headers.iter().enumerate() {
        if headers[..i].contains(h) {
            return Err(format!(
                "{}: column `{h}` appears twice in the header; which one is meant is ambiguous",
                path.display()
            ));
        }
    }
    let mut cells: Vec<Vec<String>> = vec![Vec::new(); headers.len()];
    let mut lines = Vec::new();
    for rec in reader.records() {
        // A record's position is where the reader resumed, before any blank
        // lines it skipped (and its line count leaves them out): count the
        // newlines up to the record's first character instead.
        let line_at = |p: &csv::Position| {
            let from = (p.byte() as usize).min(text.len());
            let rest = &text[from..];
            let start = from + rest.len() - rest.trim_start_matches(['\r', '\n']).len();
            text[..start].matches('\n').count() + 1
        };
        let rec = rec.map_err(|e| match e.position() {
            Some(p) => format!("{} line {}: {e}", path.display(), line_at(p)),
            None => format!("{}: {e}", path.display()),
        })?;
        lines.push(rec.position().map_or(0.0, |p| line_at(p) as f64));
        for (col, v) in cells.iter_mut().zip(rec.iter()) {
            col.push(v.to_string());
        }
    }
    let mut t = Table::new();
    for (name, col) in headers.into_iter().zip(cells) {
        let nums: Option<Vec<f64>> = col.iter().map(|s| s.parse().ok()).collect();
        t.push(name, nums.map_or(Column::Str(col), Column::F64));
    }
    if t.column(LINE).is_none() {
        t.push(LINE, Column::F64(lines));
    }
    Ok(t)
}

fn detect_delimiter(header: &str) -> u8 {
    let count = |d: char| header.chars().filter(|&c| c == d).count();
    [b',', b';', b'\t', b'|']
        .into_iter()
        .max_by_key(|&d| (count(char::from(d)), d == b','))
        .unwrap_or(b',')
}

/// How row `i` is named in errors: its line in the file, or its position.
fn row_name(t: &Table, i: usize) -> String {
    match t.column(LINE) {
        Some(c) if c.f64_at(i) > 0.0 => format!("line {}", c.f64_at(i)),
        _ => format!("run {}", i + 1),
    }
}

/// Every column the form needs that `t` lacks, in one message.
pub(crate) fn missing(t: &Table, form: &Form, source: &str) -> Option<String> {
    let has = |name: &str| t.column(name).is_some();
    let mut absent: Vec<&str> = Vec::new();
    if !has("loss") && !has("val_loss") {
        absent.push("loss");
    }
    let vars = form.vars();
    let lacking: Vec<Var> = vars.iter().copied().filter(|v| !has(v.name())).collect();
    let computable: Vec<Var> = lacking
        .iter()
        .copied()
        .filter(|&v| v != Var::Tokens)
        .collect();
    let arch_absent: Vec<&str> = ARCH_REQUIRED.into_iter().filter(|c| !has(c)).collect();
    if lacking.contains(&Var::Tokens) {
        absent.push("tokens");
    }
    if !computable.is_empty() && !arch_absent.is_empty() {
        absent.extend(computable.iter().map(|v| v.name()));
    }
    if absent.is_empty() {
        return None;
    }
    let quoted = |names: &[&str]| {
        names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut msg = format!(
        "{source}: the {} form reads columns {}; missing {}",
        form.name(),
        columns(form),
        quoted(&absent)
    );
    if !computable.is_empty() && !arch_absent.is_empty() {
        let names: Vec<&str> = computable.iter().map(|v| v.name()).collect();
        let _ = write!(
            msg,
            "; or give the architecture columns {} (missing {}) to compute {} from, \
             the other architecture columns defaulting as in a search space",
            ARCH_REQUIRED.join(", "),
            quoted(&arch_absent),
            quoted(&names)
        );
    }
    Some(msg)
}

/// Row `i` of column `name`, where the table has it; a cell that is not a
/// number is an error naming it.
fn cell(t: &Table, name: &str, i: usize) -> Result<Option<f64>, String> {
    match (t.column(name), t.strs(name)) {
        (None, _) => Ok(None),
        (Some(_), Some(text)) => text[i]
            .parse()
            .map(Some)
            .map_err(|_| format!("column `{name}`: `{}` is not a number", text[i])),
        (Some(c), None) => Ok(Some(c.f64_at(i))),
    }
}

/// The architecture in row `i` from the architecture columns, with the
/// search space's defaults for the optional ones.
fn arch_at(t: &Table, i: usize) -> Result<Architecture, String> {
    let whole = |name: &str, default: Option<f64>| -> Result<u32, String> {
        let x = cell(t, name, i)?.or(default).unwrap_or(f64::NAN);
        if x.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&x) {
            Ok(x as u32)
        } else {
            Err(format!("`{name}` must be a whole number, got {x}"))
        }
    };
    let layers = whole("layers", None)?;
    let width = whole("width", None)?;
    let ffn = whole("ffn", None)?;
    let heads = whole("heads", Some((f64::from(width) / 64.0).floor().max(1.0)))?;
    let kv_heads = whole("kv_heads", Some(f64::from(heads)))?;
    let head_dim = whole("head_dim", Some(f64::from(width / heads.max(1))))?;
    let shared_experts = whole("shared_experts", Some(0.0))?;
    let shared_ffn = if shared_experts > 0 { ffn } else { 0 };
    let arch = Architecture {
        head_dim,
        gated: whole("gated", Some(1.0))? != 0,
        experts: whole("experts", Some(1.0))?,
        top_k: whole("top_k", Some(1.0))?,
        shared_experts,
        shared_ffn: whole("shared_ffn", Some(f64::from(shared_ffn)))?,
        vocab: whole("vocab", Some(32_000.0))?,
        tied_embeddings: whole("tied", Some(0.0))? != 0,
        qkv_bias: whole("qkv_bias", Some(0.0))? != 0,
        qk_norm: whole("qk_norm", Some(1.0))? != 0,
        ..Architecture::dense(layers, width, heads, kv_heads, ffn)
    };
    // A row the rest of rooflaw would refuse (zero heads, 6 heads over 4 KV
    // heads) must not reach the law as a number computed from it.
    arch.validate().map_err(|e| e.to_string())?;
    Ok(arch)
}

/// One fit point per row: columns named after a law variable win; the
/// form's other variables (all but `tokens`) are computed from the
/// architecture columns. `source` names the table in errors (a file path).
pub fn points(t: &Table, form: &Form, source: &str) -> Result<Vec<Point>, String> {
    if let Some(msg) = missing(t, form, source) {
        return Err(msg);
    }
    if t.rows() == 0 {
        return Err(format!("{source}: no runs (no data rows)"));
    }
    let loss = if t.column("val_loss").is_some() {
        "val_loss"
    } else {
        "loss"
    };
    let from_arch = form.vars().iter().any(|v| t.column(v.name()).is_none());
    let law = format!("fit:{}", form.name());
    (0..t.rows())
        .map(|i| {
            let at = |e: String| format!("{source} {}: {e}", row_name(t, i));
            let tokens = cell(t, "tokens", i).map_err(at)?;
            let mut vars = if from_arch {
                Vars::of(&arch_at(t, i).map_err(at)?, tokens)
            } else {
                Vars::new()
            };
            for var in Var::ALL {
                if let Some(x) = cell(t, var.name(), i).map_err(at)? {
                    vars.set(var, x);
                }
            }
            form.check_vars(&law, &vars)
                .map_err(|e| at(e.to_string()))?;
            let loss = cell(t, loss, i).map_err(at)?.unwrap_or(f64::NAN);
            if !(loss > 0.0 && loss.is_finite()) {
                return Err(at(format!("loss must be a positive number, got {loss}")));
            }
            Ok(Point { vars, loss })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(csv: &str) -> Table {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runs.csv");
        std::fs::write(&path, csv).unwrap();
        read_csv(&path).unwrap()
    }

    #[test]
    fn chinchilla_needs_only_params_tokens_and_loss() {
        let t = table("params,tokens,loss,layers,heads\n1e6,2e7,3.1,4,4\n2e6,4e7,2.9,4,4\n");
        let p = points(&t, &Form::Chinchilla, "runs.csv").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[1].vars.get(Var::Params), Some(2e6));
    }

    #[test]
    fn every_missing_column_is_named_at_once_with_the_file_and_form() {
        let t = table("layers,heads,loss\n4,4,3.1\n");
        let err = points(&t, &Form::Chinchilla, "runs.csv").unwrap_err();
        assert!(
            err.starts_with(
                "runs.csv: the chinchilla form reads columns params, tokens, loss; \
                 missing `tokens`, `params`; or give the architecture columns layers, \
                 width, ffn (missing `width`, `ffn`) to compute `params` from"
            ),
            "{err}"
        );
        let err = points(&table("a\n1\n"), &Form::Sun2026, "r.csv").unwrap_err();
        assert!(
            err.contains("missing `loss`, `layers`, `width`, `ffn_ratio`, `rho`, `kv_dim`"),
            "{err}"
        );
    }

    #[test]
    fn architecture_columns_stand_in_with_defaults() {
        let t = table("layers,width,ffn,tokens,loss\n4,256,1024,1e7,3.0\n");
        let p = points(&t, &Form::Sun2026, "runs.csv").unwrap();
        let arch = Architecture::dense(4, 256, 4, 4, 1024);
        assert_eq!(p[0].vars.get(Var::KvDim), Some(arch.kv_dim() as f64));
        assert_eq!(p[0].vars.get(Var::FfnRatio), Some(4.0));
    }

    #[test]
    fn an_architecture_rooflaw_would_refuse_is_an_error_naming_its_row() {
        let t = table(
            "layers,width,heads,kv_heads,ffn,tokens,loss\n4,256,4,4,1024,1e7,3.0\n4,256,6,4,1024,1e7,3.0\n",
        );
        let err = points(&t, &Form::Sun2026, "runs.csv").unwrap_err();
        assert_eq!(
            err,
            "runs.csv line 3: heads (6) must be a multiple of kv_heads (4)"
        );
    }

    #[test]
    fn semicolons_and_tabs_are_detected_and_rows_are_file_lines() {
        let t = table("params;tokens;loss\n1e6;2e7;3.1\n\n2e6;4e7;-1\n");
        let err = points(&t, &Form::Chinchilla, "runs.csv").unwrap_err();
        assert_eq!(
            err,
            "runs.csv line 4: loss must be a positive number, got -1"
        );
        let t = table("params\ttokens\tloss\n1e6\t2e7\t3.1\n");
        assert_eq!(points(&t, &Form::Chinchilla, "t.csv").unwrap().len(), 1);
        let t = table("params,tokens,loss\n1e6,2e7,3.1\n1e6,lots,3.1\n");
        let err = points(&t, &Form::Chinchilla, "t.csv").unwrap_err();
        assert_eq!(err, "t.csv line 3: column `tokens`: `lots` is not a number");
    }
}
