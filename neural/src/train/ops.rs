//! Differentiable building blocks. On CPU (f32) they run the fused kernels
//! of [`super::fused`]; elsewhere they are written from primitive candle ops.
//!
//! candle's own fused `RmsNorm`, `LayerNorm`, `rotary_emb` and
//! `softmax_last_dim` have no backward pass and silently cut the gradient
//! (candle #2168, #2977, #3011), so training never uses them.
use super::fused;
use candle_core::{D, DType, Device, Result, Tensor};
use std::sync::Arc;

/// Whether `x` takes the fused CPU kernels.
pub(crate) fn fusable(x: &Tensor) -> bool {
    x.device().is_cpu() && x.dtype() == DType::F32
}

/// RMSNorm over the last dimension: x / sqrt(mean(x²) + eps) · w.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    if fusable(x) {
        return x
            .contiguous()?
            .apply_op2(&w.contiguous()?, fused::RmsNorm { eps: eps as f32 });
    }
    rms_norm_primitive(x, w, eps)
}

/// [`rms_norm`] from primitive ops, computed in fp32 whatever `x`'s type
/// (a 16-bit mean of squares loses the small rows).
pub fn rms_norm_primitive(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    x.broadcast_mul(&(ms + eps)?.sqrt()?.recip()?)?
        .broadcast_mul(&w.to_dtype(DType::F32)?)?
        .to_dtype(dtype)
}

/// LayerNorm over the last dimension with weight and bias, in fp32.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    let dtype = x.dtype();
    let x = x.to_dtype(DType::F32)?;
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    xc.broadcast_mul(&(var + eps)?.sqrt()?.recip()?)?
        .broadcast_mul(&w.to_dtype(DType::F32)?)?
        .broadcast_add(&b.to_dtype(DType::F32)?)?
        .to_dtype(dtype)
}

/// Softmax over the last dimension, in fp32, returned in `x`'s type.
pub fn softmax(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax(&x.to_dtype(DType::F32)?, D::Minus1)?.to_dtype(x.dtype())
}

/// Causal softmax of attention scores `(…, seq, seq)`; `mask` is the
/// additive [`causal_mask`] used off CPU.
pub fn causal_softmax(scores: &Tensor, mask: &Tensor) -> Result<Tensor> {
    if fusable(scores) {
        return scores.contiguous()?.apply_op1(fused::CausalSoftmax);
    }
    let p = candle_nn::ops::softmax(
        &scores.to_dtype(DType::F32)?.broadcast_add(mask)?,
        D::Minus1,
    )?;
    p.to_dtype(scores.dtype())
}

/// `silu(gate) · up` of `h` = [gate | up] along the last dimension.
pub fn swiglu(h: &Tensor) -> Result<Tensor> {
    if fusable(h) {
        return h.contiguous()?.apply_op1(fused::SwiGlu);
    }
    let f = h.dim(D::Minus1)? / 2;
    h.narrow(D::Minus1, 0, f)?.silu()? * h.narrow(D::Minus1, f, f)?
}

/// Mean cross-entropy of logits `(n, vocab)` against u32 targets `(n)`,
/// in fp32 whatever the logits' type.
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let logits = &logits.to_dtype(DType::F32)?;
    if fusable(logits) && targets.dtype() == DType::U32 {
        return logits
            .contiguous()?
            .apply_op2(&targets.contiguous()?, fused::CrossEntropy);
    }
    candle_nn::loss::cross_entropy(logits, targets)
}

/// RoPE tables as tensors (for the primitive path) and as shared vectors
/// (for the fused kernel).
pub struct RopeTables {
    pub cos: Tensor,
    pub sin: Tensor,
    cos_v: Arc<Vec<f32>>,
    sin_v: Arc<Vec<f32>>,
    head_dim: usize,
}

impl RopeTables {
    pub fn new(max_seq: usize, head_dim: usize, theta: f64, device: &Device) -> Result<Self> {
        let (cos, sin) = rope_tables(max_seq, head_dim, theta, device)?;
        Ok(Self {
            cos_v: Arc::new(cos.flatten_all()?.to_vec1()?),
            sin_v: Arc::new(sin.flatten_all()?.to_vec1()?),
            cos,
            sin,
            head_dim,
        })
    }

    /// The tables `(max_seq, head_dim)` for the fused CPU kernels.
    pub(crate) fn shared(&self) -> (Arc<Vec<f32>>, Arc<Vec<f32>>) {
        (self.cos_v.clone(), self.sin_v.clone())
    }

    /// Applies RoPE to `x` `(batch, heads, seq, head_dim)`.
    pub fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let seq = x.dim(D::Minus2)?;
        if fusable(x) {
            return x.contiguous()?.apply_op1(fused::Rope {
                cos: self.cos_v.clone(),
                sin: self.sin_v.clone(),
                seq,
                head_dim: self.head_dim,
                inverse: false,
            });
        }
        // Tables computed in fp32, cast to the activations' type (as
        // Hugging Face's Llama does).
        rope(
            x,
            &self.cos.narrow(0, 0, seq)?.to_dtype(x.dtype())?,
            &self.sin.narrow(0, 0, seq)?.to_dtype(x.dtype())?,
        )
    }
}

/// Rotary position tables for positions `0..seq_len`: `(cos, sin)`, each
/// `(seq_len, head_dim)` with the half-split layout (Llama/Qwen "rotate half").
pub fn rope_tables(
    seq_len: usize,
    head_dim: usize,
    theta: f64,
    device: &Device,
) -> Result<(Tensor, Tensor)> {
    let half = head_dim / 2;
    let mut cos = Vec::with_capacity(seq_len * head_dim);
    let mut sin = Vec::with_capacity(seq_len * head_dim);
    for pos in 0..seq_len {
        for i in 0..head_dim {
            let freq = theta.powf(-2.0 * (i % half) as f64 / head_dim as f64);
            let a = pos as f64 * freq;
            cos.push(a.cos() as f32);
            sin.push(a.sin() as f32);
        }
    }
    Ok((
        Tensor::from_vec(cos, (seq_len, head_dim), device)?,
        Tensor::from_vec(sin, (seq_len, head_dim), device)?,
    ))
}

/// Applies RoPE to `x` of shape `(batch, heads, seq, head_dim)`;
/// `cos`/`sin` are `(seq, head_dim)`.
pub fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
    let hd = x.dim(D::Minus1)?;
    let half = hd / 2;
    let x1 = x.narrow(D::Minus1, 0, half)?;
    let x2 = x.narrow(D::Minus1, half, half)?;
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    x.broadcast_mul(cos)?.add(&rotated.broadcast_mul(sin)?)
}

/// Additive causal mask `(seq, seq)`: 0 on and below the diagonal, −∞ above.
pub fn causal_mask(seq_len: usize, device: &Device) -> Result<Tensor> {
    let mask: Vec<f32> = (0..seq_len)
        .flat_map(|i| (0..seq_len).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    Tensor::from_vec(mask, (seq_len, seq_len), device)?.to_dtype(DType::F32)
}

#[cfg(test)]
/// Forward values and input gradients of `f` and `g` on the same
/// random input, for comparing a fused kernel with its primitive twin.
pub(crate) fn agree(
    dims: &[usize],
    f: impl Fn(&Tensor) -> Result<Tensor>,
    g: impl Fn(&Tensor) -> Result<Tensor>,
) {
    let d = Device::Cpu;
    let x = candle_core::Var::from_tensor(&Tensor::randn(0f32, 1.0, dims, &d).unwrap()).unwrap();
    // A fixed random projection makes the loss depend on every output.
    let y1 = f(x.as_tensor()).unwrap();
    let proj = Tensor::randn(0f32, 1.0, y1.shape(), &d).unwrap();
    let mut grads = Vec::new();
    let mut outs = Vec::new();
    for h in [&f as &dyn Fn(&Tensor) -> Result<Tensor>, &g] {
        let y = h(x.as_tensor()).unwrap();
        let loss = (&y * &proj).unwrap().sum_all().unwrap();
        let gx = loss.backward().unwrap().get(x.as_tensor()).unwrap().clone();
        outs.push(y.flatten_all().unwrap().to_vec1::<f32>().unwrap());
        grads.push(gx.flatten_all().unwrap().to_vec1::<f32>().unwrap());
    }
    for (a, b) in outs[0]
        .iter()
        .zip(&outs[1])
        .chain(grads[0].iter().zip(&grads[1]))
    {
        assert!(
            (a - b).abs() < 1e-4 * (1.0 + b.abs()),
            "fused {a} vs primitive {b}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    #[test]
    fn fused_kernels_match_primitive_ops_forward_and_backward() {
        let d = Device::Cpu;
        let w = Tensor::randn(1f32, 0.1, 16, &d).unwrap();
        agree(
            &[3, 5, 16],
            |x| rms_norm(x, &w, 1e-6),
            |x| rms_norm_primitive(x, &w, 1e-6),
        );
        let mask = causal_mask(6, &d).unwrap();
        agree(
            &[2, 3, 6, 6],
            |x| causal_softmax(x, &mask),
            |x| softmax(&x.broadcast_add(&mask)?),
        );
        agree(&[4, 10], swiglu, |x| {
            x.narrow(1, 0, 5)?.silu()? * x.narrow(1, 5, 5)?
        });
        let rt = RopeTables::new(8, 6, 10_000.0, &d).unwrap();
        agree(
            &[2, 3, 5, 6],
            |x| rt.apply(x),
            |x| rope(x, &rt.cos.narrow(0, 0, 5)?, &rt.sin.narrow(0, 0, 5)?),
        );
        let targets = Tensor::new(&[1u32, 0, 6, 3], &d).unwrap();
        agree(
            &[4, 7],
            |x| cross_entropy(x, &targets),
            |x| candle_nn::loss::cross_entropy(x, &targets),
        );
    }

    #[test]
    fn fused_norm_weight_gradient_matches_primitive() {
        let d = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (4, 8), &d).unwrap();
        let w = candle_core::Var::from_tensor(&Tensor::randn(1f32, 0.1, 8, &d).unwrap()).unwrap();
        let grad = |y: Tensor| {
            let loss = y.sqr().unwrap().sum_all().unwrap();
            let g = loss.backward().unwrap().get(w.as_tensor()).unwrap().clone();
            g.to_vec1::<f32>().unwrap()
        };
        let fused = grad(rms_norm(&x, w.as_tensor(), 1e-6).unwrap());
        let primitive = grad(rms_norm_primitive(&x, w.as_tensor(), 1e-6).unwrap());
        for (a, b) in fused.iter().zip(&primitive) {
            assert!(
                (a - b).abs() < 1e-4 * (1.0 + b.abs()),
                "{fused:?} vs {primitive:?}"
            );
        }
    }

    #[test]
    fn rms_norm_matches_hand_computation() {
        let d = Device::Cpu;
        let x = Tensor::new(&[[3.0f32, 4.0]], &d).unwrap();
        let w = Tensor::new(&[1.0f32, 2.0], &d).unwrap();
        let y = rms_norm(&x, &w, 0.0)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let rms = (12.5f32).sqrt();
        close(&y, &[3.0 / rms, 8.0 / rms]);
    }

    #[test]
    fn rope_rotates_pairs_and_keeps_position_zero() {
        let d = Device::Cpu;
        let (cos, sin) = rope_tables(2, 2, 10_000.0, &d).unwrap();
        let x = Tensor::new(&[1.0f32, 0.0, 1.0, 0.0], &d)
            .unwrap()
            .reshape((1, 1, 2, 2))
            .unwrap();
        let y = rope(&x, &cos, &sin)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        // Position 0 is the identity; position 1 rotates (1, 0) by 1 radian.
        close(&y, &[1.0, 0.0, 1f32.cos(), 1f32.sin()]);
    }

    #[test]
    fn causal_softmax_attends_only_to_the_past() {
        let d = Device::Cpu;
        let s = Tensor::zeros((3, 3), DType::F32, &d).unwrap();
        let p = softmax(&s.add(&causal_mask(3, &d).unwrap()).unwrap()).unwrap();
        let p = p.to_vec2::<f32>().unwrap();
        close(&p[0], &[1.0, 0.0, 0.0]);
        close(&p[2], &[1.0 / 3.0; 3]);
    }
}
