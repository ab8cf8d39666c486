//! The YAML lock file round-trips and reports every difference `run --locked` must refuse.
use std::collections::BTreeMap;
use std::path::Path;

use rooflaw_cache::{Error, Hash, LockFile, LockedStage};

fn stage(kind: &str, key: &[u8], outputs: &[(&str, &[u8])]) -> LockedStage {
    LockedStage {
        kind: kind.into(),
        key: Hash::of(key),
        outputs: outputs
            .iter()
            .map(|(n, b)| ((*n).to_owned(), Hash::of(b)))
            .collect(),
    }
}

fn sample() -> LockFile {
    let mut lock = LockFile::new("sweep.rl");
    lock.stages.insert(
        "latency".into(),
        stage("roofline", b"k1", &[("table", b"t1")]),
    );
    lock.stages.insert(
        "fit".into(),
        stage("fit", b"k2", &[("law", b"l"), ("residuals", b"r")]),
    );
    lock
}

#[test]
fn round_trip_through_yaml() {
    let dir = tempfile::tempdir().unwrap();
    let path = LockFile::path_for(&dir.path().join("sweep.rl"));
    assert_eq!(path.file_name().unwrap(), "sweep.rl.lock");
    assert_eq!(LockFile::read(&path).unwrap(), None);
    sample().write(&path).unwrap();
    assert_eq!(LockFile::read(&path).unwrap(), Some(sample()));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&Hash::of(b"k1").to_hex()), "{text}");
}

#[test]
fn diff_lists_every_change() {
    let old = sample();
    assert!(old.diff(&old).is_empty());
    let mut new = sample();
    new.stages.get_mut("latency").unwrap().key = Hash::of(b"k1'");
    new.stages
        .get_mut("fit")
        .unwrap()
        .outputs
        .remove("residuals");
    new.stages
        .insert("report".into(), stage("report", b"k3", &[]));
    let k1 = Hash::of(b"k1").short();
    let k1b = Hash::of(b"k1'").short();
    assert_eq!(
        old.diff(&new),
        vec![
            "stage `fit`: output `residuals` removed".to_owned(),
            format!("stage `latency`: key changed from {k1} to {k1b}"),
            "stage `report` added".to_owned(),
        ]
    );
}

#[test]
fn bad_lock_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (text, expected) in [
        (
            "version: 1\npipeline: p\nstages: {a: {kind: k, key: nothex, outputs: {}}}\n",
            "invalid hash",
        ),
        ("version: 2\npipeline: p\nstages: {}\n", "has version 2"),
        ("[not, a, map]\n", "cannot parse lock file"),
    ] {
        let path = dir.path().join("p.rl.lock");
        std::fs::write(&path, text).unwrap();
        let err = LockFile::read(&path).unwrap_err();
        assert!(err.to_string().contains(expected), "{text}: {err}");
        if expected == "has version 2" {
            assert!(matches!(err, Error::LockVersion { found: 2, .. }));
        }
    }
    let _ = (BTreeMap::<u8, u8>::new(), Path::new(""));
}
