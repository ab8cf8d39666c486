//! Put/get throughput for 1 MB and 100 MB objects. Ignored by default (it measures the machine);
//! run with `cargo test --release -p rooflaw-cache --test timing -- --ignored --nocapture`.
use std::time::Instant;

use rooflaw_cache::{Entry, Lookup, Store, key_of};

fn best_of<T>(runs: usize, mut f: impl FnMut() -> T) -> f64 {
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
#[ignore = "timing; run explicitly"]
fn put_get_throughput() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for (label, size, runs) in [("1 MB", 1usize << 20, 20), ("100 MB", 100 << 20, 3)] {
        let data: Vec<u8> = (0..size)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let mut salt = 0u8;
        // A fresh object each time so put really writes (fsync included).
        let put = best_of(runs, || {
            salt = salt.wrapping_add(1);
            let mut d = data.clone();
            d[0] = salt;
            store.put(&d).unwrap()
        });
        let h = store.put(&data).unwrap();
        let get = best_of(runs, || store.get(&h).unwrap().unwrap());
        let hash = best_of(runs, || blake3::hash(&data));
        let mb = size as f64 / 1e6;
        println!(
            "{label}: put {:.1} ms ({:.0} MB/s), get {:.1} ms ({:.0} MB/s), blake3 alone {:.1} ms",
            put * 1e3,
            mb / put,
            get * 1e3,
            mb / get,
            hash * 1e3
        );
        if size > 50 << 20 {
            assert!(get < 1.0, "get of {label} took {get:.2} s");
        }
    }
}

/// What a fully cached rerun costs the cache: open the store, then look up every stage.
#[test]
#[ignore = "timing; run explicitly"]
fn open_and_lookup_cost() {
    let dir = tempfile::tempdir().unwrap();
    let keys: Vec<_> = {
        let store = Store::open(dir.path()).unwrap();
        (0..100)
            .map(|i| {
                let m = serde_json::json!({"key_schema": 1, "stage": i, "params": {"x": 0.5}});
                let out = store.put(format!("output {i}").as_bytes()).unwrap();
                let entry =
                    Entry::new(i.to_string(), "t", m.clone(), [("o".into(), out)].into(), 1);
                store.put_entry(&key_of(&m), &entry).unwrap();
                key_of(&m)
            })
            .collect()
    };
    let open = best_of(20, || Store::open(dir.path()).unwrap());
    let store = Store::open(dir.path()).unwrap();
    let ten = best_of(20, || {
        keys[..10]
            .iter()
            .all(|k| matches!(store.lookup(k).unwrap(), Lookup::Hit(_)))
    });
    let hundred = best_of(20, || {
        keys.iter()
            .all(|k| matches!(store.lookup(k).unwrap(), Lookup::Hit(_)))
    });
    println!(
        "Store::open {:.2} ms; lookup of 10 entries {:.3} ms, of 100 entries {:.3} ms",
        open * 1e3,
        ten * 1e3,
        hundred * 1e3
    );
}
