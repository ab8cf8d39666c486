//! Running one stage: reuse its cached entry or claim its key, compute it
//! (item by item for a map stage), commit the result.
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rooflaw_cache::{Claim, Entry, Hash, InProgress, Lookup};
use serde_json::Value;

use crate::artifact::Artifact;
use crate::manifest::item_manifest;
use crate::plan::{Action, Options};
use crate::progress::Bars;
use crate::resolve::Resolved;
use crate::schedule::{Outcome, RunError};
use crate::session::{ITEMS, OUT, Session};
use crate::stage::{Inputs, MapStage, RunCtx, StageError};

/// Finished stages of a run: output hash, and the artifact when it was
/// computed or loaded in this run.
pub(crate) type Finished = Mutex<BTreeMap<String, (String, Option<Arc<Artifact>>)>>;

/// A key's cached entry, or the right to compute it.
pub(crate) enum Claimed<'s> {
    Hit(Entry, Hash),
    /// Without a claim (a forced rerun of a committed key) the entry is
    /// simply replaced.
    Compute(Option<InProgress<'s>>),
}

/// A map item: its cached result, or its claim on computing it.
enum Slot<'a> {
    Done(Arc<Artifact>),
    Todo(Pending<'a>),
}

/// A map item being computed: its context and its claim on the cache key.
struct Pending<'a> {
    ctx: RunCtx,
    guard: Option<InProgress<'a>>,
    started: Instant,
}

/// A stage's failure, or the run's cancellation when the stage stopped
/// because of it.
fn failure(session: &Session<'_>, stage: &str, ctx: &RunCtx, error: StageError) -> RunError {
    if ctx.cancelled() {
        RunError::Cancelled
    } else {
        RunError::Stage {
            stage: stage.to_string(),
            span: session
                .spec
                .stage(stage)
                .map(|s| s.span)
                .unwrap_or_default(),
            error,
        }
    }
}

impl Session<'_> {
    /// The one "cached, else claim" for stages and map items: a hit when
    /// `reuse` and the key has a verified entry (or a concurrent run commits
    /// one while we wait for the claim), else the claim on computing it.
    pub(crate) fn lookup_or_claim(&self, key: &Hash, reuse: bool) -> Result<Claimed<'_>, RunError> {
        if reuse
            && let Lookup::Hit(e) = self.store.lookup_verified(key).map_err(RunError::cache)?
            && let Some(out) = e.outputs.get(OUT).copied()
        {
            return Ok(Claimed::Hit(e, out));
        }
        Ok(match self.store.begin(key).map_err(RunError::cache)? {
            Claim::Compute(g) => Claimed::Compute(Some(g)),
            Claim::Cached(e) => match e.outputs.get(OUT).copied() {
                Some(out) if reuse => Claimed::Hit(e, out),
                _ => Claimed::Compute(None),
            },
        })
    }

    /// A stage found in the cache: mark it done and read back the keys of
    /// its items, so this run records them as gc roots too.
    fn reuse(
        &self,
        stage: &str,
        key: &Hash,
        entry: &Entry,
        out: &Hash,
        started: Instant,
        done: &Finished,
    ) -> Result<Outcome, RunError> {
        self.store
            .set_ref(&self.ref_name(stage), key)
            .map_err(RunError::cache)?;
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
        Ok(Outcome {
            stage: stage.into(),
            kind: self.kind_name(stage),
            action: Action::Cached,
            reasons: vec![],
            key: key.to_string(),
            output: out.to_string(),
            seconds: started.elapsed().as_secs_f64(),
            items_run: 0,
            items_cached: 0,
            item_keys,
        })
    }

    /// Store an artifact and commit its entry under `key`: the crash-safe
    /// commit point of a stage, or of one item of a map stage.
    #[allow(clippy::too_many_arguments)]
    fn commit(
        &self,
        key: &Hash,
        guard: Option<InProgress<'_>>,
        manifest: Value,
        artifact: &Artifact,
        stage: String,
        kind: &str,
        started: Instant,
        items: &[Hash],
    ) -> Result<Hash, RunError> {
        let out = self
            .store
            .put(&artifact.encode())
            .map_err(RunError::cache)?;
        let mut outputs = BTreeMap::from([(OUT.to_string(), out)]);
        if !items.is_empty() {
            let list: Vec<String> = items.iter().map(Hash::to_hex).collect();
            let bytes = serde_json::to_vec(&list).expect("strings serialise");
            outputs.insert(
                ITEMS.to_string(),
                self.store.put(&bytes).map_err(RunError::cache)?,
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
            Some(g) => g.commit(&entry).map_err(RunError::cache)?,
            None => self.store.put_entry(key, &entry).map_err(RunError::cache)?,
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

    /// Run (or reuse) one stage whose inputs are all finished.
    #[allow(clippy::too_many_lines)]
    pub(crate) fn run_stage(
        &self,
        stage: &str,
        opts: &Options,
        bars: &Bars,
        cancel: &Arc<std::sync::atomic::AtomicBool>,
        done: &Finished,
    ) -> Result<Outcome, RunError> {
        let started = Instant::now();
        let r = &self.resolved[stage];
        let kind_name = self.kind_name(stage);
        let known: BTreeMap<String, String> = {
            let d = done.lock().expect("lock");
            self.dag
                .upstream(stage)
                .iter()
                .map(|u| (u.clone(), d[u].0.clone()))
                .collect()
        };
        let manifest = self.manifest(stage, &known);
        let key = manifest.key();
        let reuse = !opts.forced(stage) && !opts.no_cache;
        // A concurrent run computing the same key makes us wait and then
        // reuse its result.
        let guard = match self.lookup_or_claim(&key, reuse)? {
            Claimed::Hit(entry, out) => {
                return self.reuse(stage, &key, &entry, &out, started, done);
            }
            Claimed::Compute(guard) => guard,
        };
        let reasons = opts
            .override_reason(stage)
            .map_or_else(|| self.explain_miss(stage, &manifest, true), |r| vec![r]);

        // Inputs in argument order.
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
        let ctx = RunCtx {
            stage: stage.to_string(),
            progress: progress.clone(),
            workdir: self.workdir(&key)?,
            base_dir: self.base_dir.clone(),
            cancel: cancel.clone(),
        };
        let (artifact, items_run, items_cached, item_keys) = if let Some(map) = r.kind.as_map() {
            self.run_map(stage, map, r, &ctx, &inputs, opts)?
        } else {
            progress.message("running");
            let a = r
                .kind
                .run(&ctx, &r.params, &inputs)
                .map_err(|e| failure(self, stage, &ctx, e))?;
            (a, 0, 0, Vec::new())
        };
        progress.finish();
        let out = self.commit(
            &key,
            guard,
            manifest.to_value(),
            &artifact,
            stage.to_string(),
            &kind_name,
            started,
            &item_keys,
        )?;
        self.store
            .set_ref(&self.ref_name(stage), &key)
            .map_err(RunError::cache)?;
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
    /// for an exclusive stage. Items finished before a cancellation stay
    /// committed.
    fn run_map(
        &self,
        stage: &str,
        map: &dyn MapStage,
        r: &Resolved,
        ctx: &RunCtx,
        inputs: &Inputs,
        opts: &Options,
    ) -> Result<(Artifact, usize, usize, Vec<Hash>), RunError> {
        use rayon::prelude::*;
        let fail = |error| failure(self, stage, ctx, error);
        let items = map.items(&r.params, inputs).map_err(fail)?;
        ctx.progress.set_total(items.len() as u64, "items");
        let kind_name = self.kind_name(stage);
        let version = u64::from(r.kind.version());
        let keyed: Vec<(Value, Hash)> = items
            .iter()
            .map(|item| {
                let m = item_manifest(&kind_name, version, item, &r.env);
                let k = rooflaw_cache::key_of(&m);
                (m, k)
            })
            .collect();
        let cached = AtomicUsize::new(0);
        let reuse = !(opts.no_cache || opts.forced(stage));
        let claim = |key: &Hash| -> Result<Slot, RunError> {
            if ctx.cancelled() {
                return Err(RunError::Cancelled);
            }
            let started = Instant::now();
            match self.lookup_or_claim(key, reuse)? {
                Claimed::Hit(_, out) => {
                    cached.fetch_add(1, Ordering::Relaxed);
                    ctx.progress.inc(1);
                    self.load(&out.to_string(), None).map(Slot::Done)
                }
                Claimed::Compute(guard) => Ok(Slot::Todo(Pending {
                    ctx: RunCtx {
                        stage: ctx.stage.clone(),
                        progress: ctx.progress.clone(),
                        workdir: self.workdir(key)?,
                        base_dir: ctx.base_dir.clone(),
                        cancel: ctx.cancel.clone(),
                    },
                    guard,
                    started,
                })),
            }
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
        let results = if r.kind.exclusive() {
            run_together(map, &keyed, &items, claim, commit, fail)
        } else {
            Ok(keyed
                .par_iter()
                .zip(items.par_iter())
                .map(|(k, item)| match claim(&k.1)? {
                    Slot::Done(a) => Ok(a),
                    Slot::Todo(p) => {
                        let a = map.run_item(&p.ctx, item).map_err(fail)?;
                        commit(k, p, a)
                    }
                })
                .collect::<Vec<_>>())
        };
        if ctx.cancelled() {
            map.cancel_items(ctx, &r.params, &items);
        }
        let results: Vec<Arc<Artifact>> = results?.into_iter().collect::<Result<_, _>>()?;
        let n_cached = cached.into_inner();
        let combined = map
            .combine(&r.params, inputs, &items, &results)
            .map_err(fail)?;
        let keys = keyed.into_iter().map(|(_, k)| k).collect();
        Ok((combined, items.len() - n_cached, n_cached, keys))
    }
}

/// An exclusive map stage's items: every item claimed first, the uncached
/// ones run in one `run_items` call (a timed stage interleaves them), then
/// each committed. Results in item order.
fn run_together<'a>(
    map: &dyn MapStage,
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
    // Commit every item that finished before looking at failures: work done
    // before a cancellation or another item's error is kept.
    let results: Vec<Result<Arc<Artifact>, RunError>> = slots
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
        .collect();
    Ok(results)
}
