//! Where corpus bookkeeping lives: the content hash of each corpus file,
//! remembered per file version (path, size, modification time) so a 20 GB
//! token file is read once per version rather than once per run, and text
//! corpora tokenized once. The CLI points it into the pipeline's cache
//! (`<cache>/corpora`); without that, hashes are streamed every time and
//! tokenized text goes to the system's temporary directory.
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};

use super::TrainError;

static DATA_DIR: OnceLock<PathBuf> = OnceLock::new();

/// Put corpus bookkeeping under `dir` (once per process; later calls are
/// ignored, as one process works on one cache).
pub fn set_data_dir(dir: PathBuf) {
    let _ = DATA_DIR.set(dir);
}

pub(crate) fn data_dir() -> Option<&'static Path> {
    DATA_DIR.get().map(PathBuf::as_path)
}

/// Where tokenized text of a corpus with this hash is kept.
pub(crate) fn tokenized_dir(corpus_hash: &str) -> PathBuf {
    let root = data_dir().map_or_else(
        || std::env::temp_dir().join("rooflaw-corpora"),
        Path::to_path_buf,
    );
    root.join("tokenized").join(corpus_hash)
}

/// What a file's remembered hash was computed from.
#[derive(Serialize, Deserialize, PartialEq)]
struct Memo {
    path: PathBuf,
    size: u64,
    mtime_ns: u128,
    blake3: String,
}

/// blake3 of a file's bytes, streamed; remembered while its size and
/// modification time stay the same.
pub fn file_hash(path: &Path) -> Result<String, TrainError> {
    let meta = std::fs::metadata(path).map_err(TrainError::io(path))?;
    let mtime_ns = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let memo_path = data_dir().map(|d| {
        let id = blake3::hash(abs.to_string_lossy().as_bytes()).to_hex();
        d.join("hashes").join(format!("{}.json", &id[..32]))
    });
    if let Some(m) = &memo_path
        && let Ok(bytes) = std::fs::read(m)
        && let Ok(memo) = serde_json::from_slice::<Memo>(&bytes)
        && memo.path == abs
        && memo.size == meta.len()
        && memo.mtime_ns == mtime_ns
    {
        return Ok(memo.blake3);
    }
    let file = std::fs::File::open(path).map_err(TrainError::io(path))?;
    let mut h = blake3::Hasher::new();
    h.update_reader(std::io::BufReader::with_capacity(1 << 20, file))
        .map_err(TrainError::io(path))?;
    let hash = h.finalize().to_hex().to_string();
    if let Some(m) = memo_path {
        // A memo that cannot be written only costs the next run a re-read.
        let memo = Memo {
            path: abs,
            size: meta.len(),
            mtime_ns,
            blake3: hash.clone(),
        };
        let _ = write_atomic(&m, &serde_json::to_vec(&memo).unwrap_or_default());
    }
    Ok(hash)
}

/// Write `bytes` to `path` through a temporary file in the same directory,
/// so a reader never sees half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_is_hashed_once_per_version() {
        let dir = tempfile::tempdir().unwrap();
        set_data_dir(dir.path().join("corpora"));
        // Another test of this process may have set it first; that memo
        // directory works the same.
        let data = data_dir().expect("set above");
        let f = dir.path().join("tokens.bin");
        std::fs::write(&f, b"0123456789").unwrap();
        let real = file_hash(&f).unwrap();
        assert_eq!(real, blake3::hash(b"0123456789").to_hex().to_string());
        // The memo is what a second call reads: doctor it, and it answers.
        let memos: Vec<_> = std::fs::read_dir(data.join("hashes"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| std::fs::read_to_string(p).unwrap().contains(&real))
            .collect();
        assert_eq!(memos.len(), 1);
        let doctored = std::fs::read_to_string(&memos[0])
            .unwrap()
            .replace(&real, "remembered");
        std::fs::write(&memos[0], doctored).unwrap();
        assert_eq!(file_hash(&f).unwrap(), "remembered");
        // A new version (another size) is read again.
        std::fs::write(&f, b"01234567890").unwrap();
        assert_eq!(
            file_hash(&f).unwrap(),
            blake3::hash(b"01234567890").to_hex().to_string()
        );
    }
}
