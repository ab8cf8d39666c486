//! The one error type of the cache crate.
use std::io;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("invalid hash `{0}`: expected 64 hex digits")]
    InvalidHash(String),
    #[error("cannot parse {}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("cannot parse lock file {}: {source}", path.display())]
    Yaml {
        path: PathBuf,
        #[source]
        source: yaml_serde::Error,
    },
    #[error("lock file {} has version {found}; this rooflaw reads version {expected}", path.display())]
    LockVersion {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("invalid ref name `{0}`: it must be non-empty and contain no control characters")]
    InvalidRefName(String),
    #[error("entry {} lists output `{output}` (object {}) that is not in the store; store outputs before the entry", key.short(), object.short())]
    MissingOutput {
        key: crate::Hash,
        output: String,
        object: crate::Hash,
    },
    #[error("the cache at {} is in use by another rooflaw process; try again when it finishes", root.display())]
    Busy { root: PathBuf },
}

/// Attaches the operation and path to an IO error, so messages say what failed where.
pub(crate) trait IoContext<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T, Error>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx(self, op: &'static str, path: impl Into<PathBuf>) -> Result<T, Error> {
        self.map_err(|source| Error::Io {
            op,
            path: path.into(),
            source,
        })
    }
}
