//! Full evaluations (prefill + closed-form decode + memory) per second on one
//! core. Target: ≥ 1,000,000/s.
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rooflaw_stdlib::{Architecture, Dtype, Hardware, Precision, Workload, roofline};
use std::hint::black_box;

/// A100 80GB SXM datasheet peaks, written inline so the bench does not
/// depend on preset parsing.
fn a100() -> Hardware {
    Hardware {
        id: "a100-80gb".into(),
        name: "A100 80GB".into(),
        peak: [
            (Dtype::Fp16, 312e12),
            (Dtype::Bf16, 312e12),
            (Dtype::Int8, 624e12),
        ]
        .into_iter()
        .collect(),
        bandwidth: 2039e9,
        memory: 80e9,
        efficiency_compute: 1.0,
        efficiency_memory: 1.0,
        efficiency_vector: None,
        launch: 0.0,
        memory_technology: None,
    }
}

fn olmoe() -> Architecture {
    let mut a = Architecture::dense(16, 2048, 16, 16, 1024);
    a.experts = 64;
    a.top_k = 8;
    a.qk_norm = true;
    a.qk_norm_full = true;
    a.vocab = 50_304;
    a
}

fn bench(c: &mut Criterion) {
    let hw = a100();
    let cases = [
        (
            "llama-2-7b fp16 1024+128",
            Architecture::dense(32, 4096, 32, 32, 11008),
            "fp16",
        ),
        ("olmoe-1b-7b w4a16kv8 1024+128", olmoe(), "w4a16kv8"),
        ("olmoe-1b-7b fp16 1024+128", olmoe(), "fp16"),
        (
            "llama-2-7b w4a16kv8 1024+128",
            Architecture::dense(32, 4096, 32, 32, 11008),
            "w4a16kv8",
        ),
        // A llama.cpp mix: per-layer tensor types, averaged once per evaluation.
        (
            "llama-2-7b Q4_K_M 1024+128",
            Architecture::dense(32, 4096, 32, 32, 11008),
            "Q4_K_M",
        ),
    ];
    let mut g = c.benchmark_group("evaluate");
    g.throughput(Throughput::Elements(1));
    for (name, arch, p) in cases {
        let wl = Workload::new(1, 1024, 128, Precision::parse(p).unwrap());
        g.bench_function(name, |b| {
            b.iter(|| roofline::evaluate(black_box(&arch), black_box(&hw), black_box(&wl)));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
