//! The two passes of inference, one type for every module that names them
//! (operators, calibration, the closed-form advice).
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The whole prompt of every sequence, from an empty cache.
    Prefill,
    /// One new token per sequence; costs are affine in the context length.
    Decode,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Prefill => "prefill",
            Phase::Decode => "decode",
        }
    }
}
