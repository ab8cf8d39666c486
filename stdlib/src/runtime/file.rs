//! The runtime YAML schema, shared by the presets and the profiles
//! `rooflaw calibrate` writes. Every figure is a bare value or
//! `{value, source, derived, note}`, as in the hardware presets.
use std::collections::BTreeMap;
use std::path::Path;

use rooflaw_dsl::{Dim, units};
use serde::{Deserialize, Serialize};

use super::{Bands, ByClass, Efficiency, LaunchModel, Runtime, RuntimePreset};
use crate::hardware::{MemoryClass, Source};
use crate::workload::{Attention, Experts};

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("invalid runtime YAML: {0}")]
    Yaml(String),
    #[error("{path}: {message}")]
    Field { path: String, message: String },
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("unknown runtime `{name}`{}", suggestion_suffix(.suggestion.as_deref()))]
    Unknown {
        name: String,
        suggestion: Option<String>,
    },
}

fn suggestion_suffix(s: Option<&str>) -> String {
    s.map_or_else(
        || {
            format!(
                " (runtimes: {}; or a profile .yaml)",
                super::ids().join(", ")
            )
        },
        |s| format!("; did you mean `{s}`?"),
    )
}

impl RuntimeError {
    pub(super) fn in_file(self, path: &Path) -> RuntimeError {
        match self {
            RuntimeError::Yaml(m) => RuntimeError::Yaml(format!("{}: {m}", path.display())),
            RuntimeError::Field { path: f, message } => RuntimeError::Field {
                path: format!("{}: {f}", path.display()),
                message,
            },
            other => other,
        }
    }
}

fn err(path: &str, message: impl Into<String>) -> RuntimeError {
    RuntimeError::Field {
        path: path.to_string(),
        message: message.into(),
    }
}

/// A number, or a string with a unit (`5 us`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Amount {
    Number(f64),
    Text(String),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum Figure<T> {
    Sourced {
        value: T,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        derived: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        note: Option<String>,
    },
    Bare(T),
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default: Option<Figure<Amount>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lpddr: Option<Figure<Amount>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gddr: Option<Figure<Amount>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hbm: Option<Figure<Amount>>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EfficiencyFile {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    memory: Option<ClassFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    compute: Option<ClassFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    vector: Option<ClassFile>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gemm_half_tokens: Option<Figure<Amount>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuntimeFile {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    source: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    formats: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    default_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    launch_model: Option<Figure<LaunchModel>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    launch: Option<Figure<Amount>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    per_token: Option<Figure<Amount>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    attention: Option<Figure<Attention>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    experts: Option<Figure<Experts>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kv_per_query_head: Option<Figure<bool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fp16_accumulate: Option<Figure<bool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    efficiency: Option<EfficiencyFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    bands: Vec<super::Band>,
}

/// How a figure is read: its dimension and range.
#[derive(Clone, Copy)]
enum Kind {
    Fraction,
    Time,
    Tokens,
}

struct Reader {
    sources: BTreeMap<String, Source>,
}

impl Reader {
    fn take<T: Clone>(&mut self, f: &Figure<T>, path: &str) -> T {
        match f {
            Figure::Bare(v) => v.clone(),
            Figure::Sourced {
                value,
                source,
                derived,
                note,
            } => {
                if let Some(s) = source {
                    self.sources.insert(
                        path.to_string(),
                        Source {
                            source: s.clone(),
                            derived: *derived,
                            note: note.clone(),
                        },
                    );
                }
                value.clone()
            }
        }
    }

    fn amount(&mut self, f: &Figure<Amount>, path: &str, kind: Kind) -> Result<f64, RuntimeError> {
        let v = match self.take(f, path) {
            Amount::Number(n) => n,
            Amount::Text(s) => parse_amount(&s, path, kind)?,
        };
        let ok = match kind {
            Kind::Fraction => v > 0.0 && v <= 1.0,
            Kind::Time => v >= 0.0,
            Kind::Tokens => v > 0.0,
        } && v.is_finite();
        if !ok {
            return Err(err(
                path,
                match kind {
                    Kind::Fraction => format!("an efficiency is a fraction in (0, 1], got {v}"),
                    Kind::Time => format!("a time cannot be negative, got {v}"),
                    Kind::Tokens => format!("must be a positive token count, got {v}"),
                },
            ));
        }
        Ok(v)
    }

    fn class(&mut self, c: Option<&ClassFile>, path: &str) -> Result<ByClass, RuntimeError> {
        let mut out = ByClass::default();
        let Some(c) = c else { return Ok(out) };
        let mut one =
            |f: &Option<Figure<Amount>>, key: &str| -> Result<Option<f64>, RuntimeError> {
                f.as_ref()
                    .map(|f| self.amount(f, &format!("{path}.{key}"), Kind::Fraction))
                    .transpose()
            };
        out.default = one(&c.default, "default")?;
        out.lpddr = one(&c.lpddr, "lpddr")?;
        out.gddr = one(&c.gddr, "gddr")?;
        out.hbm = one(&c.hbm, "hbm")?;
        Ok(out)
    }
}

fn parse_amount(s: &str, path: &str, kind: Kind) -> Result<f64, RuntimeError> {
    let s = s.trim();
    let split = s.find(char::is_whitespace).unwrap_or(s.len());
    let (num, unit) = (s[..split].trim(), s[split..].trim());
    let num: f64 = num
        .parse()
        .map_err(|_| err(path, format!("expected a number, got `{s}`")))?;
    if unit.is_empty() {
        return Ok(num);
    }
    let want = match kind {
        Kind::Time => Dim::TIME,
        Kind::Tokens => Dim::TOKENS,
        Kind::Fraction => return Err(err(path, format!("a fraction has no unit, got `{s}`"))),
    };
    match units::unit(unit) {
        Some(u) if u.dim == want => Ok(num * u.factor),
        Some(u) => Err(err(
            path,
            format!(
                "`{unit}` is {}, but this field is {}",
                u.dim.describe(),
                want.describe()
            ),
        )),
        None => Err(err(path, format!("unknown unit `{unit}`"))),
    }
}

/// Parse a runtime preset or profile.
pub fn from_yaml(text: &str) -> Result<RuntimePreset, RuntimeError> {
    let f: RuntimeFile =
        yaml_serde::from_str(text).map_err(|e| RuntimeError::Yaml(e.to_string()))?;
    if f.id.trim().is_empty() {
        return Err(err("id", "must not be empty"));
    }
    let mut r = Reader {
        sources: BTreeMap::new(),
    };
    let eff = f.efficiency.clone().unwrap_or_default();
    let efficiency = Efficiency {
        memory: r.class(eff.memory.as_ref(), "efficiency.memory")?,
        compute: r.class(eff.compute.as_ref(), "efficiency.compute")?,
        vector: r.class(eff.vector.as_ref(), "efficiency.vector")?,
        gemm_half_tokens: eff
            .gemm_half_tokens
            .as_ref()
            .map(|g| r.amount(g, "efficiency.gemm_half_tokens", Kind::Tokens))
            .transpose()?,
    };
    for (i, b) in f.bands.iter().enumerate() {
        if !(b.lo > 0.0 && b.lo <= b.hi && b.hi.is_finite()) {
            return Err(err(
                &format!("bands[{i}]"),
                format!("needs 0 < lo <= hi, got lo {} and hi {}", b.lo, b.hi),
            ));
        }
        if let Some(q) = &b.quantiles
            && !(q[0] > 0.0 && q.windows(2).all(|w| w[0] <= w[1]) && q[q.len() - 1].is_finite())
        {
            return Err(err(
                &format!("bands[{i}].quantiles"),
                "needs positive, finite ratios in increasing order (0%, 5%, …, 100%)",
            ));
        }
    }
    let runtime = Runtime {
        name: f.name.clone().unwrap_or_else(|| f.id.clone()),
        id: f.id.clone(),
        formats: f.formats.clone(),
        default_format: f.default_format.clone(),
        launch_model: f
            .launch_model
            .as_ref()
            .map(|m| r.take(m, "launch_model"))
            .unwrap_or_default(),
        launch: f
            .launch
            .as_ref()
            .map(|l| r.amount(l, "launch", Kind::Time))
            .transpose()?,
        per_token: f
            .per_token
            .as_ref()
            .map(|l| r.amount(l, "per_token", Kind::Time))
            .transpose()?
            .unwrap_or(0.0),
        attention: f.attention.as_ref().map(|a| r.take(a, "attention")),
        experts: f.experts.as_ref().map(|a| r.take(a, "experts")),
        kv_per_query_head: f
            .kv_per_query_head
            .as_ref()
            .is_some_and(|a| r.take(a, "kv_per_query_head")),
        fp16_accumulate: f
            .fp16_accumulate
            .as_ref()
            .is_some_and(|a| r.take(a, "fp16_accumulate")),
        efficiency,
        bands: Bands(f.bands.clone()),
    };
    Ok(RuntimePreset {
        runtime,
        version: f.version,
        source: f.source,
        sources: r.sources,
    })
}

/// The YAML paths of the figures a runtime sets, for source checks.
pub(super) fn figure_paths(rt: &Runtime) -> Vec<String> {
    let mut out = Vec::new();
    let e = &rt.efficiency;
    for (name, c) in [
        ("memory", &e.memory),
        ("compute", &e.compute),
        ("vector", &e.vector),
    ] {
        if c.default.is_some() {
            out.push(format!("efficiency.{name}.default"));
        }
        for class in ByClass::CLASSES {
            if c.class(class).is_some() {
                out.push(format!("efficiency.{name}.{}", class_key(class)));
            }
        }
    }
    if e.gemm_half_tokens.is_some() {
        out.push("efficiency.gemm_half_tokens".into());
    }
    if rt.launch.is_some() {
        out.push("launch".into());
    }
    if rt.per_token > 0.0 {
        out.push("per_token".into());
    }
    if rt.attention.is_some() {
        out.push("attention".into());
    }
    if rt.kv_per_query_head {
        out.push("kv_per_query_head".into());
    }
    if rt.fp16_accumulate {
        out.push("fp16_accumulate".into());
    }
    out
}

fn class_key(c: MemoryClass) -> &'static str {
    match c {
        MemoryClass::Lpddr => "lpddr",
        MemoryClass::Gddr => "gddr",
        MemoryClass::Hbm => "hbm",
    }
}

/// A runtime profile in the schema [`from_yaml`] reads, every figure with
/// its source from `sources` where it has one.
pub fn to_yaml(p: &RuntimePreset) -> String {
    let rt = &p.runtime;
    let fig = |path: &str, v: Amount| sourced(p, path, v);
    let class = |name: &str, c: &ByClass| -> Option<ClassFile> {
        if c.is_empty() {
            return None;
        }
        let one = |key: &str, v: Option<f64>| {
            v.map(|v| fig(&format!("efficiency.{name}.{key}"), Amount::Number(v)))
        };
        Some(ClassFile {
            default: one("default", c.default),
            lpddr: one("lpddr", c.lpddr),
            gddr: one("gddr", c.gddr),
            hbm: one("hbm", c.hbm),
        })
    };
    let e = &rt.efficiency;
    let efficiency = EfficiencyFile {
        memory: class("memory", &e.memory),
        compute: class("compute", &e.compute),
        vector: class("vector", &e.vector),
        gemm_half_tokens: e
            .gemm_half_tokens
            .map(|g| fig("efficiency.gemm_half_tokens", Amount::Number(g))),
    };
    let f = RuntimeFile {
        id: rt.id.clone(),
        name: Some(rt.name.clone()),
        version: p.version.clone(),
        source: p.source.clone(),
        formats: rt.formats.clone(),
        default_format: rt.default_format.clone(),
        launch_model: Some(sourced(p, "launch_model", rt.launch_model)),
        launch: rt.launch.map(|l| fig("launch", Amount::Number(l))),
        per_token: (rt.per_token > 0.0).then(|| fig("per_token", Amount::Number(rt.per_token))),
        attention: rt.attention.map(|a| sourced(p, "attention", a)),
        experts: rt.experts.map(|a| sourced(p, "experts", a)),
        kv_per_query_head: rt
            .kv_per_query_head
            .then(|| sourced(p, "kv_per_query_head", true)),
        fp16_accumulate: rt
            .fp16_accumulate
            .then(|| sourced(p, "fp16_accumulate", true)),
        efficiency: (efficiency != EfficiencyFile::default()).then_some(efficiency),
        bands: rt.bands.0.clone(),
    };
    yaml_serde::to_string(&f).unwrap_or_default()
}

fn sourced<T>(p: &RuntimePreset, path: &str, value: T) -> Figure<T> {
    match p.sources.get(path) {
        Some(s) => Figure::Sourced {
            value,
            source: Some(s.source.clone()),
            derived: s.derived,
            note: s.note.clone(),
        },
        None => Figure::Bare(value),
    }
}
