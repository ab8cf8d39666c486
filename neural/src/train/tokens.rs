//! A corpus split as a sequence of token ids: in memory (the bundled corpus,
//! tests) or in flat files of little-endian `uint16`/`uint32` ids (the
//! nanoGPT and Megatron `.bin` convention, and rooflaw's own tokenized text)
//! read window by window with positioned reads, so a split far larger than
//! memory trains in the memory of one batch. Positioned reads rather than a
//! memory map: the workspace forbids `unsafe`, and a batch's few dozen
//! windows cost a few dozen `pread`s, which the page cache serves as fast.
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::TrainError;

/// Width of the ids in a pre-tokenized file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenDtype {
    Uint16,
    Uint32,
}

impl TokenDtype {
    pub fn parse(word: &str) -> Option<Self> {
        match word {
            "uint16" => Some(Self::Uint16),
            "uint32" => Some(Self::Uint32),
            _ => None,
        }
    }

    pub fn bytes(self) -> u64 {
        match self {
            Self::Uint16 => 2,
            Self::Uint32 => 4,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Uint16 => "uint16",
            Self::Uint32 => "uint32",
        }
    }
}

/// One flat file of token ids, open for positioned reads.
#[derive(Debug)]
struct TokenFile {
    path: PathBuf,
    file: File,
    dtype: TokenDtype,
    /// Tokens in the file.
    len: u64,
}

impl TokenFile {
    fn open(path: &Path, dtype: TokenDtype) -> Result<Self, TrainError> {
        let file = File::open(path).map_err(TrainError::io(path))?;
        let size = file.metadata().map_err(TrainError::io(path))?.len();
        if size % dtype.bytes() != 0 {
            return Err(TrainError::Corpus(format!(
                "{}: {size} bytes is not a whole number of {} ids ({} bytes each); \
                 is `tokens = {}` the type the file was written with?",
                path.display(),
                dtype.name(),
                dtype.bytes(),
                dtype.name()
            )));
        }
        Ok(Self {
            path: path.to_path_buf(),
            file,
            dtype,
            len: size / dtype.bytes(),
        })
    }

    fn read(&self, start: u64, n: usize, out: &mut Vec<u32>) -> Result<(), TrainError> {
        let w = self.dtype.bytes() as usize;
        let mut buf = vec![0u8; n * w];
        self.file
            .read_exact_at(&mut buf, start * w as u64)
            .map_err(TrainError::io(&self.path))?;
        match self.dtype {
            TokenDtype::Uint16 => out.extend(
                buf.chunks_exact(2)
                    .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]]))),
            ),
            TokenDtype::Uint32 => out.extend(
                buf.chunks_exact(4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
            ),
        }
        Ok(())
    }
}

#[derive(Debug)]
enum Part {
    Memory(Vec<u32>),
    File(TokenFile),
}

impl Part {
    fn len(&self) -> u64 {
        match self {
            Part::Memory(v) => v.len() as u64,
            Part::File(f) => f.len,
        }
    }

    fn name(&self) -> String {
        match self {
            Part::Memory(_) => "in-memory tokens".into(),
            Part::File(f) => f.path.display().to_string(),
        }
    }
}

/// One split: its parts (files) concatenated, every id below `vocab`.
#[derive(Debug)]
pub struct Tokens {
    parts: Vec<Part>,
    /// Start of each part in the concatenation.
    starts: Vec<u64>,
    len: u64,
    vocab: usize,
}

impl Tokens {
    pub fn from_vec(ids: Vec<u32>, vocab: usize) -> Self {
        Self::new(vec![Part::Memory(ids)], vocab)
    }

    /// The files in order, each opened and its size checked against `dtype`;
    /// nothing is read yet.
    pub fn files(paths: &[PathBuf], dtype: TokenDtype, vocab: usize) -> Result<Self, TrainError> {
        let parts = paths
            .iter()
            .map(|p| TokenFile::open(p, dtype).map(Part::File))
            .collect::<Result<_, _>>()?;
        Ok(Self::new(parts, vocab))
    }

    fn new(parts: Vec<Part>, vocab: usize) -> Self {
        // An empty file adds nothing, and would stall the window walk.
        let parts: Vec<Part> = parts.into_iter().filter(|p| p.len() > 0).collect();
        let mut starts = Vec::with_capacity(parts.len());
        let mut len = 0;
        for p in &parts {
            starts.push(len);
            len += p.len();
        }
        Self {
            parts,
            starts,
            len,
            vocab,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Tokens `start .. start + n` of the concatenation, checked against the
    /// vocabulary as they are read.
    pub fn window(&self, start: u64, n: usize) -> Result<Vec<u32>, TrainError> {
        if start + n as u64 > self.len {
            return Err(TrainError::Corpus(format!(
                "window {start}..{} is past the split's {} tokens",
                start + n as u64,
                self.len
            )));
        }
        let mut out = Vec::with_capacity(n);
        let mut at = start;
        let end = start + n as u64;
        while at < end {
            let i = self.starts.partition_point(|&s| s <= at) - 1;
            let part = &self.parts[i];
            let local = at - self.starts[i];
            let take = (end - at).min(part.len() - local) as usize;
            let before = out.len();
            match part {
                Part::Memory(v) => out.extend_from_slice(&v[local as usize..local as usize + take]),
                Part::File(f) => f.read(local, take, &mut out)?,
            }
            if let Some(k) = out[before..]
                .iter()
                .position(|&id| id as usize >= self.vocab)
            {
                return Err(TrainError::Corpus(format!(
                    "{}: token {} is id {}, past the vocabulary of {}; \
                     is `vocab` right, and `tokens` the type the file was written with?",
                    part.name(),
                    local + k as u64,
                    out[before + k],
                    self.vocab
                )));
            }
            at += take as u64;
        }
        Ok(out)
    }

    /// Reads `windows` evenly spaced windows of up to `size` tokens, so a
    /// file of the wrong type or vocabulary fails before training starts
    /// rather than hours into it.
    pub fn check_sample(&self, windows: u64, size: usize) -> Result<(), TrainError> {
        let size = (size as u64).min(self.len);
        if size == 0 {
            return Ok(());
        }
        let span = self.len - size;
        for k in 0..windows {
            let start = if windows > 1 {
                span * k / (windows - 1)
            } else {
                0
            };
            self.window(start, size as usize)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    #[test]
    fn windows_cross_file_boundaries_in_both_widths() {
        let dir = tempfile::tempdir().unwrap();
        let a: Vec<u8> = (0u16..10).flat_map(u16::to_le_bytes).collect();
        let b: Vec<u8> = (10u16..25).flat_map(u16::to_le_bytes).collect();
        let t = Tokens::files(
            &[
                write(dir.path(), "a.bin", &a),
                write(dir.path(), "b.bin", &b),
            ],
            TokenDtype::Uint16,
            100,
        )
        .unwrap();
        assert_eq!(t.len(), 25);
        assert_eq!(t.window(7, 6).unwrap(), (7..13).collect::<Vec<u32>>());
        let c: Vec<u8> = [70_000u32, 3]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let t = Tokens::files(
            &[write(dir.path(), "c.bin", &c)],
            TokenDtype::Uint32,
            80_000,
        )
        .unwrap();
        assert_eq!(t.window(0, 2).unwrap(), vec![70_000, 3]);
        assert!(
            t.window(1, 2)
                .unwrap_err()
                .to_string()
                .contains("past the split")
        );
    }

    #[test]
    fn odd_sized_uint16_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "odd.bin", &[1, 2, 3]);
        let err = Tokens::files(&[p], TokenDtype::Uint16, 10)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("odd.bin") && err.contains("3 bytes") && err.contains("uint16"),
            "{err}"
        );
    }

    #[test]
    fn ids_past_the_vocabulary_are_found_by_the_sample_check() {
        let dir = tempfile::tempdir().unwrap();
        let mut ids: Vec<u16> = vec![1; 10_000];
        ids[9_999] = 500;
        let bytes: Vec<u8> = ids.iter().flat_map(|x| x.to_le_bytes()).collect();
        let t = Tokens::files(
            &[write(dir.path(), "v.bin", &bytes)],
            TokenDtype::Uint16,
            256,
        )
        .unwrap();
        let err = t.check_sample(8, 64).unwrap_err().to_string();
        assert!(
            err.contains("token 9999 is id 500") && err.contains("256"),
            "{err}"
        );
    }
}
