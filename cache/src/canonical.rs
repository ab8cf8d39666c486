//! Canonical JSON: one byte string per JSON value, so a manifest's key does not depend on how it
//! was built or printed.
//!
//! Rules:
//! - object keys sorted by their UTF-8 bytes (explicitly, because `serde_json`'s
//!   `preserve_order` feature may be switched on by another crate in the build);
//! - no whitespace;
//! - strings escaped exactly as `serde_json` escapes them;
//! - numbers are compared by value, not by spelling: an integer, or a float that is an integer
//!   of magnitude below 2^53, is printed as a plain decimal integer (`1`, `1.0` and `1e0` agree);
//!   any other float is printed in Rust's `{:e}` form, which uses the shortest digit string that
//!   round-trips (`0.1` and `1e-1` both become `1e-1`); `-0.0` becomes `0`.
use serde_json::{Number, Value};

use crate::Hash;

/// The canonical serialisation of `value`; see the module docs.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_value(&mut out, value);
    out
}

/// The cache key of a manifest: blake3 of its canonical JSON.
///
/// The engine puts a key schema version field in every manifest, so a change in what a manifest
/// contains changes every key instead of silently colliding with old entries.
pub fn key_of(manifest: &Value) -> Hash {
    Hash::of(canonical_json(manifest).as_bytes())
}

/// 2^53: every integer below it is exact in f64, so printing it as an integer loses nothing.
const EXACT: f64 = 9_007_199_254_740_992.0;

/// The canonical spelling of a number, shared with `diff` so `1` and `1.0` are not a change.
pub(crate) fn canonical_number(n: &Number) -> String {
    if let Some(i) = n.as_i64() {
        return i.to_string();
    }
    if let Some(u) = n.as_u64() {
        return u.to_string();
    }
    // serde_json numbers are i64, u64 or finite f64; the fallback only guards arbitrary precision.
    let Some(f) = n.as_f64() else {
        return n.to_string();
    };
    if f == 0.0 {
        "0".to_owned()
    } else if f.fract() == 0.0 && f.abs() < EXACT {
        format!("{}", f as i64)
    } else {
        format!("{f:e}")
    }
}

fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&canonical_number(n)),
        Value::String(s) => write_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut fields: Vec<(&String, &Value)> = map.iter().collect();
            fields.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in fields.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, k);
                out.push(':');
                write_value(out, v);
            }
            out.push('}');
        }
    }
}

fn write_string(out: &mut String, s: &str) {
    // Serialising a &str to JSON cannot fail.
    out.push_str(&serde_json::to_string(s).expect("a string always serialises"));
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_forms() {
        for (input, expected) in [
            (
                json!({"b": 1, "a": [true, null]}),
                r#"{"a":[true,null],"b":1}"#,
            ),
            (json!(0.1), "1e-1"),
            (json!(1.0), "1"),
            (json!(-0.0), "0"),
            (json!(1234.5), "1.2345e3"),
            (json!(1e300), "1e300"),
            (json!(-7), "-7"),
            (json!(u64::MAX), "18446744073709551615"),
            (json!("a\"b\n"), r#""a\"b\n""#),
        ] {
            assert_eq!(canonical_json(&input), expected, "{input}");
        }
    }
}
