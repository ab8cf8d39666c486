//! Field-by-field differences between two manifests: the evidence behind "why does this rerun".
use serde_json::Value;

use crate::canonical::canonical_number;

/// One leaf that differs. `path` is dotted (`params.budget.latency.total`, array items by index:
/// `inputs.2`); `old` is `None` for an added field, `new` is `None` for a removed one.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub path: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// All differences between `old` and `new`, in sorted path order. Numbers equal in value are
/// equal (`1` vs `1.0`), matching `key_of`, so an empty diff means equal keys.
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    walk(String::new(), Some(old), Some(new), &mut out);
    out
}

fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_owned()
    } else {
        format!("{prefix}.{field}")
    }
}

fn walk(path: String, old: Option<&Value>, new: Option<&Value>, out: &mut Vec<Change>) {
    match (old, new) {
        (Some(Value::Object(a)), Some(Value::Object(b))) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort_unstable();
            keys.dedup();
            for k in keys {
                walk(join(&path, k), a.get(k), b.get(k), out);
            }
        }
        (Some(Value::Array(a)), Some(Value::Array(b))) => {
            for i in 0..a.len().max(b.len()) {
                walk(join(&path, &i.to_string()), a.get(i), b.get(i), out);
            }
        }
        (Some(a), Some(b)) if same_leaf(a, b) => {}
        (None, None) => {}
        (a, b) => out.push(Change {
            path,
            old: a.cloned(),
            new: b.cloned(),
        }),
    }
}

fn same_leaf(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => canonical_number(x) == canonical_number(y),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reports_changed_added_removed_leaves() {
        let old =
            json!({"params": {"budget": {"latency": {"total": 0.1}}, "seed": 1}, "inputs": ["a"]});
        let new = json!({"params": {"budget": {"latency": {"total": 0.08}}, "seed": 1.0}, "inputs": ["a", "b"], "impl": 2});
        let changes = diff(&old, &new);
        assert_eq!(
            changes,
            vec![
                Change {
                    path: "impl".into(),
                    old: None,
                    new: Some(json!(2))
                },
                Change {
                    path: "inputs.1".into(),
                    old: None,
                    new: Some(json!("b"))
                },
                Change {
                    path: "params.budget.latency.total".into(),
                    old: Some(json!(0.1)),
                    new: Some(json!(0.08)),
                },
            ]
        );
    }

    #[test]
    fn type_change_is_reported_at_the_node() {
        let changes = diff(&json!({"a": {"b": 1}}), &json!({"a": 3}));
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].path, "a");
    }
}
