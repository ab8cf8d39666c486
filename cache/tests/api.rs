//! Properties of the public API the engine relies on.
use std::path::{Path, PathBuf};
use std::process::Command;

use rooflaw_cache::{CACHE_ENV, Error, Store};

#[test]
fn store_can_be_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
}

/// Runs as a child with `ROOFLAW_CACHE` set (the parent cannot set it for itself safely).
#[test]
fn child_default_root_with_env() {
    let Some(dir) = std::env::var_os(CACHE_ENV) else {
        return;
    };
    assert_eq!(
        Store::default_root(Path::new("/p/sweep.rl")),
        PathBuf::from(dir)
    );
}

#[test]
fn default_root_is_beside_the_pipeline_unless_overridden() {
    if std::env::var_os(CACHE_ENV).is_none() {
        // (pipeline file, default cache root)
        for (file, root) in [("/p/sweep.rl", "/p/.rooflaw"), ("sweep.rl", ".rooflaw")] {
            assert_eq!(Store::default_root(Path::new(file)), PathBuf::from(root));
        }
    }
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["child_default_root_with_env", "--exact", "--test-threads=1"])
        .env(CACHE_ENV, "/elsewhere/cache")
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn io_failures_name_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let Err(err) = Store::open(&file) else {
        panic!("opened a store inside a file")
    };
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().contains("not-a-dir"), "{err}");

    let store = Store::open(&dir.path().join("cache")).unwrap();
    let err = store.put_file(&dir.path().join("missing.bin")).unwrap_err();
    assert!(err.to_string().contains("missing.bin"), "{err}");
    assert!(matches!(
        store.set_ref("", &rooflaw_cache::Hash::of(b"")),
        Err(Error::InvalidRefName(_))
    ));
}

#[test]
fn put_file_matches_put() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("cache")).unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let path = dir.path().join("checkpoint.bin");
    std::fs::write(&path, &data).unwrap();
    let h = store.put_file(&path).unwrap();
    assert_eq!(h, rooflaw_cache::Hash::of(&data));
    assert_eq!(store.put(&data).unwrap(), h);
    assert_eq!(store.get(&h).unwrap().unwrap(), data);
    assert!(store.check_object(&h).unwrap());
}
