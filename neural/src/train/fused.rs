//! Fused CPU kernels with hand-written backward passes for the ops that
//! dominate a small model's step once matmuls are fast: RMSNorm, RoPE,
//! causal softmax, SwiGLU and cross-entropy. Each replaces 4–7 primitive
//! candle ops (each a full pass and a fresh allocation, forward and again in
//! backward) with one pass. `ops` uses them on CPU and falls back to the
//! primitive versions on other devices; tests check both agree, gradients
//! included.
use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Result, Shape, Tensor, bail};
use std::sync::Arc;

fn f32s<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> Result<&'a [f32]> {
    let Some((a, b)) = l.contiguous_offsets() else {
        bail!("{what}: input must be contiguous");
    };
    match s {
        CpuStorage::F32(v) => Ok(&v[a..b]),
        _ => bail!("{what}: only f32 is supported"),
    }
}

fn vec_of(t: &Tensor) -> Result<Vec<f32>> {
    t.flatten_all()?.to_dtype(DType::F32)?.to_vec1()
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
        let (xv, wv, gv) = (vec_of(x)?, vec_of(w)?, vec_of(g)?);
        let d = wv.len();
        let mut gx = vec![0f32; xv.len()];
        let mut gw = vec![0f32; d];
        for ((xr, gr), gxr) in xv
            .chunks_exact(d)
            .zip(gv.chunks_exact(d))
            .zip(gx.chunks_exact_mut(d))
        {
            let r = inv_rms(xr, self.eps);
            // dot = mean(g · w · x̂) with x̂ = x · r.
            let mut dot = 0f32;
            for i in 0..d {
                let xh = xr[i] * r;
                gw[i] += gr[i] * xh;
                dot += gr[i] * wv[i] * xh;
            }
            dot /= d as f32;
            for i in 0..d {
                gxr[i] = r * (gr[i] * wv[i] - xr[i] * r * dot);
            }
        }
        let gx = Tensor::from_vec(gx, x.shape(), x.device())?;
        let gw = Tensor::from_vec(gw, w.shape(), w.device())?;
        Ok((Some(gx), Some(gw)))
    }
}

fn inv_rms(row: &[f32], eps: f32) -> f32 {
    let ms = row.iter().map(|v| v * v).sum::<f32>() / row.len() as f32;
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
        let half = hd / 2;
        let sign = if self.inverse { -1.0 } else { 1.0 };
        let mut y = vec![0f32; x.len()];
        for (row, (xr, yr)) in x.chunks_exact(hd).zip(y.chunks_exact_mut(hd)).enumerate() {
            let pos = row % t;
            let c = &self.cos[pos * hd..(pos + 1) * hd];
            let sn = &self.sin[pos * hd..(pos + 1) * hd];
            for i in 0..half {
                yr[i] = xr[i] * c[i] - sign * xr[i + half] * sn[i];
                yr[i + half] = xr[i + half] * c[i + half] + sign * xr[i] * sn[i + half];
            }
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
            let m = xr[..n].iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let mut sum = 0f32;
            for j in 0..n {
                let e = (xr[j] - m).exp();
                yr[j] = e;
                sum += e;
            }
            let inv = 1.0 / sum;
            for v in &mut yr[..n] {
                *v *= inv;
            }
        }
        Ok((CpuStorage::F32(y), l.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(y.apply_op2_no_bwd(&g.contiguous()?, &SoftmaxBwd)?))
    }
}

/// `dx = y · (g − Σ g·y)` per row.
struct SoftmaxBwd;

impl CustomOp2 for SoftmaxBwd {
    fn name(&self) -> &'static str {
        "fused-softmax-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let y = f32s(s1, l1, self.name())?;
        let g = f32s(s2, l2, self.name())?;
        let t = *l1.shape().dims().last().unwrap_or(&1);
        let mut dx = vec![0f32; y.len()];
        for ((yr, gr), dr) in y
            .chunks_exact(t)
            .zip(g.chunks_exact(t))
            .zip(dx.chunks_exact_mut(t))
        {
            let dot: f32 = yr.iter().zip(gr).map(|(a, b)| a * b).sum();
            for ((d, yv), gv) in dr.iter_mut().zip(yr).zip(gr) {
                *d = yv * (gv - dot);
            }
        }
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// SwiGLU on `(…, 2f)` = [gate | up] → `(…, f)`: `silu(gate) · up`.
pub struct SwiGlu;

fn sigmoid(v: f32) -> f32 {
    1.0 / (1.0 + (-v).exp())
}

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
        let mut y = Vec::with_capacity(h.len() / 2);
        for row in h.chunks_exact(two_f) {
            let (gate, up) = row.split_at(f);
            y.extend(gate.iter().zip(up).map(|(a, u)| a * sigmoid(*a) * u));
        }
        *dims.last_mut().expect("rank checked") = f;
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }

    fn bwd(&self, h: &Tensor, _y: &Tensor, g: &Tensor) -> Result<Option<Tensor>> {
        let (hv, gv) = (vec_of(h)?, vec_of(g)?);
        let two_f = h.dim(candle_core::D::Minus1)?;
        let f = two_f / 2;
        let mut dh = vec![0f32; hv.len()];
        for ((row, gr), dr) in hv
            .chunks_exact(two_f)
            .zip(gv.chunks_exact(f))
            .zip(dh.chunks_exact_mut(two_f))
        {
            let (gate, up) = row.split_at(f);
            let (dg, du) = dr.split_at_mut(f);
            for i in 0..f {
                let s = sigmoid(gate[i]);
                let silu = gate[i] * s;
                du[i] = gr[i] * silu;
                dg[i] = gr[i] * up[i] * s * (1.0 + gate[i] * (1.0 - s));
            }
        }
        Ok(Some(Tensor::from_vec(dh, h.shape(), h.device())?))
    }
}

/// Mean cross-entropy of logits `(n, vocab)` against u32 targets `(n)`.
pub struct CrossEntropy;

fn log_softmax_row(row: &[f32]) -> (f32, f32) {
    let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = row.iter().map(|v| (v - m).exp()).sum();
    (m, sum.ln())
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
        let Some((a, b)) = l2.contiguous_offsets() else {
            bail!("targets must be contiguous")
        };
        let CpuStorage::U32(t) = s2 else {
            bail!("targets must be u32")
        };
        let t = &t[a..b];
        if t.len() != n {
            bail!("fused-cross-entropy: {n} rows but {} targets", t.len());
        }
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
        let (n, v) = x.dims2()?;
        let xv = vec_of(x)?;
        let tv: Vec<u32> = t.flatten_all()?.to_vec1()?;
        let scale = g.to_dtype(DType::F32)?.to_scalar::<f32>()? / n as f32;
        let mut dx = vec![0f32; xv.len()];
        for ((row, dr), &tg) in xv.chunks_exact(v).zip(dx.chunks_exact_mut(v)).zip(&tv) {
            let (m, lse) = log_softmax_row(row);
            for (d, r) in dr.iter_mut().zip(row) {
                *d = (r - m - lse).exp() * scale;
            }
            dr[tg as usize] -= scale;
        }
        Ok((Some(Tensor::from_vec(dx, (n, v), x.device())?), None))
    }
}
