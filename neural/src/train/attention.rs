//! Causal grouped-query attention with RoPE as one fused CPU kernel with a
//! hand-written backward pass.
//!
//! Written from candle ops, attention is some twenty graph nodes between the
//! QKV projection and the output projection (the split into Q, K and V, the
//! transposes, RoPE, scale, scores, softmax, weighted values and the
//! reshapes back); on the backward pass each node costs a fresh zeroed
//! gradient and an add on top of its own work, the split pads every part's
//! gradient back to the full width, and the transposes are copies. Here it
//! is one node from the packed projection to the heads' outputs: per batch
//! row and KV head, the rotated queries and keys of the heads sharing that
//! KV head are gathered from the packed rows, and scores, softmax and
//! values are strided gemm calls. The backward pass recomputes the
//! probabilities instead of keeping them (one `t × t × head_dim` product,
//! as flash attention does).
use super::fused::{f32s, rotate_row, with_f32};
use super::vecmath::{softmax_grad_in_place, softmax_in_place};
use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor, bail};
use rayon::prelude::*;
use std::sync::Arc;

/// Attention over the packed projection `(batch·t, (heads + 2·kv_heads)·head_dim)`,
/// each row `[Q heads | K heads | V heads]` (not yet rotated), contiguous
/// f32; output `(batch·t, heads·head_dim)`, ready for the output projection.
pub struct CausalAttention {
    pub heads: usize,
    pub kv_heads: usize,
    pub seq: usize,
    /// RoPE tables `(max_seq, head_dim)`, "rotate half" layout.
    pub cos: Arc<Vec<f32>>,
    pub sin: Arc<Vec<f32>>,
}

/// The shapes of one call, checked once.
#[derive(Clone, Copy)]
struct Dims {
    batch: usize,
    heads: usize,
    kv_heads: usize,
    t: usize,
    hd: usize,
}

impl Dims {
    /// Floats per packed row.
    fn width(self) -> usize {
        (self.heads + 2 * self.kv_heads) * self.hd
    }

    fn group(self) -> usize {
        self.heads / self.kv_heads
    }

    fn scale(self) -> f32 {
        1.0 / (self.hd as f32).sqrt()
    }

    /// Floats of one head's `(t, head_dim)` matrix.
    fn head(self) -> usize {
        self.t * self.hd
    }

    /// Where head column `col` of batch row `b`'s first position starts in
    /// the packed rows (query heads first, then keys, then values).
    fn at(self, b: usize, col: usize) -> usize {
        b * self.t * self.width() + col * self.hd
    }
}

impl CausalAttention {
    fn dims(&self, shape: &Shape) -> Result<Dims> {
        let (rows, width) = shape.dims2()?;
        let (nh, nkv, t) = (self.heads, self.kv_heads, self.seq);
        let cols = nh + 2 * nkv;
        let hd = width / cols.max(1);
        if nkv == 0 || !nh.is_multiple_of(nkv) || t == 0 || hd == 0 || hd % 2 != 0 {
            bail!(
                "fused-attention: {nh} query heads over {nkv} KV heads, {t} positions, head size {hd}"
            );
        }
        if width != cols * hd
            || !rows.is_multiple_of(t)
            || self.cos.len() < t * hd
            || self.sin.len() < t * hd
        {
            bail!("fused-attention: {shape:?} is not {t}-position rows of {cols} heads");
        }
        Ok(Dims {
            batch: rows / t,
            heads: nh,
            kv_heads: nkv,
            t,
            hd,
        })
    }

    /// RoPE of the `t` rows of one head, `src` rows `src_rs` apart, into
    /// `dst` `(t, head_dim)`; `sign` −1 rotates back (the backward pass).
    fn rotate(&self, dst: &mut [f32], src: &[f32], src_rs: usize, d: Dims, sign: f32) {
        let hd = d.hd;
        for (i, y) in dst.chunks_exact_mut(hd).take(d.t).enumerate() {
            let at = i * hd..(i + 1) * hd;
            rotate_row(
                y,
                &src[i * src_rs..][..hd],
                &self.cos[at.clone()],
                &self.sin[at],
                sign,
            );
        }
    }
}

/// A strided matrix inside a slice: element `(i, j)` at `i·rs + j·cs`.
#[derive(Clone, Copy)]
struct Mat<'a> {
    data: &'a [f32],
    rows: usize,
    cols: usize,
    rs: usize,
    cs: usize,
}

impl<'a> Mat<'a> {
    /// Row-major `rows × cols` with rows `rs` apart.
    fn rows(data: &'a [f32], rows: usize, cols: usize, rs: usize) -> Self {
        Self {
            data,
            rows,
            cols,
            rs,
            cs: 1,
        }
    }

    fn t(self) -> Self {
        Self {
            rows: self.cols,
            cols: self.rows,
            rs: self.cs,
            cs: self.rs,
            ..self
        }
    }

    /// One past the last element used.
    fn span(self) -> usize {
        if self.rows == 0 || self.cols == 0 {
            0
        } else {
            (self.rows - 1) * self.rs + (self.cols - 1) * self.cs + 1
        }
    }
}

/// `dst = a · b` (or `dst += a · b` when `accumulate`), `dst` row-major
/// with rows `dst_rs` apart. One thread: the callers parallelise over heads.
#[allow(unsafe_code)]
fn matmul(dst: &mut [f32], dst_rs: usize, a: Mat, b: Mat, accumulate: bool) {
    let (m, k, n) = (a.rows, a.cols, b.cols);
    assert_eq!(k, b.rows, "inner dimensions");
    assert!(a.data.len() >= a.span() && b.data.len() >= b.span());
    assert!(dst.len() >= Mat::rows(dst, m, n, dst_rs).span());
    // SAFETY: the asserts above keep every index gemm computes from these
    // sizes and strides inside the three slices, and `dst` is borrowed
    // mutably, so it overlaps neither input.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            dst_rs.cast_signed(),
            accumulate,
            a.data.as_ptr(),
            a.cs.cast_signed(),
            a.rs.cast_signed(),
            b.data.as_ptr(),
            b.cs.cast_signed(),
            b.rs.cast_signed(),
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// The probabilities `softmax(scale · q kᵀ)` of one head, causal, into `p`
/// `(t, t)`; entries above the diagonal are zero.
fn probabilities(p: &mut [f32], q: &[f32], k: &[f32], d: Dims) {
    let (t, hd) = (d.t, d.hd);
    matmul(
        p,
        t,
        Mat::rows(q, t, hd, hd),
        Mat::rows(k, t, hd, hd).t(),
        false,
    );
    for (i, row) in p.chunks_exact_mut(t).enumerate() {
        let (past, future) = row.split_at_mut(i + 1);
        softmax_in_place(past, d.scale());
        future.fill(0.0);
    }
}

impl CausalAttention {
    fn forward(&self, qkv: &[f32], d: Dims) -> Vec<f32> {
        let (t, hd, group, head, w) = (d.t, d.hd, d.group(), d.head(), d.width());
        // Per (batch, head) first, so that the groups write disjoint chunks.
        let mut by_head = vec![0f32; d.batch * d.heads * head];
        by_head
            .par_chunks_mut(group * head)
            .enumerate()
            .for_each(|(bg, y)| {
                let (b, g) = (bg / d.kv_heads, bg % d.kv_heads);
                let (mut q, mut k, mut p) = (vec![0f32; head], vec![0f32; head], vec![0f32; t * t]);
                self.rotate(&mut k, &qkv[d.at(b, d.heads + g)..], w, d, 1.0);
                let v = Mat::rows(&qkv[d.at(b, d.heads + d.kv_heads + g)..], t, hd, w);
                for (j, y) in y.chunks_exact_mut(head).enumerate() {
                    self.rotate(&mut q, &qkv[d.at(b, g * group + j)..], w, d, 1.0);
                    probabilities(&mut p, &q, &k, d);
                    matmul(y, hd, Mat::rows(&p, t, t, t), v, false);
                }
            });
        // (batch, heads, t, hd) → (batch·t, heads·hd).
        let mut y = vec![0f32; by_head.len()];
        for (b, heads) in by_head.chunks_exact(d.heads * head).enumerate() {
            for (h, rows) in heads.chunks_exact(head).enumerate() {
                for (i, row) in rows.chunks_exact(hd).enumerate() {
                    let at = ((b * t + i) * d.heads + h) * hd;
                    y[at..at + hd].copy_from_slice(row);
                }
            }
        }
        y
    }

    /// The packed projection's gradient from `g`, the gradient of the
    /// output `(batch·t, heads·head_dim)`.
    fn backward(&self, qkv: &[f32], g: &[f32], d: Dims) -> Vec<f32> {
        let (t, hd, group, head, w) = (d.t, d.hd, d.group(), d.head(), d.width());
        let g_rs = d.heads * hd;
        // Per (batch, KV head): the group's query gradients, then the key's
        // and the value's, each `(t, hd)`, rotated back.
        let parts: Vec<Vec<f32>> = (0..d.batch * d.kv_heads)
            .into_par_iter()
            .map(|bg| {
                let (b, kv) = (bg / d.kv_heads, bg % d.kv_heads);
                let mut out = vec![0f32; (group + 2) * head];
                let (dq, rest) = out.split_at_mut(group * head);
                let (dk, dv) = rest.split_at_mut(head);
                let (mut q, mut k) = (vec![0f32; head], vec![0f32; head]);
                let (mut dq_rot, mut dk_rot) = (vec![0f32; head], vec![0f32; head]);
                let (mut p, mut ds) = (vec![0f32; t * t], vec![0f32; t * t]);
                self.rotate(&mut k, &qkv[d.at(b, d.heads + kv)..], w, d, 1.0);
                let v = Mat::rows(&qkv[d.at(b, d.heads + d.kv_heads + kv)..], t, hd, w);
                for (j, dq) in dq.chunks_exact_mut(head).enumerate() {
                    let h = kv * group + j;
                    self.rotate(&mut q, &qkv[d.at(b, h)..], w, d, 1.0);
                    // Head h's rows of the output gradient, `g_rs` apart.
                    let gh = Mat::rows(&g[b * t * g_rs + h * hd..], t, hd, g_rs);
                    probabilities(&mut p, &q, &k, d);
                    let pm = Mat::rows(&p, t, t, t);
                    matmul(dv, hd, pm.t(), gh, j > 0);
                    matmul(&mut ds, t, gh, v.t(), false);
                    // dS from dP, held in `ds`.
                    for (pr, dr) in p.chunks_exact(t).zip(ds.chunks_exact_mut(t)) {
                        softmax_grad_in_place(dr, pr, d.scale());
                    }
                    let dsm = Mat::rows(&ds, t, t, t);
                    matmul(&mut dq_rot, hd, dsm, Mat::rows(&k, t, hd, hd), false);
                    matmul(&mut dk_rot, hd, dsm.t(), Mat::rows(&q, t, hd, hd), j > 0);
                    self.rotate(dq, &dq_rot, hd, d, -1.0);
                }
                self.rotate(dk, &dk_rot, hd, d, -1.0);
                out
            })
            .collect();
        let mut dqkv = vec![0f32; qkv.len()];
        for (bg, part) in parts.iter().enumerate() {
            let (b, kv) = (bg / d.kv_heads, bg % d.kv_heads);
            let cols = (0..group)
                .map(|j| kv * group + j)
                .chain([d.heads + kv, d.heads + d.kv_heads + kv]);
            for (col, rows) in cols.zip(part.chunks_exact(head)) {
                for (i, row) in rows.chunks_exact(hd).enumerate() {
                    let at = d.at(b, col) + i * w;
                    dqkv[at..at + hd].copy_from_slice(row);
                }
            }
        }
        dqkv
    }
}

impl CustomOp1 for CausalAttention {
    fn name(&self) -> &'static str {
        "fused-attention"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let d = self.dims(l.shape())?;
        let y = self.forward(f32s(s, l, self.name())?, d);
        Ok((
            CpuStorage::F32(y),
            Shape::from((d.batch * d.t, d.heads * d.hd)),
        ))
    }

    fn bwd(&self, qkv: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let d = self.dims(qkv.shape())?;
        let dqkv = with_f32(qkv, |qkv| with_f32(g, |g| Ok(self.backward(qkv, g, d))))?;
        Ok(Some(Tensor::from_vec(dqkv, qkv.shape(), qkv.device())?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::ops::{RopeTables, agree, causal_mask, rope, softmax};
    use candle_core::Device;

    /// The same attention from primitive candle ops: split, transposed,
    /// rotated, K and V repeated per query head.
    fn reference(qkv: &Tensor, nh: usize, nkv: usize, t: usize, rt: &RopeTables) -> Result<Tensor> {
        let (rows, w) = qkv.dims2()?;
        let (b, hd) = (rows / t, w / (nh + 2 * nkv));
        let x = qkv.reshape((b, t, nh + 2 * nkv, hd))?;
        let part = |from, n| x.narrow(2, from, n)?.transpose(1, 2);
        let (cos, sin) = (rt.cos.narrow(0, 0, t)?, rt.sin.narrow(0, 0, t)?);
        let q = rope(&part(0, nh)?, &cos, &sin)?;
        let k = rope(&part(nh, nkv)?, &cos, &sin)?;
        let v = part(nh + nkv, nkv)?;
        let repeat = |x: &Tensor| {
            x.unsqueeze(2)?
                .broadcast_as((b, nkv, nh / nkv, t, hd))?
                .reshape((b, nh, t, hd))
        };
        let scores = (q.matmul(&repeat(&k)?.t()?)? * (1.0 / (hd as f64).sqrt()))?;
        let p = softmax(&scores.broadcast_add(&causal_mask(t, q.device())?)?)?;
        p.matmul(&repeat(&v)?)?
            .transpose(1, 2)?
            .reshape((b * t, nh * hd))
    }

    fn op(nh: usize, nkv: usize, t: usize, rt: &RopeTables) -> CausalAttention {
        let (cos, sin) = rt.shared();
        CausalAttention {
            heads: nh,
            kv_heads: nkv,
            seq: t,
            cos,
            sin,
        }
    }

    #[test]
    fn fused_attention_matches_primitive_ops_forward_and_backward() {
        let dev = Device::Cpu;
        // Plain multi-head and grouped-query, odd sizes.
        for (b, nh, nkv, t, hd) in [(2, 3, 3, 5, 4), (2, 4, 2, 7, 6), (1, 6, 1, 4, 8)] {
            let rt = RopeTables::new(9, hd, 10_000.0, &dev).unwrap();
            agree(
                &[b * t, (nh + 2 * nkv) * hd],
                |qkv| qkv.apply_op1(op(nh, nkv, t, &rt)),
                |qkv| reference(qkv, nh, nkv, t, &rt),
            );
        }
    }

    #[test]
    fn mismatched_shapes_are_errors_not_panics() {
        let dev = Device::Cpu;
        let rt = RopeTables::new(8, 4, 10_000.0, &dev).unwrap();
        let x = |rows, w| Tensor::zeros((rows, w), candle_core::DType::F32, &dev).unwrap();
        // 4 query heads over 2 KV heads of 4: rows of 32.
        assert!(x(10, 32).apply_op1(op(4, 2, 5, &rt)).is_ok());
        assert!(x(10, 30).apply_op1(op(4, 2, 5, &rt)).is_err());
        assert!(x(11, 32).apply_op1(op(4, 2, 5, &rt)).is_err());
        assert!(x(10, 32).apply_op1(op(3, 2, 5, &rt)).is_err());
        // Positions past the RoPE tables.
        assert!(x(18, 32).apply_op1(op(4, 2, 9, &rt)).is_err());
    }
}
