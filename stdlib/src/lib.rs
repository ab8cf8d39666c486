//! rooflaw's science: architectures, hardware and model presets, the roofline
//! model, loss laws and fitting, training, search and Pareto, reports.
pub mod arch;

pub use arch::Architecture;
