//! The closed forms: the paper's numbers where its formulas give them, and
//! stationarity checks that would fail if a formula were mistyped.
use rooflaw_stdlib::advise::{AdviseError, AdviseInput, Regime, SunCoefficients, advise, targets};
use rooflaw_stdlib::budget::{Budget, Metric, preset};

const C: SunCoefficients = SunCoefficients::PAPER;

#[test]
fn rho_star_follows_the_coefficients_not_the_text() {
    // paper.md: Eq. 9 with Table 6 gives ≈ 0.40 at d = 1024, 0.17 at 2048
    // (the text says 0.25 and 0.15).
    let r1 = C.rho_memory(1024.0).unwrap();
    let r2 = C.rho_memory(2048.0).unwrap();
    assert!((r1 - 0.396).abs() < 0.005, "{r1}");
    assert!((r2 - 0.173).abs() < 0.005, "{r2}");
    // Corollary 1: ρ* ∝ d^−1.19, so doubling d divides ρ* by ≈ 2.29.
    assert!((r1 / r2 - 2f64.powf(1.3 / 1.09)).abs() < 1e-9);
}

#[test]
fn loss_reproduces_the_qwen_shape_value() {
    // l = 24, d = 896, r = 4864/896, ρ = 1, d_m = 128 (gqa 7): L̂ ≈ 3.48.
    let l = C.loss(24.0, 896.0, 4864.0 / 896.0, 1.0, 7.0);
    assert!((l - 3.48).abs() < 0.005, "{l}");
}

fn orin_like(prefill: Option<f64>, decode: Option<f64>, memory: f64) -> AdviseInput {
    AdviseInput {
        peak: 85e12,
        bandwidth: 204.8e9,
        memory,
        batch: 1.0,
        prompt: 1024.0,
        generate: 16.0,
        bytes_weight: 2.0,
        bytes_kv: 2.0,
        prefill_s: prefill,
        decode_s: decode,
        width: 1024.0,
        rho_min: 1.0 / 16.0,
        heads: None,
    }
}

/// Loss along the binding constraint, as a function of r (depth follows).
fn stationary_in_r(f: impl Fn(f64) -> f64, r: f64) {
    let (lo, mid, hi) = (f(r * 0.97), f(r), f(r * 1.03));
    assert!(
        mid < lo && mid < hi,
        "r* = {r} is not a minimum: {lo} {mid} {hi}"
    );
}

#[test]
fn latency_optima_are_stationary_along_their_constraint() {
    let i = orin_like(Some(0.05), Some(0.2), 1e15);
    let a = advise(&i, &C).unwrap();
    let d = i.width;
    let p = a.prefill.unwrap();
    assert_eq!(p.applies, Regime::PrefillLatency);
    let o = p.latency;
    assert!(o.converged && (o.rho - 1.0 / 16.0).abs() < 1e-12);
    let f_bar = a.f_bar_p.unwrap();
    assert!((f_bar - 0.05 * 85e12 / 1024.0).abs() < 1.0);
    let at = |r: f64, g: f64| {
        let l = f_bar / ((4.0 + 4.0 / g + 6.0 * r) * d * d);
        C.loss(l, d, r, o.rho, g)
    };
    stationary_in_r(|r| at(r, o.gqa), o.ffn_ratio);
    if o.gqa > 1.0 && o.gqa < 16.0 {
        stationary_in_r(|g| at(o.ffn_ratio, g), o.gqa);
    }
    // Depth saturates the prefill budget exactly.
    assert!(
        (o.layers * (4.0 + 4.0 / o.gqa + 6.0 * o.ffn_ratio) * d * d / f_bar - 1.0).abs() < 1e-9
    );

    let q = a.decode.unwrap();
    assert_eq!(q.applies, Regime::DecodeLatency);
    let o = q.latency;
    let (m_bar, s_bar) = (a.m_bar_d.unwrap(), a.s_bar);
    assert!((s_bar - (1024.0 + 17.0 / 2.0)).abs() < 1e-12);
    let at = |r: f64, g: f64| {
        let gamma = (2.0 + 2.0 / g + 3.0 * r) * d * d * 2.0 + 2.0 * s_bar * d * 2.0 / g;
        C.loss(m_bar / gamma, d, r, o.rho, g)
    };
    stationary_in_r(|r| at(r, o.gqa), o.ffn_ratio);
    if o.gqa > 1.0 && o.gqa < 16.0 {
        stationary_in_r(|g| at(o.ffn_ratio, g), o.gqa);
    }
}

#[test]
fn memory_optimum_is_stationary_in_r_and_rho() {
    let i = orin_like(None, None, 1e9);
    let o = advise(&i, &C).unwrap().memory;
    assert_eq!(o.regime, Regime::Memory);
    let d = i.width;
    let at = |r: f64, rho: f64| {
        let l = 1e9 / ((2.0 + 2.0 / o.gqa + 3.0 * r / rho) * d * d * 2.0);
        C.loss(l, d, r, rho, o.gqa)
    };
    assert!((o.rho - C.rho_memory(d).unwrap()).abs() < 1e-12);
    stationary_in_r(|r| at(r, o.rho), o.ffn_ratio);
    stationary_in_r(|rho| at(o.ffn_ratio, rho), o.rho);
    // Rounded: ρ ≈ 0.40 → K/E = 1/2 or 2/4 (log-nearest, fewest experts).
    assert_eq!((o.rounded.top_k, o.rounded.experts), (1, 2));
    assert!(o.rounded.layers >= 1 && f64::from(o.rounded.layers) <= o.layers);
}

#[test]
fn dual_prefill_saturates_both_constraints() {
    // Theorem 5.3(a) needs η_p b_w < 2 (F̄_p below two FLOPs per stored
    // weight): 3 ms of prefill against 300 MB gives η_p b_w ≈ 1.66.
    let i = orin_like(Some(0.003), None, 3e8);
    let a = advise(&i, &C).unwrap();
    let p = a.prefill.unwrap();
    let o = p.dual.expect("dual solution");
    let d2 = i.width * i.width;
    let flops = o.layers * (4.0 + 4.0 / o.gqa + 6.0 * o.ffn_ratio) * d2;
    let mem = o.layers * (2.0 + 2.0 / o.gqa + 3.0 * o.ffn_ratio / o.rho) * d2 * 2.0;
    assert!((flops / a.f_bar_p.unwrap() - 1.0).abs() < 1e-9);
    assert!((mem / 3e8 - 1.0).abs() < 1e-9, "{mem}");
    assert!(p.latency.memory > 3e8);
}

#[test]
fn dual_decode_paper_formula_saturates_both_as_kv_vanishes() {
    // Theorem 5.3(b) reduces to the two constraints meeting when δ → 0.
    // Needs η = M̄_d/M_budget < 1: 10 ms of decode against 300 MB, η ≈ 0.43.
    let mut i = orin_like(None, Some(0.01), 3e8);
    i.bytes_kv = 1e-9;
    let a = advise(&i, &C).unwrap();
    let o = a.decode.unwrap().dual.expect("dual solution");
    let d2 = i.width * i.width;
    let mem = o.layers * (2.0 + 2.0 / o.gqa + 3.0 * o.ffn_ratio / o.rho) * d2 * 2.0;
    assert!((mem / 3e8 - 1.0).abs() < 1e-6, "{mem}");
}

#[test]
fn worked_example_eta_and_regime() {
    // §5.5.2: 10 TOPS, 50 GB/s, 4 GB, 100 ms decode; M̄_d = 0.5 GB, η = 0.125.
    let i = AdviseInput {
        peak: 10e12,
        bandwidth: 50e9,
        memory: 4e9,
        batch: 1.0,
        prompt: 1.0,
        generate: 10.0,
        bytes_weight: 1.0,
        bytes_kv: 1.0,
        prefill_s: None,
        decode_s: Some(0.1),
        width: 1024.0,
        rho_min: 1.0 / 64.0,
        heads: None,
    };
    let a = advise(&i, &C).unwrap();
    let p = a.decode.unwrap();
    assert!((a.m_bar_d.unwrap() - 0.5e9).abs() < 1.0);
    assert!((p.eta - 0.125).abs() < 1e-12);
    assert_ne!(p.applies, Regime::DecodeLatency, "η ≪ 1: memory must bind");
}

#[test]
fn bad_input_is_an_error() {
    let mut i = orin_like(Some(0.0), None, 1e9);
    assert_eq!(
        advise(&i, &C).unwrap_err(),
        AdviseError::NotPositive("prefill_s", 0.0)
    );
    i.prefill_s = None;
    i.rho_min = 0.0;
    assert_eq!(advise(&i, &C).unwrap_err(), AdviseError::RhoMin(0.0));
    i.rho_min = 0.5;
    let c = SunCoefficients {
        alpha_rho: 0.1,
        ..C
    };
    assert!(matches!(advise(&i, &c), Err(AdviseError::Exponents(..))));
}

#[test]
fn budget_targets() {
    // embodied-ai: 20 ms per token × 16 tokens = 320 ms of decode.
    let t = targets(&Budget::from_preset(preset("embodied-ai").unwrap()), 16.0);
    assert_eq!(
        (t.prefill_s, t.decode_s, t.memory),
        (None, Some(0.32), None)
    );
    // A total bound has no closed form: reported as unused.
    let t = targets(&Budget::from_preset(preset("smart-home").unwrap()), 16.0);
    assert_eq!(t.decode_s, None);
    assert_eq!(
        t.unused.iter().map(|l| l.metric).collect::<Vec<_>>(),
        vec![Metric::Total]
    );
}

#[test]
fn same_law_as_the_sun2026_preset() {
    let law = rooflaw_stdlib::law::preset("sun2026")
        .unwrap()
        .with_extrapolate(true);
    assert_eq!(law.values(), C.values());
    assert_eq!(SunCoefficients::from_law(&law), Some(C));
    assert_eq!(SunCoefficients::from_values(&[1.0; 10]), None);
    // Qwen2.5-0.5B's shape: 24 × 896, 14 heads / 2 KV heads of 64, FFN 4864.
    let a = rooflaw_stdlib::Architecture::dense(24, 896, 14, 2, 4864);
    let want = law.predict(&a, None).unwrap();
    let got = C.loss(24.0, 896.0, 4864.0 / 896.0, 1.0, 7.0);
    assert!((got - want).abs() < 1e-12, "{got} vs {want}");
}
