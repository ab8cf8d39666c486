//! rooflaw's candle code: training small decoder-only transformers
//! ([`train`]), running them for real with a KV cache ([`train::infer`]),
//! timing them as the roofline defines prefill and decode ([`measure`]) and
//! measuring this machine ([`probe`]), with the pipeline stages that call
//! them ([`registry`]).
//!
//! Why a crate of its own: candle, gemm and tokenizers are most of rooflaw's
//! build. Keeping them here leaves `rooflaw-stdlib` (architectures, presets,
//! roofline, laws, search, reports) free of them, so its tests and the
//! science around it build and iterate without candle.
//!
//! The dependency runs one way: this crate depends on `rooflaw-stdlib` for
//! the plain types (`Architecture`, `Workload`, `Precision`, hardware
//! presets) and the helpers stages share (`rooflaw_stdlib::stages::args`,
//! `candidates`), never the reverse. The `train`, `measure` and `probe` stage
//! kinds live here next to the code they run, and [`registry`] is
//! `rooflaw_stdlib::registry()` with them added: the CLI calls it instead,
//! with no trait object between the engine and candle.
//!
//! [`measure`] and [`probe`] return plain rows (a struct per row); the stages
//! turn them into the engine's tables.
pub mod measure;
pub mod probe;
pub mod stages;
pub mod train;

pub use stages::registry;
