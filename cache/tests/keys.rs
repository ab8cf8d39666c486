//! The cache key depends on a manifest's meaning, not its spelling.
use rooflaw_cache::{canonical_json, key_of};
use serde_json::{Value, json};

fn parse(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn spelling_does_not_change_the_key() {
    // (one spelling, another spelling of the same manifest)
    for (a, b) in [
        (
            r#"{"a": 1, "b": {"x": 0.1, "y": [1, 2]}}"#,
            r#"{"b":{"y":[1,2],"x":1e-1},"a":1}"#,
        ),
        (r#"{"latency_s": 1.0}"#, r#"{"latency_s": 1}"#),
        (r#"{"latency_s": 1.0}"#, r#"{"latency_s": 1e0}"#),
        (r#"{"lr": 0.0003}"#, r#"{"lr": 3e-4}"#),
        (r#"{"lr": 0.0003}"#, r#"{"lr": 3.0E-4}"#),
        (r#"{"z": -0.0}"#, r#"{"z": 0}"#),
        (r#"{"s": "é"}"#, r#"{"s": "\u00e9"}"#),
    ] {
        assert_eq!(key_of(&parse(a)), key_of(&parse(b)), "{a} vs {b}");
    }
}

#[test]
fn meaning_changes_the_key() {
    for (a, b) in [
        (r#"{"a": 1}"#, r#"{"a": 2}"#),
        (r#"{"a": 0.1}"#, r#"{"a": 0.10000000000000002}"#),
        (r#"{"a": [1, 2]}"#, r#"{"a": [2, 1]}"#),
        (r#"{"a": "1"}"#, r#"{"a": 1}"#),
        (r#"{"a": null}"#, "{}"),
        (r#"{"a": {"b": 1}}"#, r#"{"a.b": 1}"#),
    ] {
        assert_ne!(key_of(&parse(a)), key_of(&parse(b)), "{a} vs {b}");
    }
}

#[test]
fn key_is_blake3_of_the_canonical_text() {
    let m = json!({"key_schema": 1, "kind": "fit", "params": {"delta": 0.001}});
    assert_eq!(
        canonical_json(&m),
        r#"{"key_schema":1,"kind":"fit","params":{"delta":1e-3}}"#
    );
    assert_eq!(
        key_of(&m).to_hex(),
        blake3::hash(canonical_json(&m).as_bytes())
            .to_hex()
            .as_str()
    );
}
