//! A workload's runtime as a `Copy` handle, so [`crate::Workload`] stays a
//! plain value: runtimes are interned by content (never freed; a process
//! sees a handful), and serialised as that content, so a cache key changes
//! with any of a profile's figures and an `ideal` workload's key is today's.
use std::sync::Mutex;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::Runtime;

#[derive(Clone, Copy)]
pub struct RuntimeRef(&'static Runtime);

static INTERNED: Mutex<Vec<&'static Runtime>> = Mutex::new(Vec::new());

impl RuntimeRef {
    pub fn new(rt: Runtime) -> RuntimeRef {
        let mut all = INTERNED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(r) = all.iter().find(|r| ***r == rt) {
            return RuntimeRef(r);
        }
        let r: &'static Runtime = Box::leak(Box::new(rt));
        all.push(r);
        RuntimeRef(r)
    }

    pub fn ideal() -> RuntimeRef {
        static IDEAL: std::sync::OnceLock<RuntimeRef> = std::sync::OnceLock::new();
        // The preset: the same figures, with the bands of today's model.
        *IDEAL.get_or_init(|| {
            RuntimeRef::new(super::preset(super::IDEAL).map_or_else(Runtime::ideal, |p| p.runtime))
        })
    }

    pub fn get(self) -> &'static Runtime {
        self.0
    }

    pub fn is_ideal(&self) -> bool {
        self.0.is_ideal()
    }
}

impl Default for RuntimeRef {
    fn default() -> Self {
        RuntimeRef::ideal()
    }
}

impl std::ops::Deref for RuntimeRef {
    type Target = Runtime;
    fn deref(&self) -> &Runtime {
        self.0
    }
}

impl PartialEq for RuntimeRef {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.0, other.0) || self.0 == other.0
    }
}

impl std::fmt::Debug for RuntimeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RuntimeRef({})", self.0.id)
    }
}

impl Serialize for RuntimeRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for RuntimeRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Runtime::deserialize(d).map(RuntimeRef::new)
    }
}
