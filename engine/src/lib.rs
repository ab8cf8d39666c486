//! rooflaw's engine: the stage DAG, cache keys over canonical manifests,
//! plans with typed reasons, and an incremental parallel scheduler.
//!
//! Data flows one way: `Spec` (from the dsl) → [`Session`] (resolved params,
//! DAG) → plan or run → artifacts in the cache → exported outputs.
pub mod artifact;
pub mod contract;
mod execute;
pub mod export;
pub mod graph;
pub mod manifest;
mod plan;
pub mod progress;
pub mod reason;
mod report_dir;
mod resolve;
mod schedule;
pub mod session;
pub mod stage;

pub use artifact::{Artifact, Body, Column, Table};
pub use contract::Contract;
pub use graph::Dag;
pub use manifest::{KEY_SCHEMA, Manifest};
pub use plan::{Action, Options, PlanEntry};
pub use progress::{Bars, Progress};
pub use reason::Reason;
pub use schedule::{Outcome, RunError, RunFailure};
pub use session::Session;
pub use stage::{Inputs, MapStage, Registry, Reporter, RunCtx, StageError, StageKind};
