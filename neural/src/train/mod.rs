//! Training small decoder-only transformers with candle (CPU by default,
//! CUDA with the `cuda` feature): the model, the corpus and tokenizer, the
//! training loop with checkpoints and resume, and the job/executor boundary
//! that the engine's `train` stage calls.
// Layer and optimizer names (RMSNorm, SwiGLU, AdamW, MoE) are prose here,
// not code identifiers.
#![allow(clippy::doc_markdown)]
pub(crate) mod attention;
pub(crate) mod checkpoint;
pub mod command;
pub mod corpus;
pub mod declared;
pub(crate) mod fused;
pub mod infer;
pub mod job;
pub mod model;
pub mod ops;
pub mod optim;
pub mod slurm;
pub mod store;
pub mod tokenizer;
pub mod tokens;
pub mod trainer;
pub(crate) mod vecmath;

pub use corpus::{Corpus, Split};
pub use declared::{CorpusFormat, CorpusSpec};
pub use infer::{InferModel, KvCache};
pub use job::{
    CorpusRef, DeviceKind, Executor, LocalExecutor, Precision, Recipe, TrainJob, TrainResult,
};
pub use model::Model;
pub use tokenizer::{ByteTokenizer, Tokenizer};
pub use tokens::{TokenDtype, Tokens};
pub use trainer::{Progress, train};

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("invalid architecture: {0}")]
    Architecture(String),
    #[error("invalid recipe: {0}")]
    Recipe(String),
    #[error("corpus: {0}")]
    Corpus(String),
    #[error("unknown corpus `{name}` (known: {known})")]
    UnknownCorpus { name: String, known: String },
    #[error("corpus `{name}` has hash {actual}, but the job was made for {expected}")]
    CorpusMismatch {
        name: String,
        expected: String,
        actual: String,
    },
    #[error(
        "training {arch} diverged at step {step}: loss {loss} (initial {initial}); \
         lower the learning rate or check the architecture"
    )]
    Diverged {
        arch: String,
        step: u64,
        loss: f64,
        initial: f64,
    },
    #[error("training {arch} interrupted after step {step}; checkpoint saved, run again to resume")]
    Interrupted { arch: String, step: u64 },
    /// The run was cancelled (Ctrl-C) between two timed runs.
    #[error("cancelled")]
    Cancelled,
    #[error("checkpoint {}: {why}", path.display())]
    Checkpoint { path: PathBuf, why: String },
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {source}", path.display())]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{0}")]
    Command(String),
    #[error("candle: {0}")]
    Candle(#[from] candle_core::Error),
    /// Refused before allocating: it would not fit.
    #[error("{0}")]
    TooLarge(String),
}

impl TrainError {
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
