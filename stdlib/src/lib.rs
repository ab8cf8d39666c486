//! rooflaw's science: architectures, hardware and model presets, the roofline
//! model, loss laws and fitting, training, search and Pareto, reports.
pub mod advise;
pub mod arch;
pub mod budget;
pub mod hardware;
pub mod pareto;
pub mod precision;
pub mod sample;
pub mod search;
pub mod space;

pub use arch::Architecture;
pub use hardware::Hardware;
pub use precision::{Dtype, Precision};
