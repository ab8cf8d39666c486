//! Input checks run before every evaluation, so that a bad architecture,
//! chip or workload is a clear error rather than an infinity or a NaN (the
//! architecture's own rules are [`Architecture::validate`]'s).
use crate::arch::{ArchError, Architecture};
use crate::hardware::Hardware;
use crate::precision::Dtype;
use crate::workload::Workload;

#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
pub enum RooflineError {
    #[error("architecture: {0}")]
    Architecture(#[from] ArchError),
    #[error("workload: {0} must be at least 1")]
    Workload(&'static str),
    #[error("workload: prompt and generate are both 0, so there is nothing to run")]
    Empty,
    #[error(
        "workload: context + prompt + generate = {needed} tokens exceeds the model's maximum \
         context of {max} tokens"
    )]
    Context { needed: u64, max: u32 },
    #[error("hardware: {field} must be a positive finite number, got {value}")]
    Hardware { field: &'static str, value: f64 },
    #[error("hardware: {field} must be in (0, 1], got {value}")]
    Efficiency { field: &'static str, value: f64 },
    #[error("hardware lists no peak usable for {} (nor a wider type)", .0.name())]
    NoPeak(Dtype),
}

pub(crate) fn workload(a: &Architecture, w: &Workload) -> Result<(), RooflineError> {
    if w.batch == 0 {
        return Err(RooflineError::Workload("batch"));
    }
    if w.prompt == 0 && w.generate == 0 {
        return Err(RooflineError::Empty);
    }
    if let Some(max) = a.max_context
        && w.final_context() > u64::from(max)
    {
        return Err(RooflineError::Context {
            needed: w.final_context(),
            max,
        });
    }
    Ok(())
}

pub(crate) fn hardware(h: &Hardware) -> Result<(), RooflineError> {
    for (field, value) in [("bandwidth", h.bandwidth), ("memory", h.memory)] {
        if !(value.is_finite() && value > 0.0) {
            return Err(RooflineError::Hardware { field, value });
        }
    }
    if !(h.launch.is_finite() && h.launch >= 0.0) {
        return Err(RooflineError::Hardware {
            field: "launch",
            value: h.launch,
        });
    }
    for (field, value) in [
        ("efficiency_compute", h.efficiency_compute),
        ("efficiency_memory", h.efficiency_memory),
        ("efficiency_vector", h.vector_efficiency()),
    ] {
        if !(value > 0.0 && value <= 1.0) {
            return Err(RooflineError::Efficiency { field, value });
        }
    }
    Ok(())
}
