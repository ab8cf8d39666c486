//! rooflaw's science: architectures, hardware and model presets, the roofline
//! model, loss laws and fitting, search and Pareto, reports. Training,
//! inference, `measure` and `probe` (everything that needs candle) are in
//! `rooflaw-neural`, which depends on this crate.
pub mod advise;
pub mod arch;
pub mod budget;
pub mod calibrate;
pub mod clock;
pub mod eta;
pub mod fit;
pub mod format;
pub mod gguf;
pub mod hardware;
pub mod hf;
pub mod law;
pub mod machine;
pub mod models;
pub mod pareto;
pub mod phase;
pub mod precision;
mod presets;
pub mod report;
pub mod rng;
pub mod roofline;
pub mod runtime;
pub mod sample;
pub mod search;
pub mod space;
pub mod stages;
pub mod workload;

pub use arch::Architecture;
pub use hardware::{Hardware, HardwarePreset};
pub use law::{Law, LawError};
pub use models::ModelPreset;
pub use precision::{Dtype, Precision};
pub use runtime::{Runtime, RuntimeRef};
pub use stages::registry;
pub use workload::{Attention, Experts, Workload};
