//! Differentiable building blocks written from primitive candle ops.
//!
//! candle's fused `RmsNorm`, `LayerNorm`, `rotary_emb` and
//! `softmax_last_dim` have no backward pass and silently cut the gradient
//! (candle #2168, #2977, #3011), so training uses these instead.
use candle_core::{D, DType, Device, Result, Tensor};

/// RMSNorm over the last dimension: x / sqrt(mean(x²) + eps) · w.
pub fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> Result<Tensor> {
    let ms = x.sqr()?.mean_keepdim(D::Minus1)?;
    x.broadcast_mul(&(ms + eps)?.sqrt()?.recip()?)?
        .broadcast_mul(w)
}

/// LayerNorm over the last dimension with weight and bias.
pub fn layer_norm(x: &Tensor, w: &Tensor, b: &Tensor, eps: f64) -> Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    xc.broadcast_mul(&(var + eps)?.sqrt()?.recip()?)?
        .broadcast_mul(w)?
        .broadcast_add(b)
}

/// Softmax over the last dimension.
pub fn softmax(x: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax(x, D::Minus1)
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
mod tests {
    use super::*;

    fn close(a: &[f32], b: &[f32]) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
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
