//! rooflaw's science: architectures, hardware and model presets, the roofline
//! model, loss laws and fitting, training, search and Pareto, reports.
pub mod arch;
pub mod hardware;
pub mod precision;
pub mod report;

pub use arch::Architecture;
pub use hardware::Hardware;
pub use precision::{Dtype, Precision};
