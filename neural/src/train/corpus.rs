//! Training text: the State of the Union corpus shipped in `stdlib/data/sotu`
//! (see its README for provenance and checksums), split by year, tokenized,
//! and cut into deterministic batches.
use super::{TrainError, tokenizer::Tokenizer, tokens::Tokens};
use rooflaw_stdlib::rng::SplitMix64;
use std::io::Read;

const SOTU_TRAIN: &[u8] = include_bytes!("../../data/sotu/train.txt.gz");
const SOTU_VALID: &[u8] = include_bytes!("../../data/sotu/valid.txt.gz");
const SOTU_TEST: &[u8] = include_bytes!("../../data/sotu/test.txt.gz");

/// Corpora known by name (what a pipeline file may write).
pub const CORPORA: &[&str] = &["sotu"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Valid,
    Test,
}

/// A tokenized corpus with its splits.
#[derive(Debug)]
pub struct Corpus {
    pub name: String,
    /// blake3 of the tokenizer name and the three uncompressed splits: what a
    /// training job's cache key records.
    pub hash: String,
    /// The tokenizer's vocabulary size: the model's vocab (it overrides the
    /// architecture's `vocab`).
    pub vocab: usize,
    pub train: Tokens,
    pub valid: Tokens,
    /// Declared corpora have none.
    pub test: Option<Tokens>,
}

impl Corpus {
    /// Loads a shipped corpus by name.
    pub fn load(name: &str, tokenizer: &dyn Tokenizer) -> Result<Self, TrainError> {
        match name {
            "sotu" => {
                let train = gunzip(SOTU_TRAIN, "sotu/train")?;
                let valid = gunzip(SOTU_VALID, "sotu/valid")?;
                let test = gunzip(SOTU_TEST, "sotu/test")?;
                Ok(Self::from_text(name, tokenizer, &train, &valid, &test))
            }
            other => Err(TrainError::UnknownCorpus {
                name: other.to_string(),
                known: CORPORA.join(", "),
            }),
        }
    }

    /// A corpus from in-memory text (tests, user files).
    pub fn from_text(
        name: &str,
        tokenizer: &dyn Tokenizer,
        train: &[u8],
        valid: &[u8],
        test: &[u8],
    ) -> Self {
        let mut h = blake3::Hasher::new();
        h.update(tokenizer.name().as_bytes());
        for part in [train, valid, test] {
            // Length-prefixed so that moving bytes between splits changes the hash.
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let vocab = tokenizer.vocab_size();
        Self {
            name: name.to_string(),
            hash: h.finalize().to_hex().to_string(),
            vocab,
            train: Tokens::from_vec(tokenizer.encode(train), vocab),
            valid: Tokens::from_vec(tokenizer.encode(valid), vocab),
            test: Some(Tokens::from_vec(tokenizer.encode(test), vocab)),
        }
    }

    pub fn split(&self, split: Split) -> Option<&Tokens> {
        match split {
            Split::Train => Some(&self.train),
            Split::Valid => Some(&self.valid),
            Split::Test => self.test.as_ref(),
        }
    }
}

fn gunzip(bytes: &[u8], what: &str) -> Result<Vec<u8>, TrainError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .map_err(|e| TrainError::Corpus(format!("cannot decompress {what}: {e}")))?;
    Ok(out)
}

/// One batch: `inputs[b][t]` predicts `targets[b][t]`, flattened row-major
/// to `batch × seq_len`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Batch {
    pub inputs: Vec<u32>,
    pub targets: Vec<u32>,
    pub batch: usize,
    pub seq_len: usize,
}

/// Draws `batch` windows of `seq_len + 1` tokens at uniformly random offsets.
/// The same generator state always gives the same batch.
pub fn sample_batch(
    tokens: &Tokens,
    batch: usize,
    seq_len: usize,
    rng: &mut SplitMix64,
) -> Result<Batch, TrainError> {
    if batch == 0 || seq_len == 0 {
        return Err(TrainError::Recipe(
            "batch and seq_len must be positive".into(),
        ));
    }
    if tokens.len() < seq_len as u64 + 1 {
        return Err(TrainError::Corpus(format!(
            "split has {} tokens, fewer than seq_len + 1 = {}",
            tokens.len(),
            seq_len + 1
        )));
    }
    let starts = tokens.len() - seq_len as u64;
    let mut inputs = Vec::with_capacity(batch * seq_len);
    let mut targets = Vec::with_capacity(batch * seq_len);
    for _ in 0..batch {
        let w = tokens.window(rng.below(starts), seq_len + 1)?;
        inputs.extend_from_slice(&w[..seq_len]);
        targets.extend_from_slice(&w[1..]);
    }
    Ok(Batch {
        inputs,
        targets,
        batch,
        seq_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::tokenizer::ByteTokenizer;

    #[test]
    fn sotu_splits_have_the_documented_sizes() {
        let c = Corpus::load("sotu", &ByteTokenizer).unwrap();
        // Byte counts from stdlib/data/sotu/README.md.
        assert_eq!(c.train.len(), 9_987_579);
        assert_eq!(c.valid.len(), 322_970);
        assert_eq!(c.test.as_ref().unwrap().len(), 451_097);
        assert_eq!(
            c.train.window(0, 15).unwrap(),
            ByteTokenizer.encode(b"Fellow-Citizens")
        );
    }

    #[test]
    fn unknown_corpus_is_an_error_listing_the_known_ones() {
        let err = Corpus::load("wikitext", &ByteTokenizer)
            .unwrap_err()
            .to_string();
        assert!(err.contains("wikitext") && err.contains("sotu"), "{err}");
    }

    #[test]
    fn batches_are_deterministic_and_shifted_by_one() {
        let tokens = Tokens::from_vec((0..1000).collect(), 1000);
        let a = sample_batch(&tokens, 4, 16, &mut SplitMix64::new(9)).unwrap();
        let b = sample_batch(&tokens, 4, 16, &mut SplitMix64::new(9)).unwrap();
        assert_eq!(a, b);
        for (i, t) in a.inputs.iter().zip(&a.targets) {
            assert_eq!(i + 1, *t);
        }
        let c = sample_batch(&tokens, 4, 16, &mut SplitMix64::new(10)).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn too_short_split_is_an_error() {
        let err = sample_batch(
            &Tokens::from_vec(vec![1, 2, 3], 4),
            1,
            8,
            &mut SplitMix64::new(0),
        )
        .unwrap_err();
        assert!(err.to_string().contains("fewer than seq_len"), "{err}");
    }
}
