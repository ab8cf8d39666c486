//! A corpus declared in a pipeline (`corpus web { train = ... }`): its
//! files, how they hold tokens, their content hash, and opening them for
//! training. Pre-tokenized files are read in place; text files are
//! tokenized once into flat `uint32` files kept by content hash.
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::TrainError;
use super::corpus::Corpus;
use super::store;
use super::tokenizer::HfTokenizer;
use super::tokens::{TokenDtype, Tokens};

/// How a corpus's files hold tokens.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum CorpusFormat {
    /// Flat little-endian ids of `dtype`, every id below `vocab`.
    Tokens { dtype: TokenDtype, vocab: usize },
    /// Text, tokenized by a `tokenizer.json` (or one token per byte), the
    /// vocabulary optionally padded to `vocab`.
    Text {
        tokenizer: Option<PathBuf>,
        vocab: Option<usize>,
    },
}

/// A declared corpus with its files resolved (absolute, patterns expanded).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CorpusSpec {
    pub name: String,
    pub train: Vec<PathBuf>,
    pub valid: Vec<PathBuf>,
    pub format: CorpusFormat,
}

impl CorpusSpec {
    /// Content hash: the format and every file's bytes (names and places
    /// left out, so moving the data keeps every cached run). Each file's
    /// hash is remembered per version ([`store::file_hash`]).
    pub fn hash(&self) -> Result<String, TrainError> {
        let mut h = blake3::Hasher::new();
        match &self.format {
            CorpusFormat::Tokens { dtype, vocab } => {
                h.update(format!("tokens {} {vocab}\n", dtype.name()).as_bytes());
            }
            CorpusFormat::Text { tokenizer, vocab } => {
                let t = match tokenizer {
                    Some(p) => store::file_hash(p)?,
                    None => "bytes".into(),
                };
                h.update(format!("text {t} {vocab:?}\n").as_bytes());
            }
        }
        for (split, files) in [("train", &self.train), ("valid", &self.valid)] {
            h.update(format!("{split} {}\n", files.len()).as_bytes());
            for f in files {
                h.update(store::file_hash(f)?.as_bytes());
            }
        }
        Ok(h.finalize().to_hex().to_string())
    }

    /// The vocabulary a model trained on this corpus needs.
    pub fn vocab(&self) -> Result<usize, TrainError> {
        Ok(match &self.format {
            CorpusFormat::Tokens { vocab, .. } => *vocab,
            CorpusFormat::Text { tokenizer, vocab } => {
                let own = match tokenizer {
                    Some(p) => HfTokenizer::from_file(p)
                        .map_err(TrainError::Corpus)?
                        .vocab_size(),
                    None => 256,
                };
                vocab.unwrap_or(own).max(own)
            }
        })
    }

    /// Open for training; `hash` is [`Self::hash`] (computed once by the
    /// caller, as it keys the job). Text is tokenized on first use.
    pub fn open(&self, hash: &str) -> Result<Corpus, TrainError> {
        let vocab = self.vocab()?;
        let (dtype, train, valid) = match &self.format {
            CorpusFormat::Tokens { dtype, .. } => (*dtype, self.train.clone(), self.valid.clone()),
            CorpusFormat::Text { tokenizer, .. } => {
                let dir = store::tokenized_dir(hash);
                let tok = tokenizer
                    .as_deref()
                    .map(HfTokenizer::from_file)
                    .transpose()
                    .map_err(TrainError::Corpus)?;
                let train = tokenize_once(&self.train, tok.as_ref(), &dir.join("train.u32"))?;
                let valid = tokenize_once(&self.valid, tok.as_ref(), &dir.join("valid.u32"))?;
                (TokenDtype::Uint32, vec![train], vec![valid])
            }
        };
        let train = Tokens::files(&train, dtype, vocab)?;
        let valid = Tokens::files(&valid, dtype, vocab)?;
        if valid.is_empty() {
            return Err(TrainError::Corpus(format!(
                "corpus `{}`: the validation split is empty",
                self.name
            )));
        }
        // Catch a wrong dtype or vocabulary now, not hours into a run.
        train.check_sample(16, 4096)?;
        valid.check_sample(16, 4096)?;
        Ok(Corpus {
            name: self.name.clone(),
            hash: hash.to_string(),
            vocab,
            train,
            valid,
            test: None,
        })
    }
}

/// Tokenize `files` into one flat `uint32` file at `out`, unless a previous
/// run already did (the file only appears once complete). Streams: a text
/// file is read and encoded a block of lines at a time.
fn tokenize_once(
    files: &[PathBuf],
    tok: Option<&HfTokenizer>,
    out: &Path,
) -> Result<PathBuf, TrainError> {
    if out.exists() {
        return Ok(out.to_path_buf());
    }
    let dir = out.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(TrainError::io(dir))?;
    let tmp = out.with_extension(format!("tmp{}", std::process::id()));
    let mut w = BufWriter::new(std::fs::File::create(&tmp).map_err(TrainError::io(&tmp))?);
    let mut encode = |text: &str, path: &Path| -> Result<(), TrainError> {
        let ids = match tok {
            Some(t) => t
                .encode(text)
                .map_err(|e| TrainError::Corpus(format!("{}: {e}", path.display())))?,
            None => text.bytes().map(u32::from).collect(),
        };
        for id in ids {
            w.write_all(&id.to_le_bytes())
                .map_err(TrainError::io(&tmp))?;
        }
        Ok(())
    };
    for path in files {
        let mut r = BufReader::new(std::fs::File::open(path).map_err(TrainError::io(path))?);
        let mut block = String::new();
        loop {
            let n = r.read_line(&mut block).map_err(|e| {
                TrainError::Corpus(format!("{}: not UTF-8 text ({e})", path.display()))
            })?;
            // Blocks end at line ends, so no word is cut in two.
            if n == 0 || block.len() >= 1 << 20 {
                if !block.is_empty() {
                    encode(&block, path)?;
                    block.clear();
                }
                if n == 0 {
                    break;
                }
            }
        }
    }
    w.flush().map_err(TrainError::io(&tmp))?;
    drop(w);
    std::fs::rename(&tmp, out).map_err(TrainError::io(out))?;
    Ok(out.to_path_buf())
}

/// Expand a file name or a pattern (`*` and `?` in the last component only)
/// relative to `base`, sorted.
pub fn expand(base: &Path, pattern: &str) -> Result<Vec<PathBuf>, String> {
    let full = base.join(pattern);
    let name = full
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !name.contains(['*', '?']) {
        return if full.is_file() {
            Ok(vec![full])
        } else {
            Err(format!("no file {}", full.display()))
        };
    }
    let dir = full.parent().unwrap_or(base);
    let rd = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut out: Vec<PathBuf> = rd
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file() && matches(&name, &e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(format!("no file matches {}", full.display()));
    }
    Ok(out)
}

/// Shell-style match of `*` (any run) and `?` (one character).
fn matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut i, mut j, mut star, mut mark) = (0, 0, None, 0);
    while j < n.len() {
        if i < p.len() && (p[i] == '?' || p[i] == n[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some(i);
            mark = j;
            i += 1;
        } else if let Some(s) = star {
            i = s + 1;
            mark += 1;
            j = mark;
        } else {
            return false;
        }
    }
    p[i..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_like_a_shell() {
        assert!(matches("*.txt", "a.txt"));
        assert!(matches("part-??.bin", "part-07.bin"));
        assert!(!matches("*.txt", "a.txt.gz"));
        assert!(matches("*", ""));
        assert!(!matches("a?", "a"));
    }

    #[test]
    fn expansion_is_sorted_and_empty_matches_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        for n in ["b.txt", "a.txt", "c.md"] {
            std::fs::write(dir.path().join(n), "x").unwrap();
        }
        let got = expand(dir.path(), "*.txt").unwrap();
        let names: Vec<_> = got
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["a.txt", "b.txt"]);
        assert!(
            expand(dir.path(), "*.bin")
                .unwrap_err()
                .contains("no file matches")
        );
        assert!(expand(dir.path(), "d.txt").unwrap_err().contains("no file"));
    }
}
