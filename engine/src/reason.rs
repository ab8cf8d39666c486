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
    /// A declaration passed whole (a `space`) changed: its changes in the
    /// language's own syntax, by field.
    DefinitionChanged {
        /// `space small`
        definition: String,
        changes: Vec<FieldChange>,
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
            Reason::DefinitionChanged {
                definition,
                changes,
            } => {
                let parts: Vec<String> = changes
                    .iter()
                    .map(|c| match (&c.old, &c.new) {
                        (Some(o), Some(n)) => format!("{} {o} → {n}", c.path),
                        (None, Some(n)) => format!("{} {n} added", c.path),
                        (Some(o), None) => format!("{} {o} removed", c.path),
                        (None, None) => c.path.clone(),
                    })
                    .collect();
                write!(f, "{definition}: {}", parts.join("; "))
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

/// How two parameter trees differ: leaf changes, and whole declarations
/// (spaces) compared in their own terms.
#[derive(Default)]
pub struct ParamDiff {
    pub fields: Vec<FieldChange>,
    pub definitions: Vec<Reason>,
}

/// Compare two stages' parameters; see [`ParamDiff`].
pub fn diff_params(old: &Value, new: &Value) -> ParamDiff {
    let mut diff = ParamDiff::default();
    walk("", old, new, &mut diff);
    diff
}

/// Compare two JSON trees leaf by leaf, rendering quantities in their units
/// and declarations in the language's syntax.
pub fn diff_values(prefix: &str, old: &Value, new: &Value, out: &mut Vec<FieldChange>) {
    let mut diff = ParamDiff::default();
    walk(prefix, old, new, &mut diff);
    out.extend(diff.fields);
    for d in diff.definitions {
        if let Reason::DefinitionChanged {
            definition,
            changes,
        } = d
        {
            out.extend(changes.into_iter().map(|c| FieldChange {
                path: format!("{definition}: {}", c.path),
                ..c
            }));
        }
    }
}

fn walk(prefix: &str, old: &Value, new: &Value, out: &mut ParamDiff) {
    if old == new {
        return;
    }
    if let (Some(a), Some(b)) = (as_space(old), as_space(new)) {
        let name = if a.name.node == b.name.node {
            b.name.node.clone()
        } else {
            format!("{} → {}", a.name.node, b.name.node)
        };
        out.definitions.push(Reason::DefinitionChanged {
            definition: format!("space {name}"),
            changes: diff_space(&a, &b),
        });
        return;
    }
    let at = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match (old, new) {
        (Value::Object(a), Value::Object(b)) if !is_quantity(old) && !is_quantity(new) => {
            let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
            for k in keys {
                match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => walk(&at(k), x, y, out),
                    (x, y) => out.fields.push(FieldChange {
                        path: at(k),
                        old: x.map(show),
                        new: y.map(show),
                    }),
                }
            }
        }
        // Lists of the same length (workloads, precisions) differ item by item.
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                walk(&format!("{prefix}[{i}]"), x, y, out);
            }
        }
        (a, b) => out.fields.push(FieldChange {
            path: prefix.to_string(),
            old: Some(show(a)),
            new: Some(show(b)),
        }),
    }
}

fn as_space(v: &Value) -> Option<rooflaw_dsl::spec::Space> {
    if v.get("fields").is_none() || v.get("requires").is_none() {
        return None;
    }
    serde_json::from_value(v.clone()).ok()
}

/// A space's changes by field name (`width 768 .. 2048 step 256 → ...`) and
/// by constraint, in the language's syntax.
fn diff_space(a: &rooflaw_dsl::spec::Space, b: &rooflaw_dsl::spec::Space) -> Vec<FieldChange> {
    let fields = |s: &rooflaw_dsl::spec::Space| -> Vec<(String, String)> {
        s.fields
            .iter()
            .map(|f| {
                let names: Vec<&str> = f.names.iter().map(|n| n.node.as_str()).collect();
                let lhs = if names.len() == 1 {
                    names[0].to_string()
                } else {
                    format!("({})", names.join(", "))
                };
                let lhs = if f.helper { format!("let {lhs}") } else { lhs };
                (lhs, f.value.node.to_string())
            })
            .collect()
    };
    let (fa, fb) = (fields(a), fields(b));
    let mut out = Vec::new();
    for (name, value) in &fb {
        match fa.iter().find(|(n, _)| n == name) {
            Some((_, was)) if was != value => out.push(FieldChange {
                path: name.clone(),
                old: Some(was.clone()),
                new: Some(value.clone()),
            }),
            Some(_) => {}
            None => out.push(FieldChange {
                path: name.clone(),
                old: None,
                new: Some(value.clone()),
            }),
        }
    }
    for (name, value) in &fa {
        if !fb.iter().any(|(n, _)| n == name) {
            out.push(FieldChange {
                path: name.clone(),
                old: Some(value.clone()),
                new: None,
            });
        }
    }
    let requires = |s: &rooflaw_dsl::spec::Space| -> Vec<String> {
        s.requires.iter().map(|r| r.node.to_string()).collect()
    };
    let (ra, rb) = (requires(a), requires(b));
    for r in rb.iter().filter(|r| !ra.contains(r)) {
        out.push(FieldChange {
            path: "require".into(),
            old: None,
            new: Some(r.clone()),
        });
    }
    for r in ra.iter().filter(|r| !rb.contains(r)) {
        out.push(FieldChange {
            path: "require".into(),
            old: Some(r.clone()),
            new: None,
        });
    }
    if out.is_empty() {
        // Same fields and constraints, in another order.
        out.push(FieldChange {
            path: "order of fields".into(),
            old: None,
            new: None,
        });
    }
    out
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
