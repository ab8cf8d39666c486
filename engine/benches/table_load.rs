//! Loading a cached table of 1,000,000 rows (the size of a roofline stage's
//! output over a million candidates): read the object, verify its blake3,
//! decode the columns.
use criterion::{Criterion, criterion_group, criterion_main};
use rooflaw_cache::Store;
use rooflaw_engine::{Artifact, Column, Table};

fn million_rows() -> Artifact {
    let n = 1_000_000;
    let mut t = Table::new();
    for name in [
        "layers", "width", "heads", "kv_heads", "head_dim", "ffn", "experts", "top_k",
    ] {
        t.push(name, Column::I32((0..n).map(|i| i % 97).collect()));
    }
    for name in [
        "prefill_ms",
        "decode_ms",
        "total_ms",
        "per_token_ms",
        "memory_bytes",
        "params",
        "loss",
    ] {
        t.push(
            name,
            Column::F64((0..n).map(|i| f64::from(i) * 1.5).collect()),
        );
    }
    t.push(
        "precision",
        Column::Str(
            (0..n)
                .map(|i| {
                    if i % 2 == 0 {
                        "fp16".into()
                    } else {
                        "int8".into()
                    }
                })
                .collect(),
        ),
    );
    Artifact::table("latency", t)
}

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let artifact = million_rows();
    let bytes = artifact.encode();
    eprintln!("encoded size: {:.1} MB", bytes.len() as f64 / 1e6);
    let hash = store.put(&bytes).unwrap();
    let mut g = c.benchmark_group("table_1m_rows");
    g.sample_size(10);
    g.bench_function("decode", |b| b.iter(|| Artifact::decode(&bytes).unwrap()));
    g.bench_function("store_get_verify_decode", |b| {
        b.iter(|| Artifact::decode(&store.get(&hash).unwrap().unwrap()).unwrap());
    });
    g.bench_function("encode", |b| b.iter(|| artifact.encode()));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
