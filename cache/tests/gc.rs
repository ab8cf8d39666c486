//! gc keeps what the roots reach and deletes the rest; a dry run deletes nothing.
mod common;

use std::fs;
use std::path::Path;

use common::{compute, manifest};
use rooflaw_cache::{Error, Lookup, Store, key_of};

fn file_count(dir: &Path) -> usize {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() { file_count(&p) } else { 1 }
        })
        .sum()
}

#[test]
fn gc_keeps_roots_and_removes_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let keep = [manifest("a", 1), manifest("b", 1)];
    let drop_ = [manifest("a", 0), manifest("c", 0)];
    compute(&store, &keep[0], b"shared bytes");
    compute(&store, &keep[1], b"kept only");
    compute(&store, &drop_[0], b"shared bytes"); // same object as a kept entry
    compute(&store, &drop_[1], b"garbage 1234");
    store.set_ref("p#a", &key_of(&drop_[0])).unwrap();
    store.set_ref("p#b", &key_of(&keep[1])).unwrap();
    let roots: Vec<_> = keep.iter().map(key_of).collect();

    let before = file_count(dir.path());
    let dry = store.gc(&roots, true).unwrap();
    assert_eq!(file_count(dir.path()), before, "dry run deleted something");
    assert_eq!((dry.entries_kept, dry.entries_removed), (2, 2));
    assert_eq!((dry.objects_kept, dry.objects_removed), (2, 1));
    assert_eq!(dry.refs_removed, 1);
    assert_eq!(
        dry.bytes_freed,
        fs::metadata(store.object_path(&rooflaw_cache::Hash::of(b"garbage 1234")))
            .unwrap()
            .len()
            + entry_sizes(&store, &drop_)
    );

    let real = store.gc(&roots, false).unwrap();
    assert_eq!(
        real,
        rooflaw_cache::GcReport {
            dry_run: false,
            ..dry
        }
    );
    for m in &keep {
        assert!(matches!(
            store.lookup_verified(&key_of(m)).unwrap(),
            Lookup::Hit(_)
        ));
    }
    for m in &drop_ {
        assert_eq!(store.lookup(&key_of(m)).unwrap(), Lookup::Miss);
    }
    assert!(!store.contains(&rooflaw_cache::Hash::of(b"garbage 1234")));
    assert_eq!(store.get_ref("p#a").unwrap(), None);
    assert_eq!(store.get_ref("p#b").unwrap(), Some(key_of(&keep[1])));
    assert!(store.verify().unwrap().is_ok());
    // The store stays usable after gc (shared lock restored).
    assert!(compute(&store, &manifest("d", 1), b"after gc"));
}

fn entry_sizes(store: &Store, ms: &[serde_json::Value]) -> u64 {
    ms.iter()
        .map(|m| {
            fs::metadata(
                store
                    .root()
                    .join("entries")
                    .join(format!("{}.json", key_of(m))),
            )
            .unwrap()
            .len()
        })
        .sum()
}

#[test]
fn run_records_are_roots() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let pipeline = dir.path().join("p.rl");
    for n in 0..3 {
        compute(&store, &manifest("s", n), format!("run {n}").as_bytes());
        store
            .record_run(&pipeline, &[key_of(&manifest("s", n))])
            .unwrap();
    }
    let roots = store.run_roots(2).unwrap();
    assert_eq!(roots.len(), 2);
    assert!(!roots.contains(&key_of(&manifest("s", 0))));
    let report = store.gc(&roots, false).unwrap();
    assert_eq!((report.entries_kept, report.entries_removed), (2, 1));
}

#[test]
fn gc_refuses_while_another_process_has_the_store_open() {
    let dir = tempfile::tempdir().unwrap();
    let _other = Store::open(dir.path()).unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    compute(&store, &manifest("a", 1), b"x");
    assert!(matches!(store.gc(&[], false), Err(Error::Busy { .. })));
    // Nothing was deleted and the store still works.
    assert!(matches!(
        store.lookup(&key_of(&manifest("a", 1))).unwrap(),
        Lookup::Hit(_)
    ));
    assert!(store.gc(&[], true).is_ok());
}

#[test]
fn gc_clears_quarantine() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(dir.path()).unwrap();
    let h = store.put(b"to be corrupted").unwrap();
    fs::write(store.object_path(&h), b"garbage!").unwrap();
    assert_eq!(store.get(&h).unwrap(), None);
    let report = store.gc(&[], false).unwrap();
    assert_eq!(report.bytes_freed, 8);
    assert_eq!(
        fs::read_dir(dir.path().join("quarantine")).unwrap().count(),
        0
    );
}
