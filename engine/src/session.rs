//! A pipeline bound to a registry and a cache: resolves every stage's
//! parameters once, then plans (see `plan`) or runs (see `schedule`).
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rooflaw_cache::{Hash, Lookup, Store};
use rooflaw_dsl::Diagnostic;
use rooflaw_dsl::spec::Spec;
use serde_json::Value;

use crate::artifact::Artifact;
use crate::graph::Dag;
use crate::manifest::{InputRef, KEY_SCHEMA, Manifest};
use crate::resolve::{Resolved, resolve_all};
use crate::schedule::RunError;
use crate::stage::Registry;

pub use crate::resolve::check;

/// The name of a stage's single output in a cache entry.
pub(crate) const OUT: &str = "out";
/// A map stage's second output: the cache keys of its items, so every run
/// that reuses the stage records them as gc roots.
pub(crate) const ITEMS: &str = "items";

pub struct Session<'a> {
    pub spec: &'a Spec,
    pub registry: &'a Registry,
    pub store: &'a Store,
    pub dag: Dag,
    /// Directory of the pipeline file: relative paths resolve against it.
    pub base_dir: PathBuf,
    pipeline_id: String,
    pub(crate) resolved: BTreeMap<String, Resolved>,
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

    pub(crate) fn kind_name(&self, stage: &str) -> String {
        self.spec
            .stage(stage)
            .map(|s| s.kind.node.clone())
            .unwrap_or_default()
    }

    pub(crate) fn ref_name(&self, stage: &str) -> String {
        format!("{}/{stage}", self.pipeline_id)
    }

    /// Where a run records which keys it used (gc roots).
    pub(crate) fn run_record_path(&self) -> PathBuf {
        self.base_dir.join(&self.pipeline_id)
    }

    /// The manifest a stage would be keyed on, given its inputs' hashes.
    pub(crate) fn manifest(
        &self,
        stage: &str,
        input_hashes: &BTreeMap<String, String>,
    ) -> Manifest {
        let r = &self.resolved[stage];
        let spec_stage = self.spec.stage(stage).expect("resolved stage exists");
        let mut inputs = BTreeMap::new();
        for arg in &spec_stage.args {
            let refs = arg.stage_refs();
            if refs.is_empty() {
                continue;
            }
            let list = refs
                .iter()
                .map(|s| InputRef {
                    stage: s.node.clone(),
                    hash: input_hashes.get(&s.node).cloned().unwrap_or_default(),
                })
                .collect();
            inputs.insert(arg.param.clone(), list);
        }
        Manifest {
            schema: KEY_SCHEMA,
            kind: spec_stage.kind.node.clone(),
            version: u64::from(r.kind.version()),
            params: r.params.clone(),
            inputs,
            env: r.env.clone(),
        }
    }

    /// The previous manifest of this stage in this pipeline, if any.
    pub(crate) fn previous(&self, stage: &str) -> Option<Value> {
        let key = self.store.get_ref(&self.ref_name(stage)).ok().flatten()?;
        self.store.get_manifest(&key).ok().flatten()
    }

    /// Load a stage's output by hash, from memory if this run produced it.
    pub(crate) fn load(
        &self,
        hash: &str,
        mem: Option<Arc<Artifact>>,
    ) -> Result<Arc<Artifact>, RunError> {
        if let Some(a) = mem {
            return Ok(a);
        }
        let h: Hash = hash
            .parse()
            .map_err(|_| RunError::Cache(format!("bad hash {hash}")))?;
        let bytes = self
            .store
            .get(&h)
            .map_err(RunError::cache)?
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
            .map_err(RunError::cache)?
        else {
            return Ok(None);
        };
        match self.store.lookup(&key).map_err(RunError::cache)? {
            Lookup::Hit(e) => match e.outputs.get(OUT) {
                Some(h) => self.load(&h.to_string(), None).map(Some),
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }
}
