//! What a run would do and why, decided without running anything.
use std::collections::{BTreeMap, BTreeSet};

use rooflaw_cache::{Hash, Lookup};
use serde::Serialize;

use crate::manifest::Manifest;
use crate::reason::Reason;
use crate::session::{OUT, Session};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Run,
    Cached,
    /// Not needed for `--until`.
    Skip,
}

#[derive(Clone, Debug, Serialize)]
pub struct PlanEntry {
    pub stage: String,
    pub kind: String,
    pub action: Action,
    /// Root causes first, then cascades; empty when cached.
    pub reasons: Vec<Reason>,
    /// Known when every input's content is known now.
    pub key: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub force: BTreeSet<String>,
    pub force_all: bool,
    pub until: Option<String>,
    pub no_cache: bool,
}

impl Options {
    pub(crate) fn forced(&self, stage: &str) -> bool {
        self.force_all || self.force.contains(stage)
    }

    /// Why a stage that is not reused runs when no earlier manifest says so.
    pub(crate) fn override_reason(&self, stage: &str) -> Option<Reason> {
        if self.forced(stage) {
            Some(Reason::Forced)
        } else if self.no_cache {
            Some(Reason::CacheDisabled)
        } else {
            None
        }
    }
}

impl Session<'_> {
    pub(crate) fn wanted(&self, opts: &Options) -> BTreeSet<String> {
        match &opts.until {
            Some(s) => self.dag.ancestors_and_self(s),
            None => self.dag.order.iter().cloned().collect(),
        }
    }

    /// Why a stage whose key missed must run, from its previous manifest.
    pub(crate) fn explain_miss(
        &self,
        stage: &str,
        manifest: &Manifest,
        inputs_known: bool,
    ) -> Vec<Reason> {
        let Some(old) = self.previous(stage) else {
            return vec![Reason::NeverRun];
        };
        let Some(old) = Manifest::from_value(&old) else {
            return vec![Reason::ImplementationChanged {
                old: 0,
                new: manifest.version,
            }];
        };
        let mut reasons = manifest.diff(&old, inputs_known);
        if reasons.is_empty() && inputs_known {
            // Same manifest, yet the key missed: the entry itself is gone.
            reasons.push(Reason::OutputMissing {
                detail: "entry removed from the cache".into(),
            });
        }
        reasons
    }

    /// Decide, without running anything, what a run would do and why.
    pub fn plan(&self, opts: &Options) -> Vec<PlanEntry> {
        let wanted = self.wanted(opts);
        // Output hash of each stage if known now; None if it will rerun.
        let mut outputs: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut plan = Vec::new();
        for stage in &self.dag.order {
            let kind = self.kind_name(stage);
            if !wanted.contains(stage) {
                plan.push(PlanEntry {
                    stage: stage.clone(),
                    kind,
                    action: Action::Skip,
                    reasons: vec![],
                    key: None,
                });
                continue;
            }
            let upstream = self.dag.upstream(stage);
            let rerunning: Vec<String> = upstream
                .iter()
                .filter(|u| matches!(outputs.get(*u), Some(None)))
                .cloned()
                .collect();
            let known: BTreeMap<String, String> = upstream
                .iter()
                .filter_map(|u| outputs.get(u).cloned().flatten().map(|h| (u.clone(), h)))
                .collect();
            let manifest = self.manifest(stage, &known);
            let forced = opts.forced(stage);
            let (action, mut reasons, key, out) = if rerunning.is_empty() {
                let key = manifest.key();
                let found = if opts.no_cache {
                    Ok(Lookup::Miss)
                } else {
                    self.store.lookup_verified(&key)
                };
                match found {
                    Ok(Lookup::Hit(entry)) if !forced => (
                        Action::Cached,
                        vec![],
                        Some(key.to_string()),
                        entry.outputs.get(OUT).map(ToString::to_string),
                    ),
                    Ok(Lookup::Broken(reason)) if !forced => (
                        Action::Run,
                        vec![Reason::OutputMissing { detail: reason }],
                        Some(key.to_string()),
                        None,
                    ),
                    _ => {
                        let reasons = opts
                            .override_reason(stage)
                            .map_or_else(|| self.explain_miss(stage, &manifest, true), |r| vec![r]);
                        (Action::Run, reasons, Some(key.to_string()), None)
                    }
                }
            } else {
                let mut reasons = if forced {
                    vec![Reason::Forced]
                } else {
                    // `NeverRun` already means there is no previous manifest.
                    self.explain_miss(stage, &manifest, false)
                };
                reasons.push(Reason::UpstreamWillRerun { stages: rerunning });
                (Action::Run, reasons, None, None)
            };
            reasons.sort_by_key(|r| !r.is_root_cause());
            outputs.insert(stage.clone(), out);
            plan.push(PlanEntry {
                stage: stage.clone(),
                kind,
                action,
                reasons,
                key,
            });
        }
        plan
    }

    /// The previous and current manifests of a stage (current with inputs as
    /// far as they are known now), for `explain`.
    pub fn manifests(&self, stage: &str, plan: &[PlanEntry]) -> (Option<Manifest>, Manifest) {
        let mut known = BTreeMap::new();
        for e in plan {
            if e.action == Action::Cached
                && let Some(k) = &e.key
                && let Some(Lookup::Hit(entry)) = k
                    .parse::<Hash>()
                    .ok()
                    .and_then(|h| self.store.lookup(&h).ok())
                && let Some(o) = entry.outputs.get(OUT)
            {
                known.insert(e.stage.clone(), o.to_string());
            }
        }
        let old = self.previous(stage).as_ref().and_then(Manifest::from_value);
        (old, self.manifest(stage, &known))
    }
}
