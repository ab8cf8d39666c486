//! rooflaw's science: architectures, hardware and model presets, the roofline
//! model, loss laws and fitting, training, search and Pareto, reports.
pub mod arch;
pub mod fit;
pub mod hardware;
pub mod law;
pub mod precision;

pub use arch::Architecture;
pub use hardware::Hardware;
pub use law::{Law, LawError};
pub use precision::{Dtype, Precision};
