//! Peak matmul throughput, element-wise bandwidth and per-op dispatch cost
//! of candle on the CPU, measured through the same library the `train` and
//! `measure` stages run on.
use std::time::Instant;

use candle_core::{DType, Device, Tensor};

/// Two `n×n` operands in one datatype, multiplied on demand.
pub(crate) struct Square {
    a: Tensor,
    b: Tensor,
}

impl Square {
    /// The operands, after one untimed product (which fails here if the
    /// backend has no kernel for `dtype`, and pages in the allocator's
    /// buffers so the first timed run is not charged for them).
    pub(crate) fn new(dev: &Device, dtype: DType, n: usize) -> candle_core::Result<Self> {
        let a = Tensor::randn(0f32, 1.0, (n, n), dev)?.to_dtype(dtype)?;
        let b = Tensor::randn(0f32, 1.0, (n, n), dev)?.to_dtype(dtype)?;
        drop(a.matmul(&b)?);
        Ok(Self { a, b })
    }

    /// Seconds of each product: at least `min_reps`, and more until
    /// `budget_s` has passed.
    pub(crate) fn time(&self, min_reps: usize, budget_s: f64) -> candle_core::Result<Vec<f64>> {
        let start = Instant::now();
        let mut times = Vec::new();
        while times.len() < min_reps || start.elapsed().as_secs_f64() < budget_s {
            let t = Instant::now();
            let c = self.a.matmul(&self.b)?;
            // CPU ops are synchronous; on an accelerator this would need a sync.
            times.push(t.elapsed().as_secs_f64());
            drop(c);
            if times.len() >= 1000 {
                break;
            }
        }
        Ok(times)
    }
}

/// Seconds per op of adding two one-element tensors: what candle costs per
/// operation before any data moves (shape checks, output allocation,
/// dispatch). Each sample is the mean over `batch` ops, which keeps the
/// clock's own cost out of it.
pub(crate) fn time_tiny_op(
    dev: &Device,
    samples: usize,
    batch: usize,
) -> candle_core::Result<Vec<f64>> {
    let a = Tensor::new(&[1f32], dev)?;
    let b = Tensor::new(&[2f32], dev)?;
    for _ in 0..batch {
        drop(a.add(&b)?);
    }
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let t = Instant::now();
        for _ in 0..batch {
            drop(std::hint::black_box(a.add(&b)?));
        }
        out.push(t.elapsed().as_secs_f64() / batch as f64);
    }
    Ok(out)
}

/// Bytes per second of candle adding two `elems`-element f32 tensors, one
/// rate per pass, counted as STREAM counts (two reads and a write per
/// element): the rate of the element-wise kernels a forward pass is full
/// of (norms, `RoPE`, softmax, residual adds), which candle runs on
/// `CANDLE_NUM_THREADS` threads rather than gemm's pool.
pub(crate) fn elementwise_rates(
    dev: &Device,
    elems: usize,
    passes: usize,
) -> candle_core::Result<Vec<f64>> {
    let a = Tensor::randn(0f32, 1.0, elems, dev)?;
    let b = Tensor::randn(0f32, 1.0, elems, dev)?;
    drop(a.add(&b)?);
    let bytes = 3.0 * 4.0 * elems as f64;
    let mut out = Vec::with_capacity(passes);
    for _ in 0..passes {
        let t = Instant::now();
        let c = std::hint::black_box(a.add(&b)?);
        out.push(bytes / t.elapsed().as_secs_f64());
        drop(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_products_and_tiny_ops_take_positive_time() {
        let t = Square::new(&Device::Cpu, DType::F32, 64)
            .unwrap()
            .time(3, 0.0)
            .unwrap();
        assert_eq!(t.len(), 3);
        assert!(t.iter().all(|s| *s > 0.0));
        let l = time_tiny_op(&Device::Cpu, 5, 10).unwrap();
        assert!(l.iter().all(|s| *s > 0.0 && *s < 1e-2));
        let bw = elementwise_rates(&Device::Cpu, 1 << 16, 3).unwrap();
        assert_eq!(bw.len(), 3);
        assert!(bw.iter().all(|r| r.is_finite() && *r > 0.0));
    }
}
