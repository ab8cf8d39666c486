//! What a stage's cache key is computed from, typed: its kind and version,
//! its resolved parameters (span-free, see [`rooflaw_dsl::strip_spans`]), the
//! content hashes of its inputs and its environment. Two manifests are
//! compared field by field to say, in words, why a stage reruns.
use std::collections::{BTreeMap, BTreeSet};

use rooflaw_cache::Hash;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::reason::{self, FieldChange, Reason};

/// Bump when the manifest layout changes: every key changes with it.
/// 2: spans left the parameters.
pub const KEY_SCHEMA: u64 = 2;

/// One input of a stage: the upstream stage and the hash of its output
/// (empty while it is not known yet, in a plan).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRef {
    pub stage: String,
    pub hash: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: u64,
    pub kind: String,
    pub version: u64,
    pub params: Value,
    /// By parameter name, in argument order within one parameter.
    pub inputs: BTreeMap<String, Vec<InputRef>>,
    pub env: Value,
}

impl Manifest {
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("a manifest serialises")
    }

    /// A stored manifest; `None` when it predates this layout (its stage
    /// then reads as changed in implementation).
    pub fn from_value(v: &Value) -> Option<Manifest> {
        serde_json::from_value(v.clone()).ok()
    }

    /// The cache key: blake3 of the canonical JSON, where each float is
    /// written in its shortest round-tripping form (so, by its bits).
    pub fn key(&self) -> Hash {
        rooflaw_cache::key_of(&self.to_value())
    }

    /// Why `self` differs from `old`, root causes in words. Input hashes are
    /// compared only when `inputs_known` (in a plan, an input that will rerun
    /// has no hash yet and is reported as a cascade instead).
    pub fn diff(&self, old: &Manifest, inputs_known: bool) -> Vec<Reason> {
        let mut reasons = Vec::new();
        if old.kind != self.kind {
            reasons.push(Reason::KindChanged {
                old: old.kind.clone(),
                new: self.kind.clone(),
            });
        } else if old.version != self.version || old.schema != self.schema {
            reasons.push(Reason::ImplementationChanged {
                old: old.version,
                new: self.version,
            });
        }
        let params = reason::diff_params(&old.params, &self.params);
        if !params.fields.is_empty() {
            reasons.push(Reason::ParamChanged {
                changes: params.fields,
            });
        }
        reasons.extend(params.definitions);
        let mut env = Vec::new();
        reason::diff_values("", &old.env, &self.env, &mut env);
        if !env.is_empty() {
            reasons.push(Reason::EnvironmentChanged { changes: env });
        }
        if inputs_known && old.inputs != self.inputs {
            let mut changed = BTreeSet::new();
            for (param, list) in &self.inputs {
                for input in list {
                    let was = old
                        .inputs
                        .get(param)
                        .and_then(|l| l.iter().find(|x| x.stage == input.stage));
                    if was.map(|x| &x.hash) != Some(&input.hash) {
                        changed.insert(input.stage.clone());
                    }
                }
            }
            if changed.is_empty() {
                changed.insert("(arguments)".into());
            }
            reasons.push(Reason::InputChanged {
                inputs: changed.into_iter().collect(),
            });
        }
        reasons
    }

    /// Every field that differs from `old`, for `explain`: parameters and
    /// environment as in [`Manifest::diff`], inputs by stage.
    pub fn field_changes(&self, old: &Manifest) -> Vec<FieldChange> {
        let mut out = Vec::new();
        reason::diff_values("", &old.to_value(), &self.to_value(), &mut out);
        // In a plan, an input that will rerun has no hash yet.
        for c in &mut out {
            if c.path.starts_with("inputs.") && c.new.as_deref() == Some("") {
                c.new = Some("(known when it has rerun)".into());
            }
        }
        out
    }
}

/// The manifest of one item of a map stage: everything its result depends
/// on, whatever stage or pipeline it appears in.
pub fn item_manifest(kind: &str, version: u64, item: &Value, env: &Value) -> Value {
    json!({ "schema": KEY_SCHEMA, "kind": kind, "version": version, "item": item, "env": env })
}
