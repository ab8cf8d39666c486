//! rooflaw's engine: the stage DAG, cache keys over canonical manifests,
//! plans with typed reasons, and an incremental parallel scheduler.
//!
//! Data flows one way: `Spec` (from the dsl) → [`Session`] (resolved params,
//! DAG) → plan or run → artifacts in the cache → exported outputs.
pub mod artifact;
pub mod export;
pub mod graph;
pub mod progress;
pub mod reason;
mod report_dir;
pub mod session;
pub mod stage;

pub use artifact::{Artifact, Body, Column, Table};
pub use graph::Dag;
pub use progress::{Bars, Progress};
pub use reason::Reason;
pub use session::{Action, Options, Outcome, PlanEntry, RunError, Session};
pub use stage::{Inputs, MapStage, Registry, Reporter, RunCtx, StageError, StageKind};
