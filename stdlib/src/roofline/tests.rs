// Exact float comparisons are intended: these byte counts are integers well
// inside f64's exact range.
#![allow(clippy::float_cmp)]

use proptest::prelude::*;

use super::*;
use crate::arch::{ArchError, Architecture};
use crate::precision::{Dtype, Precision};
use crate::workload::Attention;

fn chip(fp16: f64, int8: f64, bandwidth: f64, memory: f64) -> Hardware {
    Hardware {
        id: "test".into(),
        name: "test chip".into(),
        peak: [
            (Dtype::Fp16, fp16),
            (Dtype::Bf16, fp16),
            (Dtype::Int8, int8),
            (Dtype::Fp32, fp16 / 4.0),
        ]
        .into_iter()
        .collect(),
        bandwidth,
        memory,
        efficiency_compute: 1.0,
        efficiency_memory: 1.0,
        efficiency_vector: None,
        launch: 0.0,
        memory_technology: None,
    }
}

/// A100 80GB SXM's datasheet numbers, ideal efficiency.
fn a100() -> Hardware {
    chip(312e12, 624e12, 2039e9, 80e9)
}

fn llama2_7b() -> Architecture {
    Architecture::dense(32, 4096, 32, 32, 11008)
}

fn prec(s: &str) -> Precision {
    Precision::parse(s).unwrap()
}

/// (flops, weight, activation, kv read, kv write) of one row.
type Counts = (f64, f64, f64, f64, f64);

fn row(rows: &[OpRow], name: &str) -> Counts {
    let r = rows
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no row {name}"));
    (
        r.flops,
        r.weight_bytes,
        r.activation_bytes,
        r.kv_read_bytes,
        r.kv_write_bytes,
    )
}

fn check_rows(rows: &[OpRow], expected: &[(&str, Counts)]) {
    for (name, want) in expected {
        let got = row(rows, name);
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b.abs().max(1.0);
        assert!(
            close(got.0, want.0)
                && close(got.1, want.1)
                && close(got.2, want.2)
                && close(got.3, want.3)
                && close(got.4, want.4),
            "{name}: got {got:?}, want {want:?}"
        );
    }
}

#[test]
fn dense_mha_layer_by_hand() {
    // d 8, 2 heads of 4, FFN 16, vocab 10, fp16; prompt 4, 3 outputs, so 2
    // decode steps at contexts 5 and 6 (mean 5.5).
    let mut arch = Architecture::dense(1, 8, 2, 2, 16);
    arch.vocab = 10;
    let wl = Workload::new(1, 4, 3, prec("fp16"));
    let b = breakdown(&arch, &a100(), &wl).unwrap();
    assert_eq!(b.decode_steps, 2);
    check_rows(
        &b.prefill,
        &[
            ("embedding", (0.0, 64.0, 64.0, 0.0, 0.0)),
            ("input_norm", (128.0, 16.0, 128.0, 0.0, 0.0)),
            ("q_proj", (512.0, 128.0, 128.0, 0.0, 0.0)),
            ("k_proj", (512.0, 128.0, 64.0, 0.0, 64.0)),
            ("v_proj", (512.0, 128.0, 64.0, 0.0, 64.0)),
            ("rope", (192.0, 0.0, 256.0, 0.0, 0.0)),
            // causal: 4·5/2 = 10 score pairs per head, (4·d_h + 5) FLOPs each
            ("attention", (420.0, 0.0, 128.0, 128.0, 0.0)),
            ("o_proj", (512.0, 128.0, 128.0, 0.0, 0.0)),
            ("post_norm", (160.0, 16.0, 192.0, 0.0, 0.0)),
            ("ffn_gate", (1024.0, 256.0, 192.0, 0.0, 0.0)),
            ("ffn_up", (1024.0, 256.0, 192.0, 0.0, 0.0)),
            ("ffn_act", (320.0, 0.0, 384.0, 0.0, 0.0)),
            ("ffn_down", (1024.0, 256.0, 192.0, 0.0, 0.0)),
            ("final_norm", (128.0, 16.0, 128.0, 0.0, 0.0)),
            // last position only: 2·d·V, fp32 logits
            ("lm_head", (160.0, 160.0, 56.0, 0.0, 0.0)),
        ],
    );
    check_rows(
        &b.decode,
        &[
            ("embedding", (0.0, 16.0, 16.0, 0.0, 0.0)),
            ("q_proj", (128.0, 128.0, 32.0, 0.0, 0.0)),
            ("k_proj", (128.0, 128.0, 16.0, 0.0, 16.0)),
            ("attention", (231.0, 0.0, 32.0, 176.0, 0.0)),
            ("ffn_down", (256.0, 256.0, 48.0, 0.0, 0.0)),
            ("lm_head", (160.0, 160.0, 56.0, 0.0, 0.0)),
        ],
    );
    assert_eq!(b.prefill.len(), 15);
}

#[test]
fn gqa_layer_with_bias_qk_norm_and_w4a16kv8_by_hand() {
    // d 16, 4 query heads sharing 1 KV head of 4; int4 g128 weights are
    // 4 + 16/128 bits = 0.515625 bytes; biases and norms stay fp16.
    let mut arch = Architecture::dense(1, 16, 4, 1, 32);
    arch.qkv_bias = true;
    arch.qk_norm = true;
    let mut wl = Workload::new(2, 3, 2, prec("w4a16kv8"));
    let b = breakdown(&arch, &a100(), &wl).unwrap();
    check_rows(
        &b.prefill,
        &[
            ("q_proj", (3168.0, 164.0, 384.0, 0.0, 0.0)),
            ("k_proj", (792.0, 41.0, 192.0, 0.0, 24.0)),
            ("qk_norm", (480.0, 16.0, 480.0, 0.0, 0.0)),
            ("attention", (1008.0, 0.0, 384.0, 48.0, 0.0)),
        ],
    );
    // One decode step over L = 4 keys; K and V read once per KV head.
    check_rows(&b.decode, &[("attention", (672.0, 0.0, 128.0, 64.0, 0.0))]);

    wl.attention = Attention::Unfused;
    let b = breakdown(&arch, &a100(), &wl).unwrap();
    // The paper's table: the full S² score matrix is written and read back.
    check_rows(
        &b.prefill,
        &[
            ("qk", (576.0, 0.0, 336.0, 24.0, 0.0)),
            ("softmax", (360.0, 0.0, 288.0, 0.0, 0.0)),
            ("score_v", (576.0, 0.0, 336.0, 24.0, 0.0)),
        ],
    );
}

#[test]
fn moe_layer_by_hand() {
    // 4 experts of FFN 4, top-2, one shared expert of 8.
    let mut arch = Architecture::dense(1, 8, 2, 2, 4);
    arch.experts = 4;
    arch.top_k = 2;
    arch.shared_experts = 1;
    arch.shared_ffn = 8;
    let wl = Workload::new(1, 2, 2, prec("fp16"));
    let b = breakdown(&arch, &a100(), &wl).unwrap();
    // Prefill: 2 tokens × 2 picks of 4 touch 4·(1 − (1/2)²) = 3 experts.
    check_rows(
        &b.prefill,
        &[
            ("router", (128.0, 64.0, 48.0, 0.0, 0.0)),
            ("expert_gate", (256.0, 192.0, 96.0, 0.0, 0.0)),
            ("expert_act", (80.0, 0.0, 96.0, 0.0, 0.0)),
            ("expert_down", (256.0, 192.0, 96.0, 0.0, 0.0)),
            ("moe_combine", (64.0, 0.0, 96.0, 0.0, 0.0)),
            ("shared_gate", (256.0, 128.0, 64.0, 0.0, 0.0)),
        ],
    );
    // Decode at batch 1 reads exactly the K = 2 active experts.
    check_rows(&b.decode, &[("expert_up", (128.0, 128.0, 48.0, 0.0, 0.0))]);
    assert!(b.prefill.iter().all(|r| r.name != "ffn_up"));
}

/// Decode time by stepping through every token, for comparison.
fn decode_by_loop(arch: &Architecture, hw: &Hardware, wl: &Workload) -> f64 {
    let r = Rates::new(arch, hw, wl, wl.runtime.get()).unwrap();
    let mut decode = Vec::new();
    let bytes = wl.precision.tensor_bytes(arch);
    ops::build(arch, wl, &bytes, Phase::Decode, |op| decode.push(op));
    (1..=wl.decode_steps())
        .map(|j| {
            let l = wl.cached() as f64 + f64::from(j);
            decode
                .iter()
                .map(|op| {
                    let tc = op.flops.at(l) / r.peak(op.engine);
                    let tm = op.bytes().at(l) / r.bandwidth(op.engine);
                    op.count * (tc.max(tm) + r.launch)
                })
                .sum::<f64>()
        })
        .sum()
}

fn any_case() -> impl Strategy<Value = (Architecture, Hardware, Workload)> {
    (
        (
            1u32..48,
            1u32..5,
            0usize..3,
            0usize..4,
            1u32..64,
            1u32..6000,
        ),
        (1u32..64, 0u32..3, any::<bool>(), any::<bool>()),
        (
            1u32..16,
            0u32..4096,
            1u32..600,
            0usize..10,
            any::<bool>(),
            0u32..3000,
        ),
        (
            1e12f64..1e15,
            1e10f64..5e12,
            0.3f64..1.0,
            0.3f64..1.0,
            0.0f64..2e-5,
            proptest::option::of(0.01f64..1.0),
        ),
    )
        .prop_map(|(a, m, w, h)| {
            let (layers, gqa_pow, dh_i, kv_i, kv_heads_base, ffn) = a;
            let kv_heads = [1, 2, 4, 8][kv_i].min(kv_heads_base.max(1));
            let heads = kv_heads << gqa_pow;
            let head_dim = [32, 64, 128][dh_i];
            let mut arch = Architecture::dense(layers, heads * head_dim, heads, kv_heads, ffn);
            let (experts, shared, tied, gated) = m;
            arch.experts = experts;
            arch.top_k = 1 + experts / 5;
            arch.shared_experts = shared;
            arch.shared_ffn = ffn / 2 + 1;
            arch.tied_embeddings = tied;
            arch.gated = gated;
            let (batch, prompt, generate, p, unfused, context) = w;
            let precision = prec(
                [
                    "fp16", "bf16", "fp32", "int8", "w4a16kv8", "w8a16", "Q4_K_M", "q4f16_1",
                    "nvfp4", "IQ2_XS",
                ][p],
            );
            let mut wl = Workload::new(batch, prompt, generate, precision);
            wl.context = context;
            if unfused {
                wl.attention = Attention::Unfused;
            }
            let (peak, bw, ec, em, launch, ev) = h;
            let mut hw = chip(peak, 2.0 * peak, bw, 64e9);
            hw.efficiency_compute = ec;
            hw.efficiency_memory = em;
            hw.efficiency_vector = ev;
            hw.launch = launch;
            (arch, hw, wl)
        })
}

proptest! {
    #[test]
    fn closed_form_decode_equals_the_per_token_sum((arch, hw, wl) in any_case()) {
        let s = evaluate(&arch, &hw, &wl).unwrap();
        let looped = decode_by_loop(&arch, &hw, &wl);
        prop_assert!(
            (s.decode - looped).abs() <= 1e-9 * looped.max(1e-30),
            "closed form {} vs loop {}", s.decode, looped
        );
        prop_assert!(s.total.is_finite() && s.total > 0.0);
        prop_assert!((s.total - s.prefill - s.decode).abs() <= 1e-12 * s.total);
    }
}

#[test]
fn w4a16_speeds_up_decode_but_not_compute_bound_prefill() {
    let (arch, hw) = (llama2_7b(), a100());
    let fp16 = evaluate(&arch, &hw, &Workload::new(1, 1024, 128, prec("fp16"))).unwrap();
    let w4 = evaluate(&arch, &hw, &Workload::new(1, 1024, 128, prec("w4a16"))).unwrap();
    assert_eq!(fp16.prefill_bound, Bound::Compute);
    assert_eq!(w4.prefill_bound, Bound::Compute);
    assert_eq!(w4.decode_bound, Bound::Memory);
    // Prefill matmuls still run at the fp16 peak.
    assert!(
        (w4.prefill - fp16.prefill).abs() < 0.01 * fp16.prefill,
        "{w4:?} {fp16:?}"
    );
    // Decode reads ~4.1-bit weights instead of 16-bit ones.
    assert!(
        w4.decode_per_token < 0.4 * fp16.decode_per_token,
        "{w4:?} {fp16:?}"
    );
    // Full int8 (w8a8) does speed up prefill: the int8 peak is twice fp16's.
    let int8 = evaluate(&arch, &hw, &Workload::new(1, 1024, 128, prec("int8"))).unwrap();
    assert!(int8.prefill < 0.7 * fp16.prefill);
}

#[test]
fn decode_matches_the_papers_closed_form_for_a_large_dense_model() {
    // Eq. 33: a memory-bound step reads all weights and the KV cache once.
    let (arch, hw) = (llama2_7b(), a100());
    let wl = Workload::new(1, 1024, 129, prec("fp16"));
    let s = evaluate(&arch, &hw, &wl).unwrap();
    let weights = 2.0 * (arch.params_total() - arch.embedding_params()) as f64;
    let mean_context = 1024.0 + 64.5;
    let kv = 2.0 * 32.0 * 4096.0 * 2.0 * mean_context;
    let paper = (weights + kv) / hw.bandwidth;
    assert!(
        (s.decode_per_token / paper - 1.0).abs() < 0.01,
        "{} vs {paper}",
        s.decode_per_token
    );
}

#[test]
fn footprint_counts_every_byte_and_flags_what_does_not_fit() {
    let arch = llama2_7b();
    let wl = Workload::new(1, 1024, 128, prec("fp16"));
    let s = evaluate(&arch, &a100(), &wl).unwrap();
    assert_eq!(s.weights_bytes, 2.0 * 6_738_415_616.0);
    // 1152 tokens · 2 (K, V) · 32 layers · 4096 · 2 bytes
    assert_eq!(s.kv_cache_bytes, 603_979_776.0);
    assert!(s.fits_memory);
    assert_eq!(s.params_total, 6_738_415_616);

    let orin_nano = chip(20e12, 40e12, 68e9, 8e9);
    let s = evaluate(&arch, &orin_nano, &wl).unwrap();
    assert!(!s.fits_memory, "13.5 GB of fp16 weights on an 8 GB board");
    let w4 = evaluate(
        &arch,
        &orin_nano,
        &Workload::new(1, 1024, 128, prec("w4a16")),
    )
    .unwrap();
    assert!(w4.fits_memory, "{} bytes", w4.memory_bytes);
    // A huge batch's KV cache alone overflows.
    let big = evaluate(
        &arch,
        &a100(),
        &Workload::new(256, 4096, 4096, prec("fp16")),
    )
    .unwrap();
    assert!(!big.fits_memory);
}

#[test]
fn moe_memory_counts_all_experts_but_decode_reads_only_active_ones() {
    let mut moe = Architecture::dense(16, 2048, 16, 16, 1024);
    moe.experts = 64;
    moe.top_k = 8;
    let mut dense_active = moe.clone();
    dense_active.experts = 1;
    dense_active.top_k = 1;
    dense_active.ffn = 8 * 1024;
    let wl = Workload::new(1, 128, 64, prec("fp16"));
    let hw = a100();
    let (m, d) = (
        evaluate(&moe, &hw, &wl).unwrap(),
        evaluate(&dense_active, &hw, &wl).unwrap(),
    );
    assert!(m.weights_bytes > 5.0 * d.weights_bytes);
    // Same bytes per decode step except the router's weights.
    assert!((m.decode_per_token / d.decode_per_token - 1.0).abs() < 0.01);
    // A 128-token prompt touches nearly all 64 experts.
    assert!(m.prefill > 2.0 * d.prefill);
}

#[test]
fn bad_inputs_are_errors() {
    let hw = a100();
    let wl = Workload::new(1, 16, 4, prec("fp16"));
    let mut arch = Architecture::dense(2, 64, 4, 3, 128);
    assert_eq!(
        evaluate(&arch, &hw, &wl),
        Err(RooflineError::Architecture(ArchError::Gqa {
            heads: 4,
            kv_heads: 3
        }))
    );
    arch.kv_heads = 4;
    arch.experts = 2;
    arch.top_k = 3;
    assert_eq!(
        evaluate(&arch, &hw, &wl),
        Err(RooflineError::Architecture(ArchError::TopK {
            top_k: 3,
            experts: 2
        }))
    );
    arch.top_k = 1;
    let zero_batch = Workload::new(0, 16, 4, prec("fp16"));
    assert_eq!(
        evaluate(&arch, &hw, &zero_batch),
        Err(RooflineError::Workload("batch"))
    );
    let mut bad = hw.clone();
    bad.efficiency_memory = 0.0;
    assert!(matches!(
        evaluate(&arch, &bad, &wl),
        Err(RooflineError::Efficiency { .. })
    ));
    let mut no_int = hw.clone();
    no_int.peak.retain(|d, _| *d == Dtype::Fp32);
    assert_eq!(
        evaluate(&arch, &no_int, &wl),
        Err(RooflineError::NoPeak(Dtype::Fp16))
    );
    let msg = evaluate(&Architecture::dense(0, 64, 4, 4, 128), &hw, &wl)
        .unwrap_err()
        .to_string();
    assert_eq!(msg, "architecture: layers must be at least 1");
}

#[test]
fn one_output_token_is_prefill_only() {
    let s = evaluate(
        &llama2_7b(),
        &a100(),
        &Workload::new(1, 64, 1, prec("fp16")),
    )
    .unwrap();
    assert_eq!(
        (s.decode, s.decode_per_token, s.decode_flops),
        (0.0, 0.0, 0.0)
    );
    assert_eq!(s.total, s.ttft);
}

#[test]
fn summary_json_uses_the_stable_field_names() {
    let s = evaluate(
        &llama2_7b(),
        &a100(),
        &Workload::new(1, 1024, 128, prec("fp16")),
    )
    .unwrap();
    let v = serde_json::to_value(s).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    for k in [
        "prefill_ms",
        "ttft_ms",
        "decode_ms",
        "decode_ms_per_token",
        "tokens_per_s",
        "total_ms",
        "weights_bytes",
        "kv_cache_bytes",
        "activation_bytes",
        "memory_bytes",
        "fits_memory",
        "params_total",
        "params_active",
        "prefill_flops",
        "decode_flops",
        "prefill_bound",
        "decode_bound",
    ] {
        assert!(keys.contains(&k), "missing {k}");
    }
    assert_eq!(v["prefill_bound"], "compute");
    assert!((v["total_ms"].as_f64().unwrap() - s.total * 1e3).abs() < 1e-9);
}

#[test]
fn looped_experts_pay_launch_per_expert_hit() {
    let mut hw = a100();
    hw.launch = 5e-6;
    let mut moe = Architecture::dense(4, 512, 8, 2, 512);
    moe.experts = 8;
    moe.top_k = 2;
    let mut wl = Workload::new(1, 128, 9, Precision::parse("fp16").unwrap());
    let grouped = evaluate(&moe, &hw, &wl).unwrap();
    wl.experts = crate::workload::Experts::Looped;
    let looped = evaluate(&moe, &hw, &wl).unwrap();
    // Decode: one token hits top_k = 2 experts, so the five expert kernels
    // (gate, up, act, down, combine) launch twice instead of once, in each
    // of 4 layers and 8 steps.
    let extra = looped.decode - grouped.decode;
    assert!((extra - 5.0 * 4.0 * 8.0 * 5e-6).abs() < 1e-12, "{extra}");
    // Prefill: 128 tokens hit all 8 experts (to 1e-7).
    let extra = looped.prefill - grouped.prefill;
    assert!((extra - 5.0 * 4.0 * 7.0 * 5e-6).abs() < 1e-9, "{extra}");
    // Dense models have no experts to loop over.
    let dense = Architecture::dense(4, 512, 8, 2, 1024);
    let a = evaluate(&dense, &hw, &wl).unwrap();
    wl.experts = crate::workload::Experts::Grouped;
    assert_eq!(a, evaluate(&dense, &hw, &wl).unwrap());
}

#[test]
fn element_wise_efficiency_slows_only_element_wise_operators() {
    let arch = Architecture::dense(4, 512, 8, 2, 1024);
    let mut wl = Workload::new(1, 256, 9, prec("fp16"));
    wl.attention = Attention::Unfused;
    let mut hw = a100();
    hw.efficiency_memory = 0.8;
    let base = breakdown(&arch, &hw, &wl).unwrap();
    // Its own figure equal to the matmuls' changes nothing.
    hw.efficiency_vector = Some(0.8);
    assert_eq!(breakdown(&arch, &hw, &wl).unwrap(), base);
    hw.efficiency_vector = Some(0.08);
    let slow = breakdown(&arch, &hw, &wl).unwrap();
    for (a, b) in base
        .prefill
        .iter()
        .zip(&slow.prefill)
        .chain(base.decode.iter().zip(&slow.decode))
    {
        match a.engine {
            // Memory-bound element-wise ops take 10× as long.
            "vector" if a.bound == Bound::Memory => {
                assert!(
                    (b.time / a.time - 10.0).abs() < 1e-9,
                    "{}: {} vs {}",
                    a.name,
                    b.time,
                    a.time
                );
            }
            "vector" => assert!(b.time >= a.time, "{}", a.name),
            _ => assert_eq!(a.time, b.time, "{}", a.name),
        }
    }
    assert!(
        evaluate(&arch, &hw, &wl).unwrap().prefill > evaluate(&arch, &a100(), &wl).unwrap().prefill
    );
}

#[test]
fn prompt_zero_decodes_from_the_cache_and_generate_zero_runs_the_prompt_only() {
    let (arch, hw) = (llama2_7b(), a100());
    let tg = Workload::new(1, 0, 128, prec("fp16"));
    let s = evaluate(&arch, &hw, &tg).unwrap();
    assert_eq!((s.prefill, s.prefill_flops), (0.0, 0.0));
    assert_eq!(tg.decode_steps(), 128, "every token is a decode step");
    assert!(s.decode_per_token > 0.0 && (s.decode - 128.0 * s.decode_per_token).abs() < 1e-12);
    // The first token comes out of the first decode step (one key).
    let mut first = tg;
    first.generate = 1;
    assert_eq!(s.ttft, evaluate(&arch, &hw, &first).unwrap().decode);
    assert_eq!(breakdown(&arch, &hw, &tg).unwrap().prefill.len(), 0);

    let pp = Workload::new(1, 512, 0, prec("fp16"));
    let s = evaluate(&arch, &hw, &pp).unwrap();
    assert_eq!(
        (s.decode, s.decode_per_token, s.tokens_per_s),
        (0.0, 0.0, 0.0)
    );
    assert!(s.prefill > 0.0 && s.total == s.prefill && s.ttft == s.prefill);
    assert_eq!(
        evaluate(&arch, &hw, &Workload::new(1, 0, 0, prec("fp16"))),
        Err(RooflineError::Empty)
    );
}

#[test]
fn context_is_attended_to_but_not_recomputed() {
    let (arch, hw) = (llama2_7b(), a100());
    let turn = |context, prompt| {
        let mut wl = Workload::new(1, prompt, 64, prec("fp16"));
        wl.context = context;
        evaluate(&arch, &hw, &wl).unwrap()
    };
    let fresh = turn(0, 256);
    let chat = turn(4096, 256);
    let whole = turn(0, 4096 + 256);
    // Decode sees the same keys as if the history had been the prompt.
    assert!((chat.decode - whole.decode).abs() < 1e-12 * whole.decode);
    // Prefill runs the new tokens only, over more keys than a fresh prompt.
    assert!(fresh.prefill < chat.prefill && chat.prefill < whole.prefill / 4.0);
    // 4096 more keys for each of the 256 queries: QK and score·V.
    let (h, dh) = (32.0, 128.0);
    let extra = 32.0 * 256.0 * 4096.0 * h * (4.0 * dh + 5.0);
    assert!((chat.prefill_flops - fresh.prefill_flops - extra).abs() < 1e-9 * extra);
    assert_eq!(chat.kv_cache_bytes, whole.kv_cache_bytes);
}

#[test]
fn a_workload_past_the_models_context_is_an_error() {
    let mut arch = llama2_7b();
    arch.max_context = Some(4096);
    let mut wl = Workload::new(1, 3000, 1000, prec("fp16"));
    wl.context = 97;
    assert_eq!(
        evaluate(&arch, &a100(), &wl),
        Err(RooflineError::Context {
            needed: 4097,
            max: 4096
        })
    );
    wl.context = 96;
    assert!(evaluate(&arch, &a100(), &wl).is_ok());
}

/// Llama-3-8B (the shapes of the `llama-3.1-8b` preset) against the sizes of
/// the common published GGUF files (`Meta-Llama-3-8B-Instruct-Q4_K_M.gguf`
/// 4.92 GB, `-Q8_0.gguf` 8.54 GB, `-f16.gguf` 16.07 GB); the files also hold
/// the tokenizer, a few MB.
#[test]
fn llama_3_8b_gguf_sizes_match_the_published_files() {
    let arch = crate::models::preset("llama-3.1-8b").unwrap();
    for (format, published) in [("Q4_K_M", 4.92e9), ("Q8_0", 8.54e9), ("F16", 16.07e9)] {
        let wl = Workload::new(1, 128, 16, prec(format));
        let bytes = evaluate(&arch, &a100(), &wl).unwrap().weights_bytes;
        assert!(
            (bytes / published - 1.0).abs() < 0.02,
            "{format}: {bytes} vs {published}"
        );
    }
}

#[test]
fn formats_store_the_embedding_and_head_as_their_runtime_does() {
    let arch = crate::models::preset("llama-3.1-8b").unwrap();
    let hw = a100();
    let head = |p: &str| {
        let b = breakdown(&arch, &hw, &Workload::new(1, 16, 2, prec(p))).unwrap();
        row(&b.decode, "lm_head").1 / (4096.0 * 128_256.0)
    };
    assert_eq!(head("w4a16"), 2.0, "GPTQ/AWQ keep the head in fp16");
    assert_eq!(head("Q4_K_M"), 210.0 / 256.0, "llama.cpp stores it in Q6_K");
    assert_eq!(head("Q8_0"), 34.0 / 32.0);
    assert_eq!(head("q4f16_1"), 18.0 / 32.0, "MLC quantises the head too");
    assert_eq!(head("mlx_4bit"), 36.0 / 64.0);
    assert_eq!(head("nf4"), 2.0);
    // Q4_K_M's V projections: Q6_K in 16 of 32 layers, Q4_K in the rest.
    let b = breakdown(&arch, &hw, &Workload::new(1, 16, 2, prec("Q4_K_M"))).unwrap();
    let v = row(&b.decode, "v_proj").1 / (32.0 * 4096.0 * 1024.0);
    assert_eq!(v, f64::midpoint(210.0, 144.0) / 256.0);
    assert_eq!(
        row(&b.decode, "q_proj").1 / (32.0 * 4096.0 * 4096.0),
        144.0 / 256.0
    );
}

#[test]
fn plain_shorthands_keep_their_bytes() {
    // The `plain` precisions of before named formats: same bytes, to the bit.
    let arch = llama2_7b();
    let s = evaluate(&arch, &a100(), &Workload::new(1, 64, 8, prec("w4a16"))).unwrap();
    let tables = 2.0 * 32_000.0 * 4096.0 * 2.0;
    let matrices = 32.0 * (4.0 * 4096.0 * 4096.0 + 3.0 * 4096.0 * 11008.0) * 0.515_625;
    let norms = (65.0 * 4096.0) * 2.0;
    assert!((s.weights_bytes - (tables + matrices + norms)).abs() < 1.0);
}
