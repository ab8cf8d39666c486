//! Element-wise math for the fused kernels' inner loops, written so the
//! compiler vectorises it.
//!
//! - `exp`: the standard library's `expf` is a libm call per element, which
//!   keeps the loops around it scalar; after the matmuls it was the largest
//!   single cost of a CPU training step (11 %: softmax, SwiGLU,
//!   cross-entropy). This one is branch-free arithmetic: Cephes' `expf`
//!   reduction and polynomial, relative error below 2e-7 (a test checks).
//! - `sum`, `max`, `dot`: a float reduction in one accumulator is a chain the
//!   compiler may not reorder, so it stays scalar; eight accumulators give
//!   it independent lanes (the result differs from a sequential sum by
//!   rounding only).

const LANES: usize = 8;

/// `e^x` for `x` in [-87.3, 88.3] (single-precision normals); inputs
/// outside are clamped to it, NaN stays NaN.
#[inline]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    // ln 2 in two parts, so that n · LN2_HI is exact.
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // 1.5 · 2²³: adding and subtracting it rounds to the nearest integer
    // without a rounding instruction.
    const ROUND: f32 = 12_582_912.0;
    // `ROUND`'s bits less the exponent bias: subtracted from `shifted`'s bits
    // it leaves n + 127.
    const ROUND_BITS_LESS_BIAS: u32 = 0x4B40_0000 - 127;
    let x = x.clamp(-87.3, 88.3);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // 2ⁿ built in the exponent bits (n ∈ [-126, 127] after the clamp). n
    // is read from `shifted`'s low mantissa bits, whose unit is 1 there: an
    // integer subtraction, where `n as i32` would check for NaN per element
    // and keep the loop scalar.
    e * f32::from_bits(shifted.to_bits().wrapping_sub(ROUND_BITS_LESS_BIAS) << 23)
}

/// `1 / (1 + e^-x)`.
#[inline]
pub(crate) fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// Eight-lane fold of `f` over the elements of `xs`, then over the lanes.
#[inline]
fn fold8(xs: &[f32], init: f32, f: impl Fn(f32, f32) -> f32 + Copy) -> f32 {
    let mut acc = [init; LANES];
    let chunks = xs.chunks_exact(LANES);
    let tail = chunks.remainder();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a = f(*a, x);
        }
    }
    let lanes = acc.into_iter().fold(init, f);
    tail.iter().fold(lanes, |a, &x| f(a, x))
}

/// Σ xs.
#[inline]
pub(crate) fn sum(xs: &[f32]) -> f32 {
    fold8(xs, 0.0, |a, x| a + x)
}

/// The largest element (−∞ for none); NaNs are skipped, as `f32::max` does.
#[inline]
pub(crate) fn max(xs: &[f32]) -> f32 {
    fold8(xs, f32::NEG_INFINITY, f32::max)
}

/// Σ aᵢ·bᵢ over the shorter length.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for ((s, x), y) in acc.iter_mut().zip(x).zip(y) {
            *s += x * y;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `row ← softmax(scale · row)` in place.
#[inline]
pub(crate) fn softmax_in_place(row: &mut [f32], scale: f32) {
    let m = max(row) * scale;
    for s in row.iter_mut() {
        *s = exp(*s * scale - m);
    }
    let inv = 1.0 / sum(row);
    for s in row.iter_mut() {
        *s *= inv;
    }
}

/// The gradient of a softmax row's input from its output `p` and the
/// output's gradient `g`, in place of `g`: `g ← p · (g − Σ g·p) · scale`
/// (`scale` the factor the input was multiplied by before the softmax).
#[inline]
pub(crate) fn softmax_grad_in_place(g: &mut [f32], p: &[f32], scale: f32) {
    let gp = dot(g, p);
    for (g, p) in g.iter_mut().zip(p) {
        *g = p * (*g - gp) * scale;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_exp_within_2e_7_over_its_range() {
        let mut worst = 0f64;
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = f64::from(x).exp();
            let rel = ((f64::from(exp(x)) - want) / want).abs();
            worst = worst.max(rel);
            x += 0.001_3;
        }
        assert!(worst < 2e-7, "worst relative error {worst:e}");
        assert!((exp(0.0) - 1.0).abs() < f32::EPSILON);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(-1e4) < 1e-37 && exp(-1e4) > 0.0);
        assert!(exp(1e4).is_finite());
        assert!((sigmoid(0.0) - 0.5).abs() < 1e-7);
    }

    #[test]
    fn lane_reductions_match_sequential_ones_at_every_length() {
        for n in 0..40 {
            let a: Vec<f32> = (0..n).map(|i| ((i * 7 % 11) as f32 - 5.0) / 3.0).collect();
            let b: Vec<f32> = (0..n).map(|i| ((i * 5 % 13) as f32 - 6.0) / 4.0).collect();
            let close = |x: f32, y: f32| (x - y).abs() <= 1e-5 * (1.0 + y.abs());
            assert!(close(sum(&a), a.iter().sum()), "sum at {n}");
            let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!(close(dot(&a, &b), want), "dot at {n}");
            assert_eq!(
                max(&a).to_bits(),
                a.iter()
                    .copied()
                    .fold(f32::NEG_INFINITY, f32::max)
                    .to_bits(),
                "max at {n}"
            );
        }
    }
}
