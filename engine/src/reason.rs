//! Why a stage runs: typed, so `plan` can print it, `--format json` can
//! export it, and root causes are told apart from cascades.
use serde::Serialize;
use serde_json::Value;

/// One changed manifest field, rendered for people.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    /// Dotted path inside the stage's parameters, e.g. `budget.latency.total`.
    pub path: String,
    pub old: Option<String>,
    pub new: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reason {
    /// No earlier run of this stage in this cache.
    NeverRun,
    /// `--force STAGE` or `--force-all`.
    Forced,
    /// `--no-cache`.
    CacheDisabled,
    ParamChanged {
        changes: Vec<FieldChange>,
    },
    /// The stage kind's implementation version changed.
    ImplementationChanged {
        old: u64,
        new: u64,
    },
    /// The stage was redefined as another kind.
    KindChanged {
        old: String,
        new: String,
    },
    EnvironmentChanged {
        changes: Vec<FieldChange>,
    },
    /// An input's content changed since the last run.
    InputChanged {
        inputs: Vec<String>,
    },
    /// The entry exists but its output is gone or failed verification.
    OutputMissing {
        detail: String,
    },
    /// Cascade: an upstream stage will rerun, so this one must wait for its
    /// output (it may still turn out cached if the output is unchanged).
    UpstreamWillRerun {
        stages: Vec<String>,
    },
}

impl Reason {
    /// Root causes are changes to this stage itself; cascades come from upstream.
    pub fn is_root_cause(&self) -> bool {
        !matches!(self, Reason::UpstreamWillRerun { .. })
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::NeverRun => f.write_str("never run"),
            Reason::Forced => f.write_str("forced"),
            Reason::CacheDisabled => f.write_str("cache disabled (--no-cache)"),
            Reason::ParamChanged { changes } => {
                let parts: Vec<String> = changes.iter().map(describe_change).collect();
                write!(f, "{}", parts.join("; "))
            }
            Reason::ImplementationChanged { old, new } => {
                write!(f, "implementation changed (version {old} → {new})")
            }
            Reason::KindChanged { old, new } => {
                write!(f, "stage kind changed from `{old}` to `{new}`")
            }
            Reason::EnvironmentChanged { changes } => {
                let parts: Vec<String> = changes.iter().map(describe_change).collect();
                write!(f, "environment changed: {}", parts.join("; "))
            }
            Reason::InputChanged { inputs } => {
                let q: Vec<String> = inputs.iter().map(|i| format!("`{i}`")).collect();
                write!(f, "input {} changed", q.join(", "))
            }
            Reason::OutputMissing { detail } => write!(f, "output missing or corrupt ({detail})"),
            Reason::UpstreamWillRerun { stages } => {
                let q: Vec<String> = stages.iter().map(|i| format!("`{i}`")).collect();
                write!(f, "upstream {} will rerun", q.join(", "))
            }
        }
    }
}

fn describe_change(c: &FieldChange) -> String {
    match (&c.old, &c.new) {
        (Some(o), Some(n)) => format!("parameter `{}` changed from `{o}` to `{n}`", c.path),
        (None, Some(n)) => format!("parameter `{}` added (`{n}`)", c.path),
        (Some(o), None) => format!("parameter `{}` removed (was `{o}`)", c.path),
        (None, None) => format!("parameter `{}` changed", c.path),
    }
}

/// Compare two JSON trees leaf by leaf, rendering quantities in their units.
pub fn diff_values(prefix: &str, old: &Value, new: &Value, out: &mut Vec<FieldChange>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) if !is_quantity(old) && !is_quantity(new) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                let path = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => diff_values(&path, x, y, out),
                    (x, y) => out.push(FieldChange {
                        path,
                        old: x.map(show),
                        new: y.map(show),
                    }),
                }
            }
        }
        (a, b) if a != b => out.push(FieldChange {
            path: prefix.to_string(),
            old: Some(show(a)),
            new: Some(show(b)),
        }),
        _ => {}
    }
}

fn is_quantity(v: &Value) -> bool {
    v.get("si").is_some() && v.get("dim").is_some()
}

/// A manifest leaf as people read it.
pub fn show(v: &Value) -> String {
    if is_quantity(v)
        && let (Some(si), Some(dim)) = (v["si"].as_f64(), v.get("dim"))
        && let Ok(dim) = serde_json::from_value::<rooflaw_dsl::Dim>(dim.clone())
    {
        let q = rooflaw_dsl::Quantity::new(si, dim).to_string();
        // A bound carries its comparison: `<= 1.5 s`.
        return match v.get("op").and_then(Value::as_str) {
            Some(op) => format!("{op} {q}"),
            None => q,
        };
    }
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n
            .as_f64()
            .map_or_else(|| n.to_string(), rooflaw_dsl::units::fmt_num),
        other => other.to_string(),
    }
}

/// Encode a quantity for a manifest: the SI value is what the key hashes, the
/// dimension lets `plan` print it back in units.
pub fn quantity(q: rooflaw_dsl::Quantity) -> Value {
    serde_json::json!({ "si": q.value, "dim": q.dim })
}
