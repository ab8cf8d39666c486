//! Typed stage contracts: what each stage kind produces and which kinds of
//! output each of its stage inputs takes, checked at `check` time so
//! `pareto(candidates, law)` fails on the argument, not in the middle of a run.
use rooflaw_dsl::spec::Spec;
use rooflaw_dsl::{Code, Diagnostic};

use crate::stage::Registry;

/// A stage kind's contract, declared with its registration.
#[derive(Clone, Copy, Debug)]
pub struct Contract {
    /// The kind of artifact its output is (`latency`, `frontier`, `law`, ...).
    pub produces: &'static str,
    /// For each stage-input parameter, the artifact kinds it takes. A
    /// parameter not listed takes any stage.
    pub takes: &'static [(&'static str, &'static [&'static str])],
}

/// Every stage argument whose upstream stage produces a kind its parameter
/// does not take, located at the argument.
pub(crate) fn check_inputs(spec: &Spec, registry: &Registry) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for stage in &spec.stages {
        let Some(contract) = registry.contract(&stage.kind.node) else {
            continue;
        };
        for arg in &stage.args {
            let Some((_, accepted)) = contract.takes.iter().find(|(p, _)| *p == arg.param) else {
                continue;
            };
            for r in arg.stage_refs() {
                let Some(upstream) = spec.stage(&r.node) else {
                    continue;
                };
                let Some(gives) = registry.contract(&upstream.kind.node).map(|c| c.produces) else {
                    continue;
                };
                if accepted.contains(&gives) {
                    continue;
                }
                let takers: Vec<String> = registry
                    .contracts()
                    .filter(|(_, c)| accepted.contains(&c.produces))
                    .map(|(k, _)| format!("`{k}`"))
                    .collect();
                let mut d = Diagnostic::error(
                    Code::InputKind,
                    format!(
                        "`{}`'s `{}` takes {}, but `{}` is a `{}` stage, which gives {gives}",
                        stage.kind.node,
                        arg.param,
                        accepted.join(" or "),
                        r.node,
                        upstream.kind.node,
                    ),
                )
                .at(r.span, format!("gives {gives}"))
                .also(upstream.kind.span, "declared here");
                if !takers.is_empty() {
                    d = d.help(format!("pass a {} stage", takers.join(" or ")));
                }
                diags.push(d);
            }
        }
    }
    diags
}
