//! A corrupt object is detected on read and by verify, quarantined, and then treated as
//! missing, so the stage that produced it reruns.
mod common;

use std::fs;

use common::{compute, manifest};
use rooflaw_cache::{Lookup, Store, key_of};

fn flip_first_byte(path: &std::path::Path) {
    let mut bytes = fs::read(path).unwrap();
    bytes[0] ^= 0xff;
    fs::write(path, bytes).unwrap();
}

#[test]
fn corrupt_object_is_missing_on_get_with_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let h = store.put(b"a latency table").unwrap();
    flip_first_byte(&store.object_path(&h));

    assert_eq!(store.get(&h).unwrap(), None);
    assert!(!store.contains(&h));
    let warnings = store.warnings();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0].contains(&h.short()) && warnings[0].contains("corrupt"),
        "{warnings:?}"
    );
    assert_eq!(
        fs::read_dir(dir.path().join("quarantine")).unwrap().count(),
        1
    );
    // Storing the content again repairs it.
    assert_eq!(store.put(b"a latency table").unwrap(), h);
    assert_eq!(
        store.get(&h).unwrap().as_deref(),
        Some(&b"a latency table"[..])
    );
}

#[test]
fn entry_with_corrupt_output_is_broken_then_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let m = manifest("fit", 3);
    let key = key_of(&m);
    assert!(compute(&store, &m, b"fitted law"));
    let Lookup::Hit(entry) = store.lookup(&key).unwrap() else {
        panic!("just committed")
    };
    flip_first_byte(&store.object_path(&entry.outputs["out"]));

    // A stat-only lookup cannot see corruption; the verified one can.
    assert!(matches!(store.lookup(&key).unwrap(), Lookup::Hit(_)));
    let Lookup::Broken(reason) = store.lookup_verified(&key).unwrap() else {
        panic!("corruption not detected")
    };
    assert!(
        reason.contains("`out`") && reason.contains("missing or corrupt"),
        "{reason}"
    );
    assert!(matches!(store.lookup(&key).unwrap(), Lookup::Broken(_)));
    // begin sees the broken entry and hands out a claim to recompute it.
    assert!(compute(&store, &m, b"fitted law"));
    assert!(matches!(
        store.lookup_verified(&key).unwrap(),
        Lookup::Hit(_)
    ));
}

#[test]
fn verify_finds_corrupt_objects_and_the_entries_they_break() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    for n in 0..3 {
        compute(&store, &manifest("s", n), format!("output {n}").as_bytes());
    }
    assert!(store.verify().unwrap().is_ok());
    let broken_key = key_of(&manifest("s", 1));
    let object = store.lookup(&broken_key).unwrap();
    let Lookup::Hit(entry) = object else { panic!() };
    let h = entry.outputs["out"];
    flip_first_byte(&store.object_path(&h));
    fs::write(
        dir.path()
            .join("entries")
            .join(format!("{}.json", key_of(&manifest("x", 9)))),
        "{",
    )
    .unwrap();

    let report = store.verify().unwrap();
    assert!(!report.is_ok());
    assert_eq!(report.objects_checked, 3);
    assert_eq!(report.corrupt, vec![h]);
    assert_eq!(report.missing.len(), 1);
    assert_eq!(
        (report.missing[0].key, report.missing[0].output.as_str()),
        (broken_key, "out")
    );
    assert_eq!(report.bad_entries.len(), 1);
    // Quarantined: now reported as missing rather than corrupt.
    let again = store.verify().unwrap();
    assert!(again.corrupt.is_empty());
    assert_eq!(again.missing.len(), 1);
}

#[test]
fn unreadable_entry_is_broken_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let key = key_of(&manifest("s", 1));
    fs::write(
        dir.path().join("entries").join(format!("{key}.json")),
        "not json",
    )
    .unwrap();
    let Lookup::Broken(reason) = store.lookup(&key).unwrap() else {
        panic!()
    };
    assert!(reason.contains("unreadable"), "{reason}");
}
