//! Content-addressed, crash-safe store for rooflaw stage outputs.
//!
//! - **Objects** are immutable blobs named by the blake3 of their bytes: [`Store::put`],
//!   [`Store::put_file`] (streaming, for checkpoints), [`Store::get`] (verifies the hash; a
//!   corrupt object is quarantined, recorded in [`Store::warnings`] and reads as missing).
//! - **Entries** record what a stage, or one item of a map stage, produced under a cache key:
//!   [`Store::put_entry`] is the commit point and refuses entries whose outputs are not stored;
//!   [`Store::lookup`] answers [`Lookup::Hit`], [`Lookup::Miss`] (never run) or
//!   [`Lookup::Broken`] (output missing or corrupt, with the reason).
//! - **Keys** are [`key_of`] a JSON manifest: blake3 of its canonical form ([`canonical_json`]:
//!   sorted keys, no whitespace, numbers by value). The engine puts a key schema version in each
//!   manifest; the manifest is stored in the entry so the engine can explain a rerun.
//! - **Claims**: [`Store::begin`] takes a per-key lock (a second claimant waits, then gets
//!   [`Claim::Cached`]) and writes an in-progress marker; [`Store::open`] removes markers left
//!   by dead processes and, when it is alone, their temporary files ([`Store::recovered`]).
//! - **Locking**: every open `Store` holds a shared lock on `<root>/lock`; [`Store::gc`] takes
//!   it exclusively, or fails with [`Error::Busy`].
//! - **Refs** ([`Store::set_ref`]) name the last key of a stage; **run records**
//!   ([`Store::record_run`], [`Store::run_roots`]) and [`LockFile`] keys are gc roots.
//!
//! ```
//! # use rooflaw_cache::*;
//! # let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path())?;
//! let manifest = serde_json::json!({"key_schema": 1, "kind": "roofline", "params": {"batch": 1}});
//! let key = key_of(&manifest);
//! if let Claim::Compute(claim) = store.begin(&key)? {
//!     let table = store.put(b"latency table bytes")?;
//!     let outputs = [("table".to_owned(), table)].into();
//!     claim.commit(&Entry::new("latency", "roofline", manifest, outputs, 12))?;
//! }
//! assert!(matches!(store.lookup(&key)?, Lookup::Hit(_)));
//! # Ok::<(), Error>(())
//! ```
pub mod boundary;
mod canonical;
mod entries;
mod entry;
mod error;
pub mod files;
mod fsutil;
mod gc;
mod hash;
mod in_progress;
mod lock_file;
mod refs;
mod runs;
mod store;
mod verify;

pub use canonical::{canonical_json, key_of};
pub use entry::{Entry, EntryInfo, Lookup};
pub use error::Error;
pub use gc::GcReport;
pub use hash::Hash;
pub use in_progress::{Claim, InProgress};
pub use lock_file::{LOCK_VERSION, LockFile, LockedStage};
pub use runs::{MAX_RUN_RECORDS, RunRecord};
pub use store::{CACHE_ENV, Recovered, Store};
pub use verify::{MissingOutput, VerifyReport};
