//! Helpers shared by the integration tests.
#![allow(dead_code)]
use std::collections::BTreeMap;

use rooflaw_cache::{Claim, Entry, Hash, Store, key_of};
use serde_json::{Value, json};

pub fn manifest(stage: &str, n: u64) -> Value {
    json!({"key_schema": 1, "kind": "test", "stage": stage, "params": {"n": n}})
}

/// Computes `stage` under its key if nobody has: stores one output derived from the key.
/// Returns whether this call did the computing.
pub fn compute(store: &Store, m: &Value, payload: &[u8]) -> bool {
    let key = key_of(m);
    match store.begin(&key).unwrap() {
        Claim::Cached(e) => {
            assert_eq!(&e.manifest, m);
            false
        }
        Claim::Compute(claim) => {
            let out = store.put(payload).unwrap();
            let outputs = BTreeMap::from([("out".to_owned(), out)]);
            let stage = m["stage"].as_str().unwrap_or("s").to_owned();
            claim
                .commit(&Entry::new(stage, "test", m.clone(), outputs, 1))
                .unwrap();
            true
        }
    }
}

pub fn payload(key: &Hash, size: usize) -> Vec<u8> {
    key.as_bytes().iter().copied().cycle().take(size).collect()
}
