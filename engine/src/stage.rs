//! The stage contract. The stdlib implements [`StageKind`] for each kind
//! (`enumerate`, `roofline`, `train`, ...) and registers it in a [`Registry`].
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rooflaw_dsl::spec::{self, Spec};
use rooflaw_dsl::{Diagnostic, PresetKind, Signature};
use serde_json::Value;

use crate::artifact::Artifact;
use crate::contract::Contract;
use crate::progress::Progress;

/// A stage failed while running. The message is shown to the user as is, so
/// it names the stage's subject (the architecture that diverged, the file
/// that could not be read).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct StageError(pub String);

impl StageError {
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

/// The artifacts a stage reads, by the parameter they were passed as.
#[derive(Default)]
pub struct Inputs {
    /// (parameter, upstream stage name, artifact), in argument order.
    pub items: Vec<(String, String, Arc<Artifact>)>,
}

impl Inputs {
    /// The first input passed as `param`.
    pub fn get(&self, param: &str) -> Option<&Artifact> {
        self.items
            .iter()
            .find(|(p, _, _)| p == param)
            .map(|(_, _, a)| a.as_ref())
    }

    /// Every input passed as `param` (for one-or-many parameters), with the
    /// upstream stage's name.
    pub fn all(&self, param: &str) -> Vec<(&str, &Artifact)> {
        self.items
            .iter()
            .filter(|(p, _, _)| p == param)
            .map(|(_, s, a)| (s.as_str(), a.as_ref()))
            .collect()
    }

    pub fn require(&self, param: &str) -> Result<&Artifact, StageError> {
        self.get(param)
            .ok_or_else(|| StageError::new(format!("missing input `{param}`")))
    }
}

/// What a running stage may use besides its inputs.
pub struct RunCtx {
    pub stage: String,
    pub progress: Progress,
    /// A directory private to this stage's cache key, for checkpoints and
    /// other resumable state; it survives a killed run.
    pub workdir: PathBuf,
    /// Where the pipeline file lives, to resolve relative paths in params.
    pub base_dir: PathBuf,
    pub cancel: Arc<AtomicBool>,
}

impl RunCtx {
    pub fn cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }
}

pub trait StageKind: Send + Sync {
    fn signature(&self) -> &Signature;

    /// Bump when the implementation changes what it computes: every cached
    /// output of this kind is then stale.
    fn version(&self) -> u32;

    /// Resolve the stage's non-stage arguments into canonical parameters
    /// (presets expanded, SI units, defaults filled), validating them with
    /// spanned diagnostics. The result goes into the cache key and the
    /// manifest, so it must contain everything `run` reads except inputs.
    fn resolve(&self, stage: &spec::Stage, spec: &Spec) -> Result<Value, Vec<Diagnostic>>;

    /// Facts about the machine that change the result (compute device,
    /// dtype), part of the cache key.
    fn environment(&self, _params: &Value) -> Value {
        Value::Null
    }

    fn run(&self, ctx: &RunCtx, params: &Value, inputs: &Inputs) -> Result<Artifact, StageError>;

    /// What running the stage would cost, for `rooflaw plan` to show before
    /// anything is spent (training: FLOPs and GPU-hours), given its inputs'
    /// latest outputs. `None`: cheap, or not knowable yet.
    fn estimate(&self, _params: &Value, _inputs: &Inputs) -> Option<Value> {
        None
    }

    /// Stages that time things (measurements) return true: the engine then
    /// runs them alone, after the other stages of their wave, and a map
    /// stage's items one at a time, so nothing else competes for the machine.
    fn exclusive(&self) -> bool {
        false
    }

    /// Stages whose work splits into independently cached items (training
    /// one architecture each) return themselves here.
    fn as_map(&self) -> Option<&dyn MapStage> {
        None
    }
}

/// A stage made of items, each cached on its own key, so adding five
/// candidates to a sample of 170 runs five items.
pub trait MapStage: Send + Sync {
    /// Each item's self-contained description: everything its result depends on.
    fn items(&self, params: &Value, inputs: &Inputs) -> Result<Vec<Value>, StageError>;

    fn run_item(&self, ctx: &RunCtx, item: &Value) -> Result<Artifact, StageError>;

    /// Run an exclusive stage's uncached items, each with its own context;
    /// results in the same order. One at a time by default; a stage that
    /// times its items overrides it to interleave their repeats, so load
    /// from elsewhere spreads over all of them instead of ruining one.
    fn run_items(&self, items: &[(&RunCtx, &Value)]) -> Vec<Result<Artifact, StageError>> {
        items
            .iter()
            .map(|(ctx, item)| self.run_item(ctx, item))
            .collect()
    }

    /// The run was cancelled while this stage's items ran. A stage that
    /// hands items to something outliving rooflaw (jobs queued on a
    /// cluster) stops all of them here, those no thread got to included;
    /// the engine calls it before the run returns, so before rooflaw exits.
    fn cancel_items(&self, _ctx: &RunCtx, _params: &Value, _items: &[Value]) {}

    /// Put the item results (in item order) together into the stage output.
    fn combine(
        &self,
        params: &Value,
        inputs: &Inputs,
        items: &[Value],
        results: &[Arc<Artifact>],
    ) -> Result<Artifact, StageError>;
}

/// Writes the human-facing report (HTML, Markdown, plots) for `report`
/// declarations; tables are exported by the engine itself. `dir` is a
/// fresh staging directory the engine syncs and publishes whole, so files
/// go in with `rooflaw_cache::files::write_staged`.
pub trait Reporter: Send + Sync {
    fn write(
        &self,
        dir: &std::path::Path,
        spec: &Spec,
        outputs: &BTreeMap<String, Arc<Artifact>>,
        reported: &[String],
    ) -> Result<Vec<PathBuf>, String>;
}

/// Stage kinds and what the language needs to know about them.
pub struct Registry {
    kinds: BTreeMap<&'static str, Arc<dyn StageKind>>,
    presets: fn(PresetKind) -> Vec<String>,
    space_fields: &'static [&'static str],
    space_builtins: &'static [&'static str],
    reporter: Option<Arc<dyn Reporter>>,
    contracts: BTreeMap<&'static str, Contract>,
}

impl Registry {
    pub fn new(
        presets: fn(PresetKind) -> Vec<String>,
        space_fields: &'static [&'static str],
        space_builtins: &'static [&'static str],
    ) -> Self {
        Self {
            kinds: BTreeMap::new(),
            presets,
            space_fields,
            space_builtins,
            reporter: None,
            contracts: BTreeMap::new(),
        }
    }

    pub fn register(&mut self, kind: Arc<dyn StageKind>) {
        self.kinds.insert(kind.signature().kind, kind);
    }

    /// Declare what a stage kind produces and what its inputs take.
    pub fn set_contract(&mut self, kind: &'static str, contract: Contract) {
        self.contracts.insert(kind, contract);
    }

    pub fn contract(&self, kind: &str) -> Option<&Contract> {
        self.contracts.get(kind)
    }

    pub fn contracts(&self) -> impl Iterator<Item = (&'static str, &Contract)> {
        self.contracts.iter().map(|(k, c)| (*k, c))
    }

    pub fn set_reporter(&mut self, r: Arc<dyn Reporter>) {
        self.reporter = Some(r);
    }

    pub fn kind(&self, name: &str) -> Option<&Arc<dyn StageKind>> {
        self.kinds.get(name)
    }

    pub fn reporter(&self) -> Option<&Arc<dyn Reporter>> {
        self.reporter.as_ref()
    }
}

impl rooflaw_dsl::Registry for Registry {
    fn signature(&self, kind: &str) -> Option<&Signature> {
        self.kinds.get(kind).map(|k| k.signature())
    }
    fn kinds(&self) -> Vec<&'static str> {
        self.kinds.keys().copied().collect()
    }
    fn presets(&self, kind: PresetKind) -> Vec<String> {
        (self.presets)(kind)
    }
    fn space_fields(&self) -> &[&'static str] {
        self.space_fields
    }
    fn space_builtins(&self) -> &[&'static str] {
        self.space_builtins
    }
}
