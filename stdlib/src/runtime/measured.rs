//! Measurements a runtime profile is calibrated from, as people have them:
//! llama-bench's own output (`-o json`, `-o jsonl`, `-o csv`; fields as
//! `tools/llama-bench/llama-bench.cpp` prints them) and a plain table
//! (`device, model, format, runtime, phase, prompt, generate, context,
//! value, unit`).
use std::path::Path;

use serde_json::Value;

use super::BandPhase;

/// One measured phase.
#[derive(Clone, Debug, PartialEq)]
pub struct Measurement {
    /// Where in the file (1-based record number).
    pub record: usize,
    pub device: Option<String>,
    /// A model preset id or config path, where the file names one.
    pub model: Option<String>,
    /// llama-bench's parameter count, to find the model by.
    pub n_params: Option<u64>,
    /// The storage format as the runtime names it (`q4_k_m`, `f16`).
    pub format: Option<String>,
    pub runtime: Option<String>,
    pub phase: BandPhase,
    pub prompt: u32,
    pub generate: u32,
    /// Tokens already in the cache (llama-bench `n_depth`).
    pub context: u32,
    /// Seconds: the whole prompt, or one generated token.
    pub seconds: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum MeasuredError {
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("{path}: record {record}: {message}")]
    Record {
        path: String,
        record: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

/// The format name in llama-bench's `model_type` (`qwen2 7B Q4_K - Medium`
/// → `q4_k_m`, `llama 7B mostly Q4_0` → `q4_0`, `llama 8B F16` → `f16`).
pub fn llama_bench_format(model_type: &str) -> Option<String> {
    let words: Vec<&str> = model_type.split_whitespace().collect();
    // The size token (`7B`, `135M`, `8x7B`) ends the architecture part.
    let size = words.iter().position(|w| {
        w.ends_with(['B', 'M']) && w.chars().next().is_some_and(|c| c.is_ascii_digit())
    })?;
    let rest: Vec<&str> = words[size + 1..]
        .iter()
        .copied()
        .filter(|w| *w != "mostly" && *w != "all")
        .collect();
    let (base, size_word) = match rest.iter().position(|w| *w == "-") {
        Some(i) => (rest[..i].join("_"), rest[i + 1..].join(" ")),
        None => (rest.join("_"), String::new()),
    };
    if base.is_empty() {
        return None;
    }
    let suffix = match size_word.to_ascii_lowercase().as_str() {
        "" => "",
        "medium" => "_m",
        "small" => "_s",
        "large" => "_l",
        "extra small" => "_xs",
        "extra extra small" => "_xxs",
        other => {
            return Some(format!(
                "{}_{}",
                base.to_ascii_lowercase(),
                other.replace(' ', "_")
            ));
        }
    };
    Some(format!("{}{suffix}", base.to_ascii_lowercase()))
}

/// Read measurements from `path`: llama-bench JSON (an array), JSONL, or
/// CSV (llama-bench's columns, or the plain table's).
pub fn read(path: &Path) -> Result<Vec<Measurement>, MeasuredError> {
    let text =
        rooflaw_cache::files::read_text(path, rooflaw_cache::files::INPUT_LIMIT).map_err(|e| {
            MeasuredError::Io {
                path: path.display().to_string(),
                message: e.to_string(),
            }
        })?;
    let p = path.display().to_string();
    let trimmed = text.trim_start();
    let records: Vec<Value> = if trimmed.starts_with('[') {
        serde_json::from_str(trimmed).map_err(|e| MeasuredError::File {
            path: p.clone(),
            message: format!("not llama-bench JSON: {e}"),
        })?
    } else if trimmed.starts_with('{') {
        trimmed
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l).map_err(|e| MeasuredError::Record {
                    path: p.clone(),
                    record: i + 1,
                    message: format!("not a JSON line: {e}"),
                })
            })
            .collect::<Result<_, _>>()?
    } else {
        csv_records(&text, &p)?
    };
    if records.is_empty() {
        return Err(MeasuredError::File {
            path: p,
            message: "no measurements".into(),
        });
    }
    records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            record(r).map_err(|message| MeasuredError::Record {
                path: p.clone(),
                record: i + 1,
                message,
            })
        })
        .collect()
}

/// CSV rows as JSON objects of strings (llama-bench quotes every field).
fn csv_records(text: &str, path: &str) -> Result<Vec<Value>, MeasuredError> {
    let mut rd = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = rd
        .headers()
        .map_err(|e| MeasuredError::File {
            path: path.into(),
            message: e.to_string(),
        })?
        .clone();
    let mut out = Vec::new();
    for (i, row) in rd.records().enumerate() {
        let row = row.map_err(|e| MeasuredError::Record {
            path: path.into(),
            record: i + 1,
            message: e.to_string(),
        })?;
        let obj: serde_json::Map<String, Value> = headers
            .iter()
            .zip(row.iter())
            .map(|(h, v)| (h.to_string(), Value::String(v.to_string())))
            .collect();
        out.push(Value::Object(obj));
    }
    Ok(out)
}

fn num(r: &Value, key: &str) -> Result<Option<f64>, String> {
    match r.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| format!("`{key}` is not a number: `{s}`")),
        Some(v) => Err(format!("`{key}` is not a number: {v}")),
    }
}

fn text(r: &Value, key: &str) -> Option<String> {
    match r.get(key)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

fn tokens(r: &Value, key: &str) -> Result<u32, String> {
    match num(r, key)? {
        None => Ok(0),
        Some(v) if v >= 0.0 && v.fract() == 0.0 && v <= f64::from(u32::MAX) => Ok(v as u32),
        Some(v) => Err(format!("`{key}` must be a whole number of tokens, got {v}")),
    }
}

fn record(r: &Value) -> Result<Measurement, String> {
    if r.get("avg_ns").is_some() {
        llama_bench(r)
    } else if r.get("value").is_some() {
        table(r)
    } else {
        Err("neither a llama-bench record (avg_ns) nor a table row (value, unit)".into())
    }
}

fn llama_bench(r: &Value) -> Result<Measurement, String> {
    let avg_ns = num(r, "avg_ns")?.ok_or("`avg_ns` is missing")?;
    if avg_ns.is_nan() || avg_ns <= 0.0 {
        return Err(format!("`avg_ns` must be positive, got {avg_ns}"));
    }
    let (prompt, generate) = (tokens(r, "n_prompt")?, tokens(r, "n_gen")?);
    let (phase, seconds) = match (prompt, generate) {
        (p, 0) if p > 0 => (BandPhase::Prefill, avg_ns / 1e9),
        (0, g) if g > 0 => (BandPhase::Decode, avg_ns / 1e9 / f64::from(g)),
        (p, g) => {
            return Err(format!(
                "n_prompt {p} and n_gen {g}: only prompt-only (ppN) and generate-only (tgN) tests separate the phases"
            ));
        }
    };
    let model_type = text(r, "model_type");
    Ok(Measurement {
        record: 0,
        device: text(r, "gpu_info").or_else(|| text(r, "cpu_info")),
        model: None,
        n_params: num(r, "model_n_params")?.map(|n| n as u64),
        format: model_type.as_deref().and_then(llama_bench_format),
        runtime: Some("llama.cpp".into()),
        phase,
        prompt,
        generate,
        context: tokens(r, "n_depth")?,
        seconds,
    })
}

fn table(r: &Value) -> Result<Measurement, String> {
    let value = num(r, "value")?.ok_or("`value` is missing")?;
    if !(value > 0.0 && value.is_finite()) {
        return Err(format!("`value` must be positive, got {value}"));
    }
    let unit = text(r, "unit").ok_or("`unit` is missing (ms, s, ms/token, t/s)")?;
    let phase = match text(r, "phase").as_deref() {
        Some("prefill" | "ttft") => BandPhase::Prefill,
        Some("decode") => BandPhase::Decode,
        other => return Err(format!("`phase` is prefill, ttft or decode, got {other:?}")),
    };
    let (prompt, generate) = (tokens(r, "prompt")?, tokens(r, "generate")?);
    let seconds = match (phase, unit.as_str()) {
        (_, "s") => value,
        (_, "ms" | "ms/token") => value / 1e3,
        (BandPhase::Prefill, "t/s" | "tokens/s") if prompt > 0 => f64::from(prompt) / value,
        (BandPhase::Decode, "t/s" | "tokens/s") => 1.0 / value,
        (_, u) => {
            return Err(format!(
                "unit `{u}` does not fit phase {} (prefill t/s needs `prompt`)",
                phase.name()
            ));
        }
    };
    if phase == BandPhase::Prefill && prompt == 0 {
        return Err("a prefill row needs `prompt` > 0".into());
    }
    Ok(Measurement {
        record: 0,
        device: text(r, "device"),
        model: text(r, "model"),
        n_params: None,
        format: text(r, "format"),
        runtime: text(r, "runtime"),
        phase,
        prompt,
        generate,
        context: tokens(r, "context")?,
        seconds,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llama_bench_model_types_name_their_format() {
        for (t, f) in [
            ("qwen2 7B Q4_K - Medium", "q4_k_m"),
            ("llama 7B mostly Q4_0", "q4_0"),
            ("llama 8B F16", "f16"),
            ("llama 70B Q8_0", "q8_0"),
            ("llama 8B IQ4_XS - 4.25 bpw", "iq4_xs_4.25_bpw"),
            ("llama 8B Q3_K - Small", "q3_k_s"),
        ] {
            assert_eq!(llama_bench_format(t).as_deref(), Some(f), "{t}");
        }
        assert_eq!(llama_bench_format("nonsense"), None);
    }
}
