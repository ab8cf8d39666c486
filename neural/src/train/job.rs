//! The job boundary: one architecture's training as a self-contained job
//! (architecture, recipe and corpus hash in; a result file out) run by an
//! [`Executor`]. The local executor is the first; a cluster (Slurm)
//! executor plugs in behind the same trait.
use super::{
    TrainError,
    command::{self, ExternalTrainer},
    corpus::Corpus,
    declared::CorpusSpec,
    tokenizer::ByteTokenizer,
    trainer::{self, Progress},
};
use rooflaw_stdlib::arch::Architecture;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Where training runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    #[default]
    Cpu,
    /// The first CUDA GPU (needs the `cuda` feature).
    Cuda,
}

impl DeviceKind {
    /// The candle device: the CPU, or the first CUDA GPU when this build has
    /// the `cuda` feature and the machine a GPU.
    pub fn open(self) -> Result<candle_core::Device, TrainError> {
        match self {
            DeviceKind::Cpu => Ok(candle_core::Device::Cpu),
            DeviceKind::Cuda if !cfg!(feature = "cuda") => Err(TrainError::Recipe(
                "device: cuda needs a rooflaw built with `--features cuda` (and nvcc to build it)"
                    .into(),
            )),
            DeviceKind::Cuda => Ok(candle_core::Device::new_cuda(0)?),
        }
    }
}

/// The float type of a step's matmuls and activations. Weights, gradients
/// and the optimizer's moments stay fp32 either way (mixed precision with
/// fp32 master weights); norms, softmaxes and the loss are computed in fp32.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Fp32,
    Bf16,
}

impl Precision {
    pub const NAMES: &[&str] = &["fp32", "bf16"];
    /// Why a recipe cannot have bf16 on the CPU.
    pub const BF16_ON_CPU: &str = "bf16 training needs a GPU: candle's CPU matmul has no bf16";

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "fp32" => Some(Self::Fp32),
            "bf16" => Some(Self::Bf16),
            _ => None,
        }
    }

    pub fn dtype(self) -> candle_core::DType {
        match self {
            Precision::Fp32 => candle_core::DType::F32,
            Precision::Bf16 => candle_core::DType::BF16,
        }
    }

    #[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
    fn is_fp32(&self) -> bool {
        *self == Precision::Fp32
    }
}

/// How to train: the paper's recipe scaled to a token budget.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Recipe {
    /// Token budget; the run takes `tokens / (batch · seq_len)` steps.
    pub tokens: u64,
    pub seq_len: usize,
    pub batch: usize,
    /// Peak learning rate, reached after the warm-up.
    pub lr: f64,
    /// Learning rate at the end of the cosine decay.
    pub lr_min: f64,
    /// Fraction of the steps spent in linear warm-up.
    pub warmup_frac: f64,
    pub seed: u64,
    /// Steps between validations (one also runs after the last step).
    pub eval_every: u64,
    /// Validation batches per evaluation.
    pub eval_batches: usize,
    #[serde(default)]
    pub device: DeviceKind,
    /// Left out of the serialised recipe when fp32, so the keys of runs
    /// cached before the setting existed do not change.
    #[serde(default, skip_serializing_if = "Precision::is_fp32")]
    pub precision: Precision,
    /// Maximum global gradient norm.
    #[serde(default = "default_clip")]
    pub grad_clip: f64,
    /// The reported validation loss is the mean of the last this-many evaluations.
    #[serde(default = "default_final_evals")]
    pub final_evals: usize,
    /// Steps between checkpoints; 0 = at every evaluation.
    #[serde(default)]
    pub checkpoint_every: u64,
}

fn default_clip() -> f64 {
    1.0
}
fn default_final_evals() -> usize {
    3
}

impl Recipe {
    /// A small CPU recipe (the benchmark's shapes): 128 × 16 tokens a step.
    pub fn small(tokens: u64, seed: u64) -> Self {
        Self {
            tokens,
            seq_len: 128,
            batch: 16,
            lr: 1e-3,
            lr_min: 1e-4,
            warmup_frac: 0.05,
            seed,
            eval_every: 50,
            eval_batches: 4,
            device: DeviceKind::Cpu,
            precision: Precision::Fp32,
            grad_clip: 1.0,
            final_evals: 3,
            checkpoint_every: 0,
        }
    }

    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |why: &str| Err(TrainError::Recipe(why.to_string()));
        if self.seq_len == 0 || self.batch == 0 {
            return bad("seq_len and batch must be positive");
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad("lr must be positive and finite");
        }
        if !(self.lr_min.is_finite() && self.lr_min >= 0.0 && self.lr_min <= self.lr) {
            return bad("lr_min must be in [0, lr]");
        }
        if !(0.0..=1.0).contains(&self.warmup_frac) {
            return bad("warmup_frac must be in [0, 1]");
        }
        if self.eval_every == 0 || self.eval_batches == 0 {
            return bad("eval_every and eval_batches must be positive");
        }
        if !(self.grad_clip.is_finite() && self.grad_clip > 0.0) {
            return bad("grad_clip must be positive and finite");
        }
        if self.precision == Precision::Bf16 && self.device == DeviceKind::Cpu {
            return bad(Precision::BF16_ON_CPU);
        }
        trainer::steps_for(self).map(|_| ())
    }
}

/// A corpus by name and content hash ([`Corpus::hash`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CorpusRef {
    pub name: String,
    pub hash: String,
}

impl CorpusRef {
    pub fn of(corpus: &Corpus) -> Self {
        Self {
            name: corpus.name.clone(),
            hash: corpus.hash.clone(),
        }
    }
}

/// One training run, self-contained: everything that determines its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainJob {
    pub arch: Architecture,
    pub recipe: Recipe,
    pub corpus: CorpusRef,
    /// A command of the user's that trains in rooflaw's place; absent (and
    /// so absent from the key) for rooflaw's own trainer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trainer: Option<ExternalTrainer>,
}

impl TrainJob {
    /// Content hash (blake3 of the canonical JSON): the cache key.
    pub fn key(&self) -> String {
        let json = serde_json::to_vec(self).expect("a TrainJob always serialises");
        blake3::hash(&json).to_hex().to_string()
    }
}

/// What a finished run reports (also written as `result.json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    /// Short architecture label (see [`super::model::label`]).
    pub arch: String,
    /// Parameters trained, with the tokenizer's vocabulary.
    pub params: u64,
    pub tokens: u64,
    pub steps: u64,
    /// Mean training loss over the last `eval_every` steps (nats/token).
    pub final_train_loss: f64,
    /// Mean of the last `final_evals` validation losses (nats/token).
    pub val_loss: f64,
    pub val_ppl: f64,
    pub wall_s: f64,
    /// Training throughput (evaluation excluded).
    pub tokens_per_s: f64,
    /// `(step, validation loss)` of every evaluation.
    pub evals: Vec<(u64, f64)>,
    /// Steps at which the run resumed from its checkpoint after an
    /// interruption; empty for a run in one go. `tokens_per_s` and `wall_s`
    /// add up every session.
    #[serde(default)]
    pub resumed_at: Vec<u64>,
    /// Final weights (safetensors) and their blake3.
    pub model_path: PathBuf,
    pub model_hash: String,
    pub job_key: String,
}

pub const JOB_FILE: &str = "job.json";
pub const RESULT_FILE: &str = "result.json";

/// Runs training jobs.
///
/// Contract: a job owns `workdir`. The executor writes `job.json` there,
/// the run checkpoints into it and ends by writing `result.json`; a
/// `workdir` that already holds `result.json` for the same job key is a
/// finished run and is returned without training, one with only a
/// checkpoint resumes. `run` blocks until the result exists.
///
/// A batch-system executor implements `run` as submit, poll, collect: write
/// `job.json`, `sbatch` a script that calls [`run_job_dir`] on the node
/// (through the CLI), poll `squeue`/`sacct` and the checkpoint's step for
/// progress, then read `result.json`. Cancelling is `progress` returning
/// `Break`: the local executor stops after a checkpoint; a cluster executor
/// would `scancel` and leave the checkpoint for a later resume. Progress
/// from a remote run is coarser (per checkpoint), which the callback allows.
pub trait Executor: Send + Sync {
    fn name(&self) -> &str;

    fn run(
        &self,
        job: &TrainJob,
        workdir: &Path,
        progress: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<TrainResult, TrainError>;
}

/// Trains in this process on the recipe's device.
#[derive(Default)]
pub struct LocalExecutor {
    /// Bundled corpora by name.
    corpora: Mutex<HashMap<String, Arc<Corpus>>>,
    /// Declared corpora by content hash, and those opened.
    declared: Mutex<HashMap<String, CorpusSpec>>,
    opened: Mutex<HashMap<String, Arc<Corpus>>>,
}

pub const CORPUS_FILE: &str = "corpus.json";

impl LocalExecutor {
    pub fn new() -> Self {
        Self::default()
    }

    /// The named corpus, loaded once per executor.
    pub fn corpus(&self, name: &str) -> Result<Arc<Corpus>, TrainError> {
        let mut cache = self.corpora.lock().expect("corpus cache lock poisoned");
        if let Some(c) = cache.get(name) {
            return Ok(c.clone());
        }
        let c = Arc::new(Corpus::load(name, &ByteTokenizer)?);
        cache.insert(name.to_string(), c.clone());
        Ok(c)
    }

    /// Make a declared corpus available to jobs that name its hash.
    pub fn declare(&self, spec: CorpusSpec, hash: String) {
        self.declared
            .lock()
            .expect("corpus lock poisoned")
            .insert(hash, spec);
    }

    /// The declared corpus with this hash, if one was declared.
    pub fn declared(&self, hash: &str) -> Option<CorpusSpec> {
        self.declared
            .lock()
            .expect("corpus lock poisoned")
            .get(hash)
            .cloned()
    }

    /// A job's corpus: a declared one by hash (opened, and text tokenized,
    /// once), else a bundled one by name.
    fn corpus_of(&self, r: &CorpusRef) -> Result<Arc<Corpus>, TrainError> {
        let Some(spec) = self.declared(&r.hash) else {
            return self.corpus(&r.name);
        };
        // Held while opening, so concurrent jobs tokenize a text corpus once.
        let mut opened = self.opened.lock().expect("corpus lock poisoned");
        if let Some(c) = opened.get(&r.hash) {
            return Ok(c.clone());
        }
        // The files may have changed since the pipeline was resolved; the
        // hash is remembered per file version, so checking is cheap.
        let actual = spec.hash()?;
        if actual != r.hash {
            return Err(TrainError::CorpusMismatch {
                name: r.name.clone(),
                expected: r.hash.clone(),
                actual,
            });
        }
        let c = Arc::new(spec.open(&r.hash)?);
        opened.insert(r.hash.clone(), c.clone());
        Ok(c)
    }
}

impl Executor for LocalExecutor {
    fn name(&self) -> &'static str {
        "local"
    }

    fn run(
        &self,
        job: &TrainJob,
        workdir: &Path,
        progress: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<TrainResult, TrainError> {
        if let Some(ext) = &job.trainer {
            return self.run_command(ext, job, workdir, progress);
        }
        if let Some(r) = stage_job(job, self.declared(&job.corpus.hash).as_ref(), workdir)? {
            return Ok(r);
        }
        let corpus = self.corpus_of(&job.corpus)?;
        if corpus.hash != job.corpus.hash {
            return Err(TrainError::CorpusMismatch {
                name: job.corpus.name.clone(),
                expected: job.corpus.hash.clone(),
                actual: corpus.hash.clone(),
            });
        }
        let device = job.recipe.device.open()?;
        let result = trainer::train(job, &corpus, workdir, &device, progress)?;
        write_json(&workdir.join(RESULT_FILE), &result)?;
        Ok(result)
    }
}

impl LocalExecutor {
    /// A job whose trainer is the user's command, run here (needs consent).
    fn run_command(
        &self,
        ext: &ExternalTrainer,
        job: &TrainJob,
        workdir: &Path,
        progress: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
    ) -> Result<TrainResult, TrainError> {
        if !command::commands_allowed() {
            return Err(TrainError::Command(command::CONSENT_HINT.into()));
        }
        let spec = self.declared(&job.corpus.hash);
        if let Some(r) = stage_job(job, spec.as_ref(), workdir)? {
            return Ok(r);
        }
        let vocab = match &spec {
            Some(s) => s.vocab()?,
            None => self.corpus(&job.corpus.name)?.vocab,
        };
        let cwd = ext.cwd.clone().unwrap_or_else(|| PathBuf::from("."));
        let result = command::run(ext, job, spec.as_ref(), vocab, workdir, &cwd, progress)?;
        write_json(&workdir.join(RESULT_FILE), &result)?;
        Ok(result)
    }
}

/// Make `workdir` the job's: write `job.json` (and the declared corpus's
/// `corpus.json`, for a node to find the files), or check it already is;
/// the finished result if there is one.
pub fn stage_job(
    job: &TrainJob,
    corpus: Option<&CorpusSpec>,
    workdir: &Path,
) -> Result<Option<TrainResult>, TrainError> {
    {
        std::fs::create_dir_all(workdir).map_err(TrainError::io(workdir))?;
        let key = job.key();
        let job_path = workdir.join(JOB_FILE);
        if job_path.exists() {
            let old: TrainJob = read_json(&job_path)?;
            if old.key() != key {
                return Err(TrainError::Checkpoint {
                    path: job_path,
                    why: format!("workdir belongs to job {}, not {key}", old.key()),
                });
            }
            let result_path = workdir.join(RESULT_FILE);
            if result_path.exists() {
                let r: TrainResult = read_json(&result_path)?;
                if r.job_key == key {
                    return Ok(Some(r));
                }
            }
        } else {
            write_json(&job_path, job)?;
        }
        if let Some(spec) = corpus {
            // So a node running this directory (`rooflaw train-job`) finds the files.
            write_json(&workdir.join(CORPUS_FILE), spec)?;
        }
        Ok(None)
    }
}

/// Runs the job described by `workdir/job.json` (what a cluster node runs).
pub fn run_job_dir(
    workdir: &Path,
    progress: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
) -> Result<TrainResult, TrainError> {
    let job: TrainJob = read_json(&workdir.join(JOB_FILE))?;
    let exec = LocalExecutor::new();
    let corpus_path = workdir.join(CORPUS_FILE);
    if corpus_path.exists() {
        exec.declare(read_json(&corpus_path)?, job.corpus.hash.clone());
    }
    exec.run(&job, workdir, progress)
}

pub(crate) fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, TrainError> {
    let bytes = std::fs::read(path).map_err(TrainError::io(path))?;
    serde_json::from_slice(&bytes).map_err(|source| TrainError::Json {
        path: path.into(),
        source,
    })
}

pub(crate) fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), TrainError> {
    let json = serde_json::to_vec_pretty(value).map_err(|source| TrainError::Json {
        path: path.into(),
        source,
    })?;
    rooflaw_cache::files::write_atomic(path, &json).map_err(TrainError::io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> TrainJob {
        TrainJob {
            arch: Architecture::dense(2, 64, 4, 2, 128),
            recipe: Recipe::small(1 << 16, 1),
            corpus: CorpusRef {
                name: "sotu".into(),
                hash: "abc".into(),
            },
            trainer: None,
        }
    }

    #[test]
    fn key_changes_with_any_input_and_survives_serde() {
        let a = job();
        let back: TrainJob = serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(a.key(), back.key());
        let mut b = a.clone();
        b.recipe.seed = 2;
        assert_ne!(a.key(), b.key());
        let mut c = a.clone();
        c.arch.width = 96;
        assert_ne!(a.key(), c.key());
    }

    #[test]
    fn recipe_errors_are_specific() {
        let mut r = Recipe::small(1000, 0);
        let err = r.validate().unwrap_err().to_string();
        assert!(err.contains("smaller than one batch"), "{err}");
        r.tokens = 1 << 20;
        r.lr_min = 1.0;
        assert!(r.validate().unwrap_err().to_string().contains("lr_min"));
    }

    #[test]
    fn mismatched_corpus_hash_is_refused() {
        let dir =
            std::env::temp_dir().join(format!("rooflaw-train-mismatch-{}", std::process::id()));
        let err = LocalExecutor::new()
            .run(&job(), &dir, &mut |_| ControlFlow::Continue(()))
            .unwrap_err()
            .to_string();
        assert!(err.contains("hash") && err.contains("abc"), "{err}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
