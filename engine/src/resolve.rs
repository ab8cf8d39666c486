//! Every stage's arguments resolved by its kind, once per session: the
//! checks only the stdlib can make (a custom law's names, a baseline's
//! fields, a file to read) and the canonical parameters keys are built from.
use std::collections::BTreeMap;
use std::sync::Arc;

use rooflaw_dsl::spec::Spec;
use rooflaw_dsl::{Code, Diagnostic};
use serde_json::Value;

use crate::stage::{Registry, StageKind};

pub(crate) struct Resolved {
    pub(crate) kind: Arc<dyn StageKind>,
    /// Span-free: where a declaration sits in the file is not what it means.
    pub(crate) params: Value,
    pub(crate) env: Value,
}

/// All problems are reported, not just the first.
pub(crate) fn resolve_all(
    spec: &Spec,
    registry: &Registry,
) -> Result<BTreeMap<String, Resolved>, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut resolved = BTreeMap::new();
    for stage in &spec.stages {
        let Some(kind) = registry.kind(&stage.kind.node) else {
            diags.push(
                Diagnostic::error(
                    Code::UnknownKind,
                    format!("unknown stage kind `{}`", stage.kind.node),
                )
                .at(stage.kind.span, "not a registered stage kind"),
            );
            continue;
        };
        match kind.resolve(stage, spec) {
            Ok(params) => {
                // The one place spans leave: everything downstream (keys,
                // manifests, map items, `run`) sees the canonical form.
                let params = rooflaw_dsl::strip_spans(params);
                let env = rooflaw_dsl::strip_spans(kind.environment(&params));
                resolved.insert(
                    stage.name.node.clone(),
                    Resolved {
                        kind: kind.clone(),
                        params,
                        env,
                    },
                );
            }
            Err(d) => diags.extend(d),
        }
    }
    diags.extend(crate::contract::check_inputs(spec, registry));
    if diags.is_empty() {
        Ok(resolved)
    } else {
        Err(diags)
    }
}

/// What `rooflaw check` adds to the language's checks: the stage kinds'
/// own (see [`resolve_all`]), without a cache or running anything.
pub fn check(spec: &Spec, registry: &Registry) -> Vec<Diagnostic> {
    resolve_all(spec, registry).err().unwrap_or_default()
}
