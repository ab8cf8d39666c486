//! Fused CPU kernels with hand-written backward passes for the ops that
//! dominate a small model's step once matmuls are fast: RMSNorm, RoPE,
//! causal softmax, SwiGLU and cross-entropy. Each replaces 4–7 primitive
//! candle ops (each a full pass and a fresh allocation, forward and again in
//! backward) with one pass. `ops` uses them on CPU and falls back to the
//! primitive versions on other devices; tests check both agree, gradients
//! included. Training's attention (RoPE included) is one kernel of its own
//! in [`super::attention`]; the RoPE and causal softmax here serve the
//! KV-cache inference.
use super::vecmath::{dot, exp, max, sigmoid, softmax_grad_in_place, softmax_in_place, sum};
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Storage, Tensor, bail,
};
use std::sync::Arc;

/// The f32 slice of a contiguous CPU input; `what` names the kernel in errors.
pub(crate) fn f32s<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let Some((a, b)) = l.contiguous_offsets() else {
        bail!("{what}: input must be contiguous");
    };
    match s {
        CpuStorage::F32(v) => Ok(&v[a..b]),
        _ => bail!("{what}: only f32 is supported"),
    }
}

/// `f` on the f32 CPU slice behind `t` (made contiguous first): a backward
/// pass reads its inputs in place instead of copying them out.
pub(crate) fn with_f32<R>(t: &Tensor, f: impl FnOnce(&[f32]) -> Result<R>) -> Result<R> {
    with_cpu(t, |s, l| f(f32s(s, l, "fused backward")?))
}

/// `f` on the CPU storage and layout behind `t`, made contiguous.
fn with_cpu<R>(t: &Tensor, f: impl FnOnce(&CpuStorage, &Layout) -> Result<R>) -> Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(s) => f(s, layout),
        _ => bail!("the fused kernels run on the CPU"),
    }
}

/// RMSNorm over the last dimension: `y = x · r · w`, `r = 1/sqrt(mean(x²) + eps)`.
pub struct RmsNorm {
    pub eps: f32,
}

impl CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "fused-rms-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, self.name())?;
        let w = f32s(s2, l2, self.name())?;
        let d = w.len();
        let mut y = vec![0f32; x.len()];
        for (xr, yr) in x.chunks_exact(d).zip(y.chunks_exact_mut(d)) {
            let r = inv_rms(xr, self.eps);
            for ((yv, xv), wv) in yr.iter_mut().zip(xr).zip(w) {
                *yv = xv * r * wv;
            }
        }
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _y: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let (gx, gw) = with_f32(x, |xv| {
            with_f32(w, |wv| with_f32(g, |gv| Ok(self.grads(xv, wv, gv))))
        })?;
        let gx = Tensor::from_vec(gx, x.shape(), x.device())?;
        let gw = Tensor::from_vec(gw, w.shape(), w.device())?;
        Ok((Some(gx), Some(gw)))
    }
}

impl RmsNorm {
    /// The gradients of `x` and `w` from the output gradient `gv`.
    fn grads(&self, xv: &[f32], wv: &[f32], gv: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let d = wv.len();
        let mut gx = vec![0f32; xv.len()];
        let mut gw = vec![0f32; d];
        for ((xr, gr), gxr) in xv
            .chunks_exact(d)
            .zip(gv.chunks_exact(d))
            .zip(gx.chunks_exact_mut(d))
        {
            let r = inv_rms(xr, self.eps);
            // gx = r · (g·w − x̂ · mean(g·w·x̂)) with x̂ = x · r; g·w is held
            // in gx until the mean is known.
            for (((gw, gxr), &x), (&g, &w)) in gw
                .iter_mut()
                .zip(gxr.iter_mut())
                .zip(xr)
                .zip(gr.iter().zip(wv))
            {
                *gw += g * x * r;
                *gxr = g * w;
            }
            let mean = dot(gxr, xr) * r * r / d as f32;
            for (gxr, &x) in gxr.iter_mut().zip(xr) {
                *gxr = r * (*gxr - x * mean);
            }
        }
        (gx, gw)
    }
}

fn inv_rms(row: &[f32], eps: f32) -> f32 {
    let ms = dot(row, row) / row.len() as f32;
    1.0 / (ms + eps).sqrt()
}

/// RoPE ("rotate half") on `(…, seq, head_dim)` with tables `(seq, head_dim)`.
/// Its backward is the same rotation by the negated angle.
#[derive(Clone)]
pub struct Rope {
    pub cos: Arc<Vec<f32>>,
    pub sin: Arc<Vec<f32>>,
    pub seq: usize,
    pub head_dim: usize,
    /// Rotate by −θ (the backward pass).
    pub inverse: bool,
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "fused-rope"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s, l, self.name())?;
        let (t, hd) = (self.seq, self.head_dim);
        let dims = l.shape().dims();
        if dims.len() < 2 || dims[dims.len() - 1] != hd || dims[dims.len() - 2] != t {
            bail!("fused-rope: shape {dims:?} does not end in ({t}, {hd})");
        }
        let sign = if self.inverse { -1.0 } else { 1.0 };
        let mut y = vec![0f32; x.len()];
        for (row, (xr, yr)) in x.chunks_exact(hd).zip(y.chunks_exact_mut(hd)).enumerate() {
            let pos = row % t;
            let at = pos * hd..(pos + 1) * hd;
            rotate_row(yr, xr, &self.cos[at.clone()], &self.sin[at], sign);
        }
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let inv = Self {
            inverse: !self.inverse,
            ..self.clone()
        };
        Ok(Some(g.contiguous()?.apply_op1_no_bwd(&inv)?))
    }
}

/// RoPE of one row `x` at the position whose tables are `cos` and `sin`
/// ("rotate half" layout) into `y`; `sign` −1 rotates back.
pub(crate) fn rotate_row(y: &mut [f32], x: &[f32], cos: &[f32], sin: &[f32], sign: f32) {
    let half = x.len() / 2;
    let (x1, x2) = x.split_at(half);
    let (c1, c2) = cos.split_at(half);
    let (s1, s2) = sin.split_at(half);
    let (y1, y2) = y.split_at_mut(half);
    for ((y1, y2), ((&a, &b), ((&c1, &c2), (&s1, &s2)))) in y1.iter_mut().zip(y2).zip(
        x1.iter()
            .zip(x2)
            .zip(c1.iter().zip(c2).zip(s1.iter().zip(s2))),
    ) {
        *y1 = a * c1 - sign * b * s1;
        *y2 = b * c2 + sign * a * s2;
    }
}

/// Softmax over the last axis of `(…, seq, seq)` scores with a causal mask:
/// row `i` attends to columns `0..=i` only.
pub struct CausalSoftmax;

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "fused-causal-softmax"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s, l, self.name())?;
        let t = *l.shape().dims().last().unwrap_or(&0);
        if t == 0 || l.shape().dims().len() < 2 || l.shape().dims()[l.shape().rank() - 2] != t {
            bail!(
                "fused-causal-softmax: expects (…, seq, seq), got {:?}",
                l.shape()
            );
        }
        let mut y = vec![0f32; x.len()];
        for (row, (xr, yr)) in x.chunks_exact(t).zip(y.chunks_exact_mut(t)).enumerate() {
            let n = row % t + 1;
            yr[..n].copy_from_slice(&xr[..n]);
            softmax_in_place(&mut yr[..n], 1.0);
        }
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let t = y.dim(candle_core::D::Minus1)?;
        let dx = with_f32(y, |y| with_f32(g, |g| Ok(softmax_grad(y, g, t))))?;
        Ok(Some(Tensor::from_vec(dx, y.shape(), y.device())?))
    }
}

/// `dx = y · (g − Σ g·y)` per row of `t`.
fn softmax_grad(y: &[f32], g: &[f32], t: usize) -> Vec<f32> {
    let mut dx = g.to_vec();
    for (yr, dr) in y.chunks_exact(t).zip(dx.chunks_exact_mut(t)) {
        softmax_grad_in_place(dr, yr, 1.0);
    }
    dx
}

/// SwiGLU on `(…, 2f)` = [gate | up] → `(…, f)`: `silu(gate) · up`.
pub struct SwiGlu;

impl CustomOp1 for SwiGlu {
    fn name(&self) -> &'static str {
        "fused-swiglu"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let h = f32s(s, l, self.name())?;
        let mut dims = l.shape().dims().to_vec();
        let two_f = dims.last().copied().unwrap_or(0);
        if two_f % 2 != 0 {
            bail!("fused-swiglu: last dimension {two_f} is odd");
        }
        let f = two_f / 2;
        let mut y = vec![0f32; h.len() / 2];
        for (row, y) in h.chunks_exact(two_f).zip(y.chunks_exact_mut(f)) {
            let (gate, up) = row.split_at(f);
            swiglu_row(y, gate, up);
        }
        *dims.last_mut().expect("rank checked") = f;
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }

    fn bwd(&self, h: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let f = h.dim(candle_core::D::Minus1)? / 2;
        let dh = with_f32(h, |h| with_f32(g, |g| Ok(swiglu_grad(h, g, f))))?;
        Ok(Some(Tensor::from_vec(dh, h.shape(), h.device())?))
    }
}

/// SwiGLU's input gradient from `h` `(…, 2f)` and the output gradient
/// `g` `(…, f)`.
fn swiglu_grad(h: &[f32], g: &[f32], f: usize) -> Vec<f32> {
    let mut dh = vec![0f32; h.len()];
    for ((row, gr), dr) in h
        .chunks_exact(2 * f)
        .zip(g.chunks_exact(f))
        .zip(dh.chunks_exact_mut(2 * f))
    {
        let (gate, up) = row.split_at(f);
        let (dg, du) = dr.split_at_mut(f);
        swiglu_grad_row(dg, du, gate, up, gr);
    }
    dh
}

/// One row of [`SwiGlu`] (a function of its own for the reason below).
#[inline(never)]
fn swiglu_row(y: &mut [f32], gate: &[f32], up: &[f32]) {
    for (y, (&a, &u)) in y.iter_mut().zip(gate.iter().zip(up)) {
        *y = a * sigmoid(a) * u;
    }
}

/// One row of [`swiglu_grad`]. A function of its own because its slice
/// arguments are known not to alias: inlined, the loop kept runtime overlap
/// checks that sent it down the scalar path (measured: 10 % of a step).
#[inline(never)]
fn swiglu_grad_row(dg: &mut [f32], du: &mut [f32], gate: &[f32], up: &[f32], g: &[f32]) {
    for (((dg, du), (&a, &u)), &g) in dg.iter_mut().zip(du).zip(gate.iter().zip(up)).zip(g) {
        let s = sigmoid(a);
        *du = g * a * s;
        *dg = g * u * s * (1.0 + a * (1.0 - s));
    }
}

/// Mean cross-entropy of logits `(n, vocab)` against u32 targets `(n)`.
pub struct CrossEntropy;

fn log_softmax_row(row: &[f32]) -> (f32, f32) {
    let m = max(row);
    let mut e = [0f32; 64];
    let total: f32 = row
        .chunks(e.len())
        .map(|c| {
            let e = &mut e[..c.len()];
            for (e, v) in e.iter_mut().zip(c) {
                *e = exp(v - m);
            }
            sum(e)
        })
        .sum();
    (m, total.ln())
}

/// The `n` u32 targets of a cross-entropy.
fn targets<'a>(s: &'a CpuStorage, l: &Layout, n: usize) -> Result<&'a [u32]> {
    let (Some((a, b)), CpuStorage::U32(t)) = (l.contiguous_offsets(), s) else {
        bail!("targets must be contiguous u32")
    };
    let t = &t[a..b];
    if t.len() != n {
        bail!("fused-cross-entropy: {n} rows but {} targets", t.len());
    }
    Ok(t)
}

impl CustomOp2 for CrossEntropy {
    fn name(&self) -> &'static str {
        "fused-cross-entropy"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = f32s(s1, l1, self.name())?;
        let (n, v) = l1.shape().dims2()?;
        let t = targets(s2, l2, n)?;
        let mut total = 0f64;
        for (row, &tg) in x.chunks_exact(v).zip(t) {
            if tg as usize >= v {
                bail!("target {tg} out of range for vocab {v}");
            }
            let (m, lse) = log_softmax_row(row);
            total += f64::from(m + lse - row[tg as usize]);
        }
        Ok((
            CpuStorage::F32(vec![(total / n as f64) as f32]),
            Shape::from(()),
        ))
    }

    fn bwd(
        &self,
        x: &Tensor,
        t: &Tensor,
        _loss: &Tensor,
        g: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let scale = g.to_dtype(DType::F32)?.to_scalar::<f32>()?;
        let (n, v) = x.dims2()?;
        let dx = with_f32(x, |xv| {
            with_cpu(t, |s, l| {
                Ok(cross_entropy_grad(xv, targets(s, l, n)?, v, scale))
            })
        })?;
        Ok((Some(Tensor::from_vec(dx, (n, v), x.device())?), None))
    }
}

/// Cross-entropy's logit gradient, `scale` the loss's gradient:
/// `(softmax(x) − onehot(t)) · scale / n` over rows of `v`.
fn cross_entropy_grad(x: &[f32], t: &[u32], v: usize, scale: f32) -> Vec<f32> {
    let scale = scale / t.len() as f32;
    let mut dx = vec![0f32; x.len()];
    for ((row, dr), &tg) in x.chunks_exact(v).zip(dx.chunks_exact_mut(v)).zip(t) {
        let (m, lse) = log_softmax_row(row);
        for (d, r) in dr.iter_mut().zip(row) {
            *d = exp(r - m - lse) * scale;
        }
        dr[tg as usize] -= scale;
    }
    dx
}
