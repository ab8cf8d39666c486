//! Concurrent writers — threads of one process and separate processes — compute each key once
//! and never corrupt the store.
mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{manifest, payload};
use rooflaw_cache::{Claim, Entry, Lookup, Store, key_of};

const SHARED_KEYS: u64 = 12;
const OWN_KEYS: u64 = 6;
const CHILD_ENV: &str = "ROOFLAW_CACHE_TEST_CHILD";

/// One writer's workload: every shared key (contended) and some keys of its own. Appends the
/// keys it computed to `log` (if any) so the parent can check nothing ran twice.
fn workload(store: &Store, writer: u64, computed: &dyn Fn(u64)) {
    for n in (0..SHARED_KEYS).chain((0..OWN_KEYS).map(|i| 1000 * (writer + 1) + i)) {
        let m = manifest("shared", n);
        let key = key_of(&m);
        match store.begin(&key).unwrap() {
            Claim::Cached(e) => assert_eq!(e.manifest, m),
            Claim::Compute(claim) => {
                // Long enough that the other writers pile up on the key lock.
                std::thread::sleep(Duration::from_millis(5));
                let out = store.put(&payload(&key, 64 * 1024)).unwrap();
                let entry = Entry::new(
                    "shared",
                    "test",
                    m,
                    BTreeMap::from([("out".into(), out)]),
                    5,
                );
                claim.commit(&entry).unwrap();
                computed(n);
            }
        }
    }
}

fn check_complete(store: &Store, writers: u64) {
    for n in (0..SHARED_KEYS)
        .chain((0..writers).flat_map(|w| (0..OWN_KEYS).map(move |i| 1000 * (w + 1) + i)))
    {
        let key = key_of(&manifest("shared", n));
        let Lookup::Hit(e) = store.lookup_verified(&key).unwrap() else {
            panic!("key {n} missing")
        };
        assert_eq!(
            store.get(&e.outputs["out"]).unwrap().unwrap(),
            payload(&key, 64 * 1024)
        );
    }
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert!(store.in_progress().unwrap().is_empty());
    assert!(store.warnings().is_empty());
}

#[test]
fn threads_compute_each_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let counts: Arc<Vec<AtomicUsize>> =
        Arc::new((0..10_000).map(|_| AtomicUsize::new(0)).collect());
    let threads: Vec<_> = (0..4)
        .map(|w| {
            let (store, counts) = (Arc::clone(&store), Arc::clone(&counts));
            std::thread::spawn(move || {
                workload(&store, w, &|n| {
                    counts[usize::try_from(n).unwrap()].fetch_add(1, Ordering::SeqCst);
                });
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(counts.iter().all(|c| c.load(Ordering::SeqCst) <= 1));
    let computed: usize = counts.iter().map(|c| c.load(Ordering::SeqCst)).sum();
    assert_eq!(
        computed,
        usize::try_from(SHARED_KEYS + 4 * OWN_KEYS).unwrap()
    );
    check_complete(&store, 4);
}

/// The body of a child process; a no-op when run as an ordinary test.
#[test]
fn child_writer() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (root, rest) = spec.split_once('|').unwrap();
    let (writer, log) = rest.split_once('|').unwrap();
    let store = Store::open(root.as_ref()).unwrap();
    let log_lines = std::sync::Mutex::new(String::new());
    workload(&store, writer.parse().unwrap(), &|n| {
        writeln!(log_lines.lock().unwrap(), "{n}").unwrap();
    });
    fs::write(log, log_lines.into_inner().unwrap()).unwrap();
}

#[test]
fn two_processes_compute_each_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("cache");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|w| {
            let log = dir.path().join(format!("computed-{w}.txt"));
            let spec = format!("{}|{w}|{}", root.display(), log.display());
            let child = Command::new(&exe)
                .args(["child_writer", "--exact", "--test-threads=1"])
                .env(CHILD_ENV, spec)
                .spawn()
                .unwrap();
            (child, log)
        })
        .collect();
    let mut computed: Vec<u64> = Vec::new();
    for (mut child, log) in children {
        assert!(child.wait().unwrap().success());
        computed.extend(
            fs::read_to_string(log)
                .unwrap()
                .lines()
                .map(|l| l.parse::<u64>().unwrap()),
        );
    }
    let total = computed.len();
    computed.sort_unstable();
    computed.dedup();
    assert_eq!(
        total,
        computed.len(),
        "a key was computed by both processes"
    );
    assert_eq!(total, usize::try_from(SHARED_KEYS + 2 * OWN_KEYS).unwrap());
    check_complete(&Store::open(&root).unwrap(), 2);
}

#[test]
fn same_object_written_concurrently_is_intact() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    let data = Arc::new(vec![7u8; 1 << 20]);
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (store, data) = (Arc::clone(&store), Arc::clone(&data));
            std::thread::spawn(move || {
                let hashes: Vec<_> = (0..20).map(|_| store.put(&data).unwrap()).collect();
                hashes[19]
            })
        })
        .collect();
    let hashes: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(hashes.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(store.get(&hashes[0]).unwrap().as_deref(), Some(&data[..]));
    assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
}
