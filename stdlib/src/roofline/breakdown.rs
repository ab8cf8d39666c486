//! Per-operator rows for `rooflaw roofline --ops` and reports.
use serde::{Serialize, Serializer};

use super::ops::Op;
use super::{Bound, Cost};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpRow {
    pub name: &'static str,
    /// Instances per pass (the layer count, or 1).
    pub count: f64,
    /// Which rates it runs at: `matmul`, `head` (the LM head's embedding
    /// type) or `vector` (element-wise: the vector type and, where the
    /// hardware has one, the element-wise bandwidth efficiency).
    pub engine: &'static str,
    /// Kernel launches of all instances (more than `count` for experts run
    /// in a loop), each charged the hardware's launch overhead.
    pub kernels: f64,
    /// FLOPs of all instances.
    pub flops: f64,
    pub weight_bytes: f64,
    /// Activation bytes read plus written.
    pub activation_bytes: f64,
    pub kv_read_bytes: f64,
    pub kv_write_bytes: f64,
    /// FLOPs per byte moved.
    pub intensity: f64,
    pub bound: Bound,
    /// Seconds, all instances, launch overhead included.
    #[serde(rename = "time_ms", serialize_with = "millis")]
    pub time: f64,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's serialize_with signature
fn millis<S: Serializer>(t: &f64, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(t * 1e3)
}

impl OpRow {
    /// `per` divides decode totals into a mean step.
    pub(super) fn new(op: &Op, c: Cost, per: f64) -> OpRow {
        let bytes = c.weight + c.act + c.kv_read + c.kv_write;
        OpRow {
            name: op.name,
            count: op.count,
            engine: op.engine.name(),
            kernels: op.count * op.launches,
            flops: c.flops / per,
            weight_bytes: c.weight / per,
            activation_bytes: c.act / per,
            kv_read_bytes: c.kv_read / per,
            kv_write_bytes: c.kv_write / per,
            intensity: if bytes > 0.0 { c.flops / bytes } else { 0.0 },
            bound: c.bound(),
            time: c.time / per,
        }
    }
}

/// Both phases' rows. Prefill rows cover the whole prompt; decode rows are
/// one mean step (totals divided by `decode_steps`), so they sum to the
/// per-token decode time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Breakdown {
    pub prefill: Vec<OpRow>,
    pub decode: Vec<OpRow>,
    pub decode_steps: u32,
}
