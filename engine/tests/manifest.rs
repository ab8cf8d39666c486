//! Manifests read back equal to what was written, floats bit for bit, and
//! their keys ignore where declarations sit in the file.
use std::collections::BTreeMap;

use proptest::prelude::*;
use rooflaw_engine::manifest::{InputRef, KEY_SCHEMA, Manifest};
use serde_json::json;

fn manifest(floats: &[f64]) -> Manifest {
    Manifest {
        schema: KEY_SCHEMA,
        kind: "roofline".into(),
        version: 1,
        params: json!({ "hardware": { "launch": floats[0], "peak": floats }, "workloads": [{ "batch": 1 }] }),
        inputs: BTreeMap::from([(
            "candidates".into(),
            vec![InputRef {
                stage: "c".into(),
                hash: "ab".into(),
            }],
        )]),
        env: json!(null),
    }
}

proptest! {
    /// Through the cache's bytes (serialised, then parsed back), any finite
    /// float is the same float, so the key is the same and no reason is given.
    #[test]
    fn floats_round_trip_through_a_stored_manifest(
        floats in prop::collection::vec(
            any::<f64>().prop_filter("finite", |f| f.is_finite()), 1..8),
    ) {
        let m = manifest(&floats);
        let bytes = serde_json::to_vec(&m.to_value()).unwrap();
        let back = Manifest::from_value(&serde_json::from_slice(&bytes).unwrap()).unwrap();
        let got: Vec<f64> = back.params["hardware"]["peak"]
            .as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        prop_assert_eq!(
            got.iter().map(|f| f.to_bits()).collect::<Vec<_>>(),
            floats.iter().map(|f| f.to_bits()).collect::<Vec<_>>()
        );
        prop_assert_eq!(back.key(), m.key());
        prop_assert!(m.diff(&back, true).is_empty());
    }
}

#[test]
fn launch_five_microseconds_reads_back_unchanged() {
    // `5 us` and its neighbour below (4.9999999999999996e-6, what the
    // seconds of `5 us` come to), which a fast float parser confuses.
    let m = manifest(&[5e-6, f64::from_bits(5e-6_f64.to_bits() - 1)]);
    let back: Manifest = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
    assert_eq!(back, m);
}

#[test]
fn a_changed_space_reads_in_the_language() {
    let space = |step: f64| {
        json!({
            "name": "arch",
            "fields": [
                { "names": ["width"], "helper": false,
                  "value": { "Range": { "start": { "Num": 768.0 }, "end": { "Num": 3072.0 }, "step": { "Num": step } } } },
            ],
            "requires": [],
        })
    };
    let mut old = manifest(&[1.0]);
    old.params = json!({ "space": space(256.0) });
    let mut new = old.clone();
    new.params = json!({ "space": space(128.0) });
    let reasons: Vec<String> = new
        .diff(&old, true)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        reasons,
        ["space arch: width 768 .. 3072 step 256 → 768 .. 3072 step 128"]
    );
}

#[test]
fn spans_never_reach_a_key() {
    let placed = |start: u32| {
        json!({ "name": { "node": "arch", "span": { "file": 0, "start": start, "end": start + 4 } },
                "fields": [], "requires": [],
                "span": { "file": 1, "start": start, "end": start + 40 } })
    };
    let a = rooflaw_dsl::strip_spans(placed(10));
    let b = rooflaw_dsl::strip_spans(placed(500));
    assert_eq!(a, b);
    assert_eq!(a, json!({ "name": "arch", "fields": [], "requires": [] }));
    // The span-free form still reads back as the language's type.
    let space: rooflaw_dsl::spec::Space = serde_json::from_value(a).unwrap();
    assert_eq!(space.name.node, "arch");
}
