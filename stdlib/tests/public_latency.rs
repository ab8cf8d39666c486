//! The regression gate of the fitted runtime profiles: leave-one-device-out
//! median error on the public-latency calibration set may not worsen by
//! more than 2 points from the committed figure
//! (`bench/public-latency/baseline.json`, written by the bench's `--write`).
use std::path::PathBuf;

use rooflaw_stdlib::runtime::calibration;
use rooflaw_stdlib::runtime::fit::{self, Physics};

const SLACK: f64 = 0.02;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn cross_validated_error_does_not_regress() {
    let (samples, skipped) = calibration::load(&root().join("bench/public-latency/data")).unwrap();
    assert_eq!(
        samples.len() + skipped.len(),
        300,
        "the calibration set has 300 rows"
    );
    let text = std::fs::read_to_string(root().join("bench/public-latency/baseline.json")).unwrap();
    let base: serde_json::Value = serde_json::from_str(&text).unwrap();
    let committed = |k: &str| base[k].as_f64().unwrap();
    let held = fit::cross_validate(&samples, Physics::FULL).unwrap();
    let (decode, prefill) = fit::medians(&samples, &held);
    assert!(
        decode <= committed("decode_median_error") + SLACK,
        "decode median error {decode:.4} worse than the committed {} + {SLACK}",
        committed("decode_median_error")
    );
    assert!(
        prefill <= committed("prefill_median_error") + SLACK,
        "prefill median error {prefill:.4} worse than the committed {} + {SLACK}",
        committed("prefill_median_error")
    );
    // The fitted model beats today's on both phases.
    let (d0, p0) = fit::medians(
        &samples,
        &fit::cross_validate(&samples, Physics::IDEAL).unwrap(),
    );
    assert!(
        decode < d0 && prefill < p0,
        "fit {decode}/{prefill} vs today {d0}/{p0}"
    );
}

#[test]
fn every_calibration_device_has_a_memory_class_and_rows_map_to_presets() {
    let (samples, _) = calibration::load(&root().join("bench/public-latency/data")).unwrap();
    for s in &samples {
        assert!(s.hw.memory_technology.is_some(), "{}", s.id);
        assert!(
            rooflaw_stdlib::runtime::preset(&s.runtime).is_some(),
            "{}",
            s.runtime
        );
    }
}
