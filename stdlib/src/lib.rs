//! rooflaw's science: architectures, hardware and model presets, the roofline
//! model, loss laws and fitting, training, search and Pareto, reports.
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
#[cfg(feature = "train")]
pub mod measure;
pub mod models;
pub mod pareto;
pub mod phase;
pub mod precision;
mod presets;
#[cfg(feature = "train")]
pub mod probe;
pub mod report;
pub mod rng;
pub mod roofline;
pub mod runtime;
pub mod sample;
pub mod search;
pub mod space;
pub mod stages;
#[cfg(feature = "train")]
pub mod train;
pub mod workload;

pub use arch::Architecture;
pub use hardware::{Hardware, HardwarePreset};
pub use law::{Law, LawError};
pub use models::ModelPreset;
pub use precision::{Dtype, Precision};
pub use runtime::{Runtime, RuntimeRef};
pub use stages::registry;
pub use workload::{Attention, Experts, Workload};
