//! A pipeline bound to a registry and a cache: resolves every stage's
//! parameters once, then plans (what would run, and why) or runs.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rooflaw_cache::{Claim, Entry, Hash, Lookup, Store};
use rooflaw_dsl::Diagnostic;
use rooflaw_dsl::spec::Spec;
use serde::Serialize;
use serde_json::{Value, json};

use crate::artifact::Artifact;
use crate::graph::Dag;
use crate::progress::Bars;
use crate::reason::{FieldChange, Reason, diff_values};
use crate::stage::{Inputs, Registry, RunCtx, StageError, StageKind};

/// Bump when the manifest layout changes: every key changes with it.
pub const KEY_SCHEMA: u64 = 1;

/// The name of a stage's single output in a cache entry.
const OUT: &str = "out";
/// A map stage's second output: the cache keys of its items, so every run
/// that reuses the stage records them as gc roots.
const ITEMS: &str = "items";

struct Resolved {
    kind: Arc<dyn StageKind>,
    params: Value,
    env: Value,
}

pub struct Session<'a> {
    pub spec: &'a Spec,
    pub registry: &'a Registry,
    pub store: &'a Store,
    pub dag: Dag,
    /// Directory of the pipeline file: relative paths resolve against it.
    pub base_dir: PathBuf,
    pipeline_id: String,
    resolved: BTreeMap<String, Resolved>,
}

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

/// What one stage did in a run.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub stage: String,
    pub kind: String,
    pub action: Action,
    pub reasons: Vec<Reason>,
    pub key: String,
    pub output: String,
    pub seconds: f64,
    /// For map stages: items computed / reused.
    pub items_run: usize,
    pub items_cached: usize,
    /// Cache keys of a map stage's items, kept as gc roots with the run.
    #[serde(skip)]
    pub item_keys: Vec<Hash>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("stage `{stage}` failed: {error}")]
    Stage { stage: String, error: StageError },
    #[error("cache: {0}")]
    Cache(String),
    #[error("interrupted")]
    Cancelled,
}

/// Every stage's arguments resolved by its kind: the checks only the stdlib
/// can make (a custom law's names, a baseline's fields, a file to read).
/// All problems are reported, not just the first.
fn resolve_all(
    spec: &Spec,
    registry: &Registry,
) -> Result<BTreeMap<String, Resolved>, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut resolved = BTreeMap::new();
    for stage in &spec.stages {
        let Some(kind) = registry.kind(&stage.kind.node) else {
            diags.push(
                Diagnostic::error(
                    "rooflaw::unknown-kind",
                    format!("unknown stage kind `{}`", stage.kind.node),
                )
                .at(stage.kind.span, "not a registered stage kind"),
            );
            continue;
        };
        match kind.resolve(stage, spec) {
            Ok(params) => {
                let env = kind.environment(&params);
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

impl<'a> Session<'a> {
    pub fn new(
        spec: &'a Spec,
        registry: &'a Registry,
        store: &'a Store,
        pipeline: &Path,
    ) -> Result<Self, Vec<Diagnostic>> {
        let dag = Dag::build(spec)?;
        let resolved = resolve_all(spec, registry)?;
        let abs = std::fs::canonicalize(pipeline).unwrap_or_else(|_| pipeline.to_path_buf());
        let pipeline_id = blake3::hash(abs.to_string_lossy().as_bytes()).to_hex()[..16].to_string();
        let base_dir = abs
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        Ok(Session {
            spec,
            registry,
            store,
            dag,
            base_dir,
            pipeline_id,
            resolved,
        })
    }

    /// Resolved parameters of a stage, as they enter its key.
    pub fn params(&self, stage: &str) -> Option<&Value> {
        self.resolved.get(stage).map(|r| &r.params)
    }

    fn ref_name(&self, stage: &str) -> String {
        format!("{}/{stage}", self.pipeline_id)
    }

    /// The manifest a stage would be keyed on, given its inputs' hashes.
    fn manifest(&self, stage: &str, input_hashes: &BTreeMap<String, String>) -> Value {
        let r = &self.resolved[stage];
        let spec_stage = self.spec.stage(stage).expect("resolved stage exists");
        let mut inputs = serde_json::Map::new();
        for arg in &spec_stage.args {
            let refs = arg.stage_refs();
            if refs.is_empty() {
                continue;
            }
            let list: Vec<Value> = refs
                .iter()
                .map(|s| json!({ "stage": s.node, "hash": input_hashes.get(&s.node).cloned().unwrap_or_default() }))
                .collect();
            inputs.insert(arg.param.clone(), Value::Array(list));
        }
        json!({
            "schema": KEY_SCHEMA,
            "kind": spec_stage.kind.node,
            "version": r.kind.version(),
            "params": r.params,
            "inputs": inputs,
            "env": r.env,
        })
    }

    /// The previous manifest of this stage in this pipeline, if any.
    fn previous(&self, stage: &str) -> Option<Value> {
        let key = self.store.get_ref(&self.ref_name(stage)).ok().flatten()?;
        self.store.get_manifest(&key).ok().flatten()
    }

    /// Why a stage whose key missed must run, from its previous manifest.
    fn explain_miss(&self, stage: &str, manifest: &Value, inputs_known: bool) -> Vec<Reason> {
        let Some(old) = self.previous(stage) else {
            return vec![Reason::NeverRun];
        };
        let mut reasons = Vec::new();
        if old["kind"] != manifest["kind"] {
            reasons.push(Reason::KindChanged {
                old: old["kind"].as_str().unwrap_or_default().into(),
                new: manifest["kind"].as_str().unwrap_or_default().into(),
            });
        } else if old["version"] != manifest["version"] {
            reasons.push(Reason::ImplementationChanged {
                old: old["version"].as_u64().unwrap_or(0),
                new: manifest["version"].as_u64().unwrap_or(0),
            });
        }
        let mut changes: Vec<FieldChange> = Vec::new();
        diff_values("", &old["params"], &manifest["params"], &mut changes);
        if !changes.is_empty() {
            reasons.push(Reason::ParamChanged { changes });
        }
        let mut env = Vec::new();
        diff_values("", &old["env"], &manifest["env"], &mut env);
        if !env.is_empty() {
            reasons.push(Reason::EnvironmentChanged { changes: env });
        }
        if inputs_known && old["inputs"] != manifest["inputs"] {
            let mut changed = BTreeSet::new();
            if let (Some(o), Some(n)) = (old["inputs"].as_object(), manifest["inputs"].as_object())
            {
                for (param, list) in n {
                    for item in list.as_array().into_iter().flatten() {
                        let was = o.get(param).and_then(Value::as_array).and_then(|l| {
                            l.iter()
                                .find(|x| x["stage"] == item["stage"])
                                .map(|x| x["hash"].clone())
                        });
                        if was.as_ref() != Some(&item["hash"]) {
                            changed.insert(item["stage"].as_str().unwrap_or_default().to_string());
                        }
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
        if reasons.is_empty() && old["schema"] == manifest["schema"] && inputs_known {
            // Same manifest, yet the key missed: the entry itself is gone.
            reasons.push(Reason::OutputMissing {
                detail: "entry removed from the cache".into(),
            });
        } else if reasons.is_empty() && inputs_known {
            reasons.push(Reason::ImplementationChanged { old: 0, new: 0 });
        }
        reasons
    }

    fn wanted(&self, opts: &Options) -> BTreeSet<String> {
        match &opts.until {
            Some(s) => self.dag.ancestors_and_self(s),
            None => self.dag.order.iter().cloned().collect(),
        }
    }

    /// Decide, without running anything, what a run would do and why.
    pub fn plan(&self, opts: &Options) -> Vec<PlanEntry> {
        let wanted = self.wanted(opts);
        // Output hash of each stage if known now; None if it will rerun.
        let mut outputs: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut plan = Vec::new();
        for stage in &self.dag.order {
            let kind = self
                .spec
                .stage(stage)
                .map(|s| s.kind.node.clone())
                .unwrap_or_default();
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
            let forced = opts.force_all || opts.force.contains(stage);
            let (action, mut reasons, key, out) = if rerunning.is_empty() {
                let key = rooflaw_cache::key_of(&manifest);
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
                        let reasons = if forced {
                            vec![Reason::Forced]
                        } else if opts.no_cache {
                            vec![Reason::CacheDisabled]
                        } else {
                            self.explain_miss(stage, &manifest, true)
                        };
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
    pub fn manifests(&self, stage: &str, plan: &[PlanEntry]) -> (Option<Value>, Value) {
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
        (self.previous(stage), self.manifest(stage, &known))
    }

    /// Run the pipeline: stages whose inputs are ready run in parallel; each
    /// stage's key is computed from its inputs' actual output hashes, so a
    /// rerun that reproduces its output leaves dependants cached.
    pub fn run(
        &self,
        opts: &Options,
        bars: &Bars,
        cancel: &Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<Vec<Outcome>, RunError> {
        let wanted = self.wanted(opts);
        let order: Vec<&String> = self
            .dag
            .order
            .iter()
            .filter(|s| wanted.contains(*s))
            .collect();
        let done: Finished = Mutex::new(BTreeMap::new());
        let outcomes: Mutex<Vec<Outcome>> = Mutex::new(Vec::new());
        let mut pending: Vec<&String> = order.clone();
        while !pending.is_empty() {
            if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                return Err(RunError::Cancelled);
            }
            let finished: BTreeSet<String> = done.lock().expect("lock").keys().cloned().collect();
            let (ready, rest): (Vec<&String>, Vec<&String>) = pending
                .iter()
                .partition(|s| self.dag.upstream(s).iter().all(|u| finished.contains(u)));
            pending = rest;
            // Exclusive stages (timings) wait for the rest of the wave and
            // then run one at a time, alone on the machine.
            let (alone, shared): (Vec<&String>, Vec<&String>) = ready
                .into_iter()
                .partition(|s| self.resolved[s.as_str()].kind.exclusive());
            let results: Vec<Result<(), RunError>> = {
                use rayon::prelude::*;
                shared
                    .par_iter()
                    .map(|stage| {
                        let outcome = self.run_stage(stage, opts, bars, cancel, &done)?;
                        outcomes.lock().expect("lock").push(outcome);
                        Ok(())
                    })
                    .collect()
            };
            for r in results {
                r?;
            }
            for stage in alone {
                if cancel.load(std::sync::atomic::Ordering::Relaxed) {
                    return Err(RunError::Cancelled);
                }
                let outcome = self.run_stage(stage, opts, bars, cancel, &done)?;
                outcomes.lock().expect("lock").push(outcome);
            }
        }
        let mut outcomes = outcomes.into_inner().expect("lock");
        let pos: BTreeMap<&String, usize> =
            order.iter().enumerate().map(|(i, s)| (*s, i)).collect();
        outcomes.sort_by_key(|o| pos.get(&o.stage).copied().unwrap_or(usize::MAX));
        // Item entries are roots too: gc must not drop trained models that
        // the stage's combined entry was built from.
        let keys: Vec<Hash> = outcomes
            .iter()
            .filter_map(|o| o.key.parse().ok())
            .chain(outcomes.iter().flat_map(|o| o.item_keys.iter().copied()))
            .collect();
        let _ = self
            .store
            .record_run(&self.base_dir.join(&self.pipeline_id), &keys);
        Ok(outcomes)
    }

    /// A stage found in the cache: mark it done and read back the keys of
    /// its items, so this run records them as gc roots too.
    #[allow(clippy::too_many_arguments)]
    fn reuse(
        &self,
        stage: &str,
        kind: String,
        key: &Hash,
        entry: &Entry,
        out: &Hash,
        started: Instant,
        done: &Finished,
    ) -> Outcome {
        let _ = self.store.set_ref(&self.ref_name(stage), key);
        done.lock()
            .expect("lock")
            .insert(stage.to_string(), (out.to_string(), None));
        let item_keys = entry
            .outputs
            .get(ITEMS)
            .and_then(|h| self.store.get(h).ok().flatten())
            .and_then(|b| serde_json::from_slice::<Vec<String>>(&b).ok())
            .map(|l| l.iter().filter_map(|k| k.parse().ok()).collect())
            .unwrap_or_default();
        Outcome {
            stage: stage.into(),
            kind,
            action: Action::Cached,
            reasons: vec![],
            key: key.to_string(),
            output: out.to_string(),
            seconds: started.elapsed().as_secs_f64(),
            items_run: 0,
            items_cached: 0,
            item_keys,
        }
    }

    /// Store an artifact and commit its entry under `key`: the crash-safe
    /// commit point of a stage, or of one item of a map stage. Without a claim
    /// (a forced rerun of a cached key) the entry is simply replaced.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &self,
        key: &Hash,
        guard: Option<rooflaw_cache::InProgress<'_>>,
        manifest: Value,
        artifact: &Artifact,
        stage: String,
        kind: &str,
        started: Instant,
        items: &[Hash],
    ) -> Result<Hash, RunError> {
        let cache_err = |e: rooflaw_cache::Error| RunError::Cache(e.to_string());
        let out = self.store.put(&artifact.encode()).map_err(cache_err)?;
        let mut outputs = BTreeMap::from([(OUT.to_string(), out)]);
        if !items.is_empty() {
            let list: Vec<String> = items.iter().map(Hash::to_hex).collect();
            let bytes = serde_json::to_vec(&list).expect("strings serialise");
            outputs.insert(
                ITEMS.to_string(),
                self.store.put(&bytes).map_err(cache_err)?,
            );
        }
        let entry = Entry::new(
            stage,
            kind,
            manifest,
            outputs,
            started.elapsed().as_millis() as u64,
        );
        match guard {
            Some(g) => g.commit(&entry).map_err(cache_err)?,
            None => self.store.put_entry(key, &entry).map_err(cache_err)?,
        }
        Ok(out)
    }

    /// A directory private to one cache key, for resumable state.
    fn workdir(&self, key: &Hash) -> Result<PathBuf, RunError> {
        let dir = self.store.root().join("work").join(key.to_hex());
        std::fs::create_dir_all(&dir)
            .map_err(|e| RunError::Cache(format!("cannot create {}: {e}", dir.display())))?;
        Ok(dir)
    }

    /// Load a stage's output by hash, from memory if this run produced it.
    fn load(&self, hash: &str, mem: Option<Arc<Artifact>>) -> Result<Arc<Artifact>, RunError> {
        if let Some(a) = mem {
            return Ok(a);
        }
        let h: Hash = hash
            .parse()
            .map_err(|_| RunError::Cache(format!("bad hash {hash}")))?;
        let bytes = self
            .store
            .get(&h)
            .map_err(|e| RunError::Cache(e.to_string()))?
            .ok_or_else(|| RunError::Cache(format!("object {hash} vanished during the run")))?;
        Artifact::decode(&bytes)
            .map(Arc::new)
            .map_err(|e| RunError::Cache(e.to_string()))
    }

    /// The output of a finished stage (after `run`), loaded from the cache.
    pub fn output(&self, stage: &str) -> Result<Option<Arc<Artifact>>, RunError> {
        let Some(key) = self
            .store
            .get_ref(&self.ref_name(stage))
            .map_err(|e| RunError::Cache(e.to_string()))?
        else {
            return Ok(None);
        };
        match self
            .store
            .lookup(&key)
            .map_err(|e| RunError::Cache(e.to_string()))?
        {
            Lookup::Hit(e) => match e.outputs.get(OUT) {
                Some(h) => self.load(&h.to_string(), None).map(Some),
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    #[allow(clippy::too_many_lines)]
    fn run_stage(
        &self,
        stage: &str,
        opts: &Options,
        bars: &Bars,
        cancel: &Arc<std::sync::atomic::AtomicBool>,
        done: &Finished,
    ) -> Result<Outcome, RunError> {
        let started = Instant::now();
        let r = &self.resolved[stage];
        let kind_name = self
            .spec
            .stage(stage)
            .map(|s| s.kind.node.clone())
            .unwrap_or_default();
        let upstream = self.dag.upstream(stage);
        let known: BTreeMap<String, String> = {
            let d = done.lock().expect("lock");
            upstream
                .iter()
                .map(|u| (u.clone(), d[u].0.clone()))
                .collect()
        };
        let manifest = self.manifest(stage, &known);
        let key = rooflaw_cache::key_of(&manifest);
        let forced = opts.force_all || opts.force.contains(stage);
        let cache_err = |e: rooflaw_cache::Error| RunError::Cache(e.to_string());

        if !forced
            && !opts.no_cache
            && let Lookup::Hit(entry) = self.store.lookup_verified(&key).map_err(cache_err)?
            && let Some(out) = entry.outputs.get(OUT)
        {
            return Ok(self.reuse(stage, kind_name, &key, &entry, out, started, done));
        }
        let reasons = if forced {
            vec![Reason::Forced]
        } else if opts.no_cache {
            vec![Reason::CacheDisabled]
        } else {
            self.explain_miss(stage, &manifest, true)
        };

        // Load inputs in argument order.
        let mut inputs = Inputs::default();
        let spec_stage = self.spec.stage(stage).expect("stage");
        for arg in &spec_stage.args {
            for s in arg.stage_refs() {
                let (hash, mem) = done.lock().expect("lock")[&s.node].clone();
                let artifact = self.load(&hash, mem)?;
                inputs
                    .items
                    .push((arg.param.clone(), s.node.clone(), artifact));
            }
        }

        let progress = bars.stage(stage);
        let workdir = self.workdir(&key)?;
        let ctx = RunCtx {
            stage: stage.to_string(),
            progress: progress.clone(),
            workdir,
            base_dir: self.base_dir.clone(),
            cancel: cancel.clone(),
        };
        // Claim the key: a concurrent run computing the same key makes us
        // wait and then reuse its result. A forced run recomputes regardless.
        let guard = match self.store.begin(&key).map_err(cache_err)? {
            Claim::Compute(g) => Some(g),
            Claim::Cached(entry) if !forced && !opts.no_cache => {
                progress.finish();
                let out = entry
                    .outputs
                    .get(OUT)
                    .copied()
                    .unwrap_or_else(|| Hash::of(&[]));
                return Ok(self.reuse(stage, kind_name, &key, &entry, &out, started, done));
            }
            Claim::Cached(_) => None,
        };
        let (artifact, items_run, items_cached, item_keys) = if let Some(map) = r.kind.as_map() {
            self.run_map(stage, map, r, &ctx, &inputs, opts)?
        } else {
            progress.message("running");
            let a = r
                .kind
                .run(&ctx, &r.params, &inputs)
                .map_err(|error| RunError::Stage {
                    stage: stage.into(),
                    error,
                })?;
            (a, 0, 0, Vec::new())
        };
        progress.finish();
        let out = self.commit(
            &key,
            guard,
            manifest,
            &artifact,
            stage.to_string(),
            &kind_name,
            started,
            &item_keys,
        )?;
        let _ = self.store.set_ref(&self.ref_name(stage), &key);
        done.lock().expect("lock").insert(
            stage.to_string(),
            (out.to_string(), Some(Arc::new(artifact))),
        );
        Ok(Outcome {
            stage: stage.into(),
            kind: kind_name,
            action: Action::Run,
            reasons,
            key: key.to_string(),
            output: out.to_string(),
            seconds: started.elapsed().as_secs_f64(),
            items_run,
            items_cached,
            item_keys,
        })
    }

    /// Items are keyed on their own description, so only new or changed
    /// items run; they run in parallel up to the pool's width, or in order
    /// for an exclusive stage.
    fn run_map(
        &self,
        stage: &str,
        map: &dyn crate::stage::MapStage,
        r: &Resolved,
        ctx: &RunCtx,
        inputs: &Inputs,
        opts: &Options,
    ) -> Result<(Artifact, usize, usize, Vec<Hash>), RunError> {
        use rayon::prelude::*;
        let fail = |error| RunError::Stage {
            stage: stage.into(),
            error,
        };
        let cache_err = |e: rooflaw_cache::Error| RunError::Cache(e.to_string());
        let items = map.items(&r.params, inputs).map_err(fail)?;
        ctx.progress.set_total(items.len() as u64, "items");
        let kind_name = self
            .spec
            .stage(stage)
            .map(|s| s.kind.node.clone())
            .unwrap_or_default();
        let keyed: Vec<(Value, Hash)> = items
            .iter()
            .map(|item| {
                let m = json!({ "schema": KEY_SCHEMA, "kind": kind_name, "version": r.kind.version(), "item": item, "env": r.env });
                (m.clone(), rooflaw_cache::key_of(&m))
            })
            .collect();
        let cached = std::sync::atomic::AtomicUsize::new(0);
        let forced = opts.no_cache || opts.force_all || opts.force.contains(stage);
        // An item's cached result, or its claim on computing it.
        let claim = |key: &Hash| -> Result<Slot, RunError> {
            if ctx.cancelled() {
                return Err(RunError::Cancelled);
            }
            let hit = |e: &rooflaw_cache::Entry| e.outputs.get(OUT).map(Hash::to_string);
            if !forced
                && let Lookup::Hit(e) = self.store.lookup_verified(key).map_err(cache_err)?
                && let Some(h) = hit(&e)
            {
                cached.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                ctx.progress.inc(1);
                return self.load(&h, None).map(Slot::Done);
            }
            let started = Instant::now();
            let item_ctx = RunCtx {
                stage: ctx.stage.clone(),
                progress: ctx.progress.clone(),
                workdir: self.workdir(key)?,
                base_dir: ctx.base_dir.clone(),
                cancel: ctx.cancel.clone(),
            };
            let guard = match self.store.begin(key).map_err(cache_err)? {
                Claim::Compute(g) => Some(g),
                Claim::Cached(e) if !forced => {
                    if let Some(h) = hit(&e) {
                        cached.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        ctx.progress.inc(1);
                        return self.load(&h, None).map(Slot::Done);
                    }
                    None
                }
                Claim::Cached(_) => None,
            };
            Ok(Slot::Todo(Pending {
                ctx: item_ctx,
                guard,
                started,
            }))
        };
        let commit = |(manifest, key): &(Value, Hash), p: Pending, a: Artifact| {
            self.commit(
                key,
                p.guard,
                manifest.clone(),
                &a,
                format!("{stage}[item]"),
                &kind_name,
                p.started,
                &[],
            )?;
            ctx.progress.inc(1);
            Ok(Arc::new(a))
        };
        let results: Vec<Result<Arc<Artifact>, RunError>> = if r.kind.exclusive() {
            run_together(map, &keyed, &items, claim, commit, fail)?
        } else {
            keyed
                .par_iter()
                .zip(items.par_iter())
                .map(|(k, item)| match claim(&k.1)? {
                    Slot::Done(a) => Ok(a),
                    Slot::Todo(p) => {
                        let a = map.run_item(&p.ctx, item).map_err(fail)?;
                        commit(k, p, a)
                    }
                })
                .collect()
        };
        let results: Vec<Arc<Artifact>> = results.into_iter().collect::<Result<_, _>>()?;
        let n_cached = cached.into_inner();
        let combined = map
            .combine(&r.params, inputs, &items, &results)
            .map_err(fail)?;
        let keys = keyed.into_iter().map(|(_, k)| k).collect();
        Ok((combined, items.len() - n_cached, n_cached, keys))
    }
}

/// A map item: its cached result, or its claim on computing it.
enum Slot<'a> {
    Done(Arc<Artifact>),
    Todo(Pending<'a>),
}

/// A map item being computed: its context and its claim on the cache key.
struct Pending<'a> {
    ctx: RunCtx,
    guard: Option<rooflaw_cache::InProgress<'a>>,
    started: Instant,
}

/// Finished stages of a run: output hash, and the artifact when it was
/// computed or loaded in this run.
type Finished = Mutex<BTreeMap<String, (String, Option<Arc<Artifact>>)>>;

/// An exclusive map stage's items: every item claimed first, the uncached
/// ones run in one `run_items` call (a timed stage interleaves them), then
/// each committed. Results in item order.
fn run_together<'a>(
    map: &dyn crate::stage::MapStage,
    keyed: &[(Value, Hash)],
    items: &[Value],
    claim: impl Fn(&Hash) -> Result<Slot<'a>, RunError>,
    commit: impl Fn(&(Value, Hash), Pending<'a>, Artifact) -> Result<Arc<Artifact>, RunError>,
    fail: impl Fn(StageError) -> RunError,
) -> Result<Vec<Result<Arc<Artifact>, RunError>>, RunError> {
    let mut slots = Vec::with_capacity(items.len());
    for (_, key) in keyed {
        slots.push(claim(key)?);
    }
    let todo: Vec<(&RunCtx, &Value)> = slots
        .iter()
        .zip(items)
        .filter_map(|(s, item)| match s {
            Slot::Todo(p) => Some((&p.ctx, item)),
            Slot::Done(_) => None,
        })
        .collect();
    let mut ran = map.run_items(&todo).into_iter();
    drop(todo);
    Ok(slots
        .into_iter()
        .zip(keyed)
        .map(|(slot, k)| match slot {
            Slot::Done(a) => Ok(a),
            Slot::Todo(p) => {
                let a = ran
                    .next()
                    .unwrap_or_else(|| Err(StageError::new("stage returned too few results")))
                    .map_err(&fail)?;
                commit(k, p, a)
            }
        })
        .collect())
}
