//! The hardware YAML schema. Walked by hand over a YAML value rather than
//! derived, so every error names the field path and what was expected.
use std::collections::BTreeMap;

use rooflaw_dsl::units;
use yaml_serde::{Mapping, Value};

use super::{
    DEFAULT_EFFICIENCY_COMPUTE, DEFAULT_EFFICIENCY_MEMORY, DEFAULT_LAUNCH, FieldKind, Hardware,
    HardwareError, HardwarePreset, HardwareSources, MemoryTechnology, Source, peak_dtype,
};

const TOP_KEYS: &[&str] = &[
    "id",
    "name",
    "peak",
    "bandwidth",
    "memory",
    "efficiency",
    "launch",
    "memory_technology",
];
const SOURCED_KEYS: &[&str] = &["value", "source", "derived", "note"];

fn err(path: &str, message: impl Into<String>) -> HardwareError {
    HardwareError::Field {
        path: path.to_string(),
        message: message.into(),
    }
}

// One walk over the schema, field by field, in the order the file is read.
#[allow(clippy::too_many_lines)]
pub(super) fn parse(text: &str) -> Result<HardwarePreset, HardwareError> {
    let doc: Value = yaml_serde::from_str(text).map_err(|e| HardwareError::Yaml(e.to_string()))?;
    let top = mapping(&doc, "(document)")?;
    check_keys(top, "", TOP_KEYS)?;

    let id = string(top.get("id"), "id")?.ok_or_else(|| err("id", "missing"))?;
    let name = string(top.get("name"), "name")?.unwrap_or_else(|| id.clone());
    let mut sources = HardwareSources::default();

    let mut peak = BTreeMap::new();
    let peaks = top.get("peak").ok_or_else(|| {
        err(
            "peak",
            "missing: give at least one datatype, e.g. `fp16: 42.5 TFLOPS`",
        )
    })?;
    for (k, v) in mapping(peaks, "peak")? {
        let key = k
            .as_str()
            .ok_or_else(|| err("peak", "datatype names must be strings"))?;
        let path = format!("peak.{key}");
        let dtype = peak_dtype(key).map_err(|m| err(&path, m))?;
        let (value, source) = field(v, &path, FieldKind::Peak)?;
        if let Some(d) = dtype {
            peak.insert(d, value);
            if let Some(s) = source {
                sources.peak.insert(d, s);
            }
        }
    }
    if peak.is_empty() {
        return Err(err(
            "peak",
            "no usable datatype: give at least one of fp32, tf32, bf16, fp16, fp8, int8, int4",
        ));
    }

    let required = |key: &str, kind| match top.get(key) {
        Some(v) => field(v, key, kind),
        None => Err(err(key, "missing")),
    };
    let (bandwidth, s) = required("bandwidth", FieldKind::Bandwidth)?;
    sources.bandwidth = s;
    let (memory, s) = required("memory", FieldKind::Memory)?;
    sources.memory = s;

    let eff = top
        .get("efficiency")
        .map(|v| mapping(v, "efficiency"))
        .transpose()?;
    if let Some(eff) = eff {
        check_keys(eff, "efficiency.", &["compute", "memory", "vector"])?;
    }
    let optional = |v: Option<&Value>, path: &str, kind, default: f64| {
        v.map_or(Ok((default, None)), |v| field(v, path, kind))
    };
    let (efficiency_compute, s) = optional(
        eff.and_then(|e| e.get("compute")),
        "efficiency.compute",
        FieldKind::Efficiency,
        DEFAULT_EFFICIENCY_COMPUTE,
    )?;
    sources.efficiency_compute = s;
    let (efficiency_memory, s) = optional(
        eff.and_then(|e| e.get("memory")),
        "efficiency.memory",
        FieldKind::Efficiency,
        DEFAULT_EFFICIENCY_MEMORY,
    )?;
    sources.efficiency_memory = s;
    let (efficiency_vector, s) = match eff.and_then(|e| e.get("vector")) {
        Some(v) => {
            let (v, s) = field(v, "efficiency.vector", FieldKind::Efficiency)?;
            (Some(v), s)
        }
        None => (None, None),
    };
    sources.efficiency_vector = s;
    let (launch, s) = optional(
        top.get("launch"),
        "launch",
        FieldKind::Launch,
        DEFAULT_LAUNCH,
    )?;
    sources.launch = s;
    let (memory_technology, s) = match top.get("memory_technology") {
        None => (None, None),
        Some(v) => {
            let (tech, s) = technology(v)?;
            (Some(tech), s)
        }
    };
    sources.memory_technology = s;

    let hardware = Hardware {
        id,
        name,
        peak,
        bandwidth,
        memory,
        efficiency_compute,
        efficiency_memory,
        efficiency_vector,
        launch,
        memory_technology,
    };
    Ok(HardwarePreset { hardware, sources })
}

/// `memory_technology`, bare (`lpddr5`) or with its source.
fn technology(v: &Value) -> Result<(MemoryTechnology, Option<Source>), HardwareError> {
    const PATH: &str = "memory_technology";
    fn parse(v: &Value, path: &str) -> Result<MemoryTechnology, HardwareError> {
        let text = string(Some(v), path)?.unwrap_or_default();
        MemoryTechnology::parse(&text).ok_or_else(|| {
            let names: Vec<&str> = MemoryTechnology::ALL.iter().map(|m| m.name()).collect();
            err(
                path,
                format!(
                    "unknown memory technology `{text}`; expected one of {}",
                    names.join(", ")
                ),
            )
        })
    }
    let Value::Mapping(m) = v else {
        return Ok((parse(v, PATH)?, None));
    };
    check_keys(m, "memory_technology.", SOURCED_KEYS)?;
    let value = m
        .get("value")
        .ok_or_else(|| err(PATH, "a sourced value needs `value`"))?;
    let tech = parse(value, "memory_technology.value")?;
    let source = string(m.get("source"), "memory_technology.source")?
        .ok_or_else(|| err(PATH, "a value written as a mapping needs `source`"))?;
    let derived = matches!(m.get("derived"), Some(Value::Bool(true)));
    let note = string(m.get("note"), "memory_technology.note")?;
    Ok((
        tech,
        Some(Source {
            source,
            derived,
            note,
        }),
    ))
}

fn mapping<'a>(v: &'a Value, path: &str) -> Result<&'a Mapping, HardwareError> {
    v.as_mapping()
        .ok_or_else(|| err(path, "expected a mapping of keys to values"))
}

fn check_keys(m: &Mapping, prefix: &str, allowed: &[&str]) -> Result<(), HardwareError> {
    for k in m.keys() {
        let Some(k) = k.as_str() else {
            return Err(err(prefix.trim_end_matches('.'), "keys must be strings"));
        };
        if !allowed.contains(&k) {
            let hint = rooflaw_dsl::did_you_mean(k, allowed.iter().copied()).map_or_else(
                || format!("expected one of {}", allowed.join(", ")),
                |s| format!("did you mean `{s}`?"),
            );
            return Err(err(
                &format!("{prefix}{k}"),
                format!("unknown field; {hint}"),
            ));
        }
    }
    Ok(())
}

fn string(v: Option<&Value>, path: &str) -> Result<Option<String>, HardwareError> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(err(path, "expected a string")),
    }
}

/// One numeric field, bare or with its source.
fn field(v: &Value, path: &str, kind: FieldKind) -> Result<(f64, Option<Source>), HardwareError> {
    let Value::Mapping(m) = v else {
        return Ok((amount(v, path, kind)?, None));
    };
    check_keys(m, &format!("{path}."), SOURCED_KEYS)?;
    let value = m
        .get("value")
        .ok_or_else(|| err(path, "a sourced value needs `value`"))?;
    let value = amount(value, &format!("{path}.value"), kind)?;
    let source = string(m.get("source"), &format!("{path}.source"))?
        .ok_or_else(|| err(path, "a value written as a mapping needs `source`"))?;
    let derived = match m.get("derived") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(err(&format!("{path}.derived"), "expected true or false")),
    };
    let note = string(m.get("note"), &format!("{path}.note"))?;
    Ok((
        value,
        Some(Source {
            source,
            derived,
            note,
        }),
    ))
}

/// A number in SI units, or a string with a unit the language knows
/// (`204.8 GB/s`, `5 us`); checked against the field's dimension and range.
fn amount(v: &Value, path: &str, kind: FieldKind) -> Result<f64, HardwareError> {
    let dim = kind.dim();
    let value = match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| err(path, "not a representable number"))?,
        Value::String(s) => {
            let s = s.trim();
            let split = s.find(|c: char| c.is_whitespace()).unwrap_or(s.len());
            let (num, unit) = (s[..split].trim(), s[split..].trim());
            let num: f64 = num.parse().map_err(|_| {
                err(
                    path,
                    format!(
                        "expected a number with a unit ({}), got `{s}`",
                        dim.example_units()
                    ),
                )
            })?;
            if unit.is_empty() {
                num
            } else {
                let u = units::unit(unit).ok_or_else(|| {
                    err(
                        path,
                        format!("unknown unit `{unit}`; expected {}", dim.example_units()),
                    )
                })?;
                if u.dim != dim {
                    return Err(err(
                        path,
                        format!(
                            "`{unit}` is {}, but this field is {}",
                            u.dim.describe(),
                            dim.describe()
                        ),
                    ));
                }
                num * u.factor
            }
        }
        _ => {
            return Err(err(
                path,
                format!(
                    "expected a number or a quantity with a unit ({})",
                    dim.example_units()
                ),
            ));
        }
    };
    kind.check(value).map_err(|m| err(path, m))?;
    Ok(value)
}
