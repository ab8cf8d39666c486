//! A killed run leaves at most temporary files and an in-progress marker; reopening cleans
//! both and loses nothing that was committed.
mod common;

use std::fs;

use common::{compute, manifest};
use rooflaw_cache::{Claim, Lookup, Recovered, Store, key_of};

#[test]
fn reopen_after_crash_cleans_tmp_and_stale_marker_and_keeps_commits() {
    let dir = tempfile::tempdir().unwrap();
    let committed = manifest("a", 1);
    let killed = key_of(&manifest("b", 2));
    {
        let store = Store::open(dir.path()).unwrap();
        assert!(compute(&store, &committed, b"done"));
    }
    // What a process killed mid-write leaves: a half-written object in tmp/ and the marker of the
    // key it was computing (its key lock died with it).
    fs::write(dir.path().join("tmp/o12345-1-0"), b"half an obj").unwrap();
    fs::write(
        dir.path().join("runs/inprogress").join(killed.to_hex()),
        "pid=12345\n",
    )
    .unwrap();

    let store = Store::open(dir.path()).unwrap();
    assert_eq!(
        store.recovered(),
        Recovered {
            tmp_files: 1,
            stale_runs: 1
        }
    );
    assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    assert!(store.in_progress().unwrap().is_empty());
    assert!(matches!(
        store.lookup(&key_of(&committed)).unwrap(),
        Lookup::Hit(_)
    ));
    assert_eq!(store.lookup(&killed).unwrap(), Lookup::Miss);
    // The killed key can be claimed again.
    assert!(matches!(store.begin(&killed).unwrap(), Claim::Compute(_)));
}

#[test]
fn live_claims_and_their_tmp_files_survive_another_open() {
    let dir = tempfile::tempdir().unwrap();
    let first = Store::open(dir.path()).unwrap();
    let key = key_of(&manifest("slow", 1));
    let Claim::Compute(claim) = first.begin(&key).unwrap() else {
        panic!("fresh key is cached")
    };
    fs::write(dir.path().join("tmp/in-flight"), b"still writing").unwrap();

    let second = Store::open(dir.path()).unwrap();
    assert_eq!(second.recovered(), Recovered::default());
    assert_eq!(second.in_progress().unwrap(), vec![key]);
    assert!(dir.path().join("tmp/in-flight").exists());
    drop(claim);
    assert!(second.in_progress().unwrap().is_empty());
}

#[test]
fn entry_is_refused_until_its_outputs_are_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let m = manifest("a", 1);
    let ghost = rooflaw_cache::Hash::of(b"never stored");
    let entry = rooflaw_cache::Entry::new("a", "test", m.clone(), [("t".into(), ghost)].into(), 0);
    let err = store.put_entry(&key_of(&m), &entry).unwrap_err();
    assert!(err.to_string().contains("not in the store"), "{err}");
    assert_eq!(store.lookup(&key_of(&m)).unwrap(), Lookup::Miss);
}

#[test]
fn dropped_claim_leaves_no_entry_and_no_marker() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let key = key_of(&manifest("fails", 1));
    if let Claim::Compute(claim) = store.begin(&key).unwrap() {
        store.put(b"partial output").unwrap();
        claim.abort();
    }
    assert_eq!(store.lookup(&key).unwrap(), Lookup::Miss);
    assert!(store.in_progress().unwrap().is_empty());
}

const CHILD_ENV: &str = "ROOFLAW_CACHE_TEST_KILLED_CHILD";

/// The body of the process that gets killed; a no-op when run as an ordinary test.
#[test]
fn child_killed_mid_claim() {
    let Ok(root) = std::env::var(CHILD_ENV) else {
        return;
    };
    let root = std::path::PathBuf::from(root);
    let store = Store::open(&root).unwrap();
    let Claim::Compute(_claim) = store.begin(&key_of(&manifest("slow", 7))).unwrap() else {
        panic!("fresh key is cached")
    };
    // Half of an output, as a write interrupted by the kill would leave it.
    fs::write(root.join("tmp/o-interrupted"), b"half").unwrap();
    fs::write(root.join("ready"), b"").unwrap();
    std::thread::sleep(std::time::Duration::from_secs(60));
}

#[test]
fn a_killed_process_is_recovered_from() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cache");
    {
        let store = Store::open(&root).unwrap();
        assert!(compute(
            &store,
            &manifest("before", 1),
            b"committed earlier"
        ));
    }
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["child_killed_mid_claim", "--exact", "--test-threads=1"])
        .env(CHILD_ENV, &root)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !root.join("ready").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "child never got going"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    // While it lives, its claim is respected.
    {
        let store = Store::open(&root).unwrap();
        assert_eq!(store.recovered(), Recovered::default());
        assert_eq!(store.in_progress().unwrap().len(), 1);
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let store = Store::open(&root).unwrap();
    assert_eq!(
        store.recovered(),
        Recovered {
            tmp_files: 1,
            stale_runs: 1
        }
    );
    assert!(matches!(
        store.lookup(&key_of(&manifest("before", 1))).unwrap(),
        Lookup::Hit(_)
    ));
    assert!(compute(&store, &manifest("slow", 7), b"finished this time"));
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn truncated_object_is_rewritten_by_put() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let h = store.put(b"full content").unwrap();
    fs::write(store.object_path(&h), b"full").unwrap();
    assert_eq!(store.put(b"full content").unwrap(), h);
    assert_eq!(
        store.get(&h).unwrap().as_deref(),
        Some(&b"full content"[..])
    );
}
