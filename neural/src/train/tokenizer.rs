//! Tokenizers turn corpus text into ids. Byte-level is the default: it needs
//! no training, no vocabulary file, and covers every input.

/// Maps text to token ids below `vocab_size()`.
pub trait Tokenizer: Send + Sync {
    /// Stable name, part of a training job's identity.
    fn name(&self) -> &str;
    fn vocab_size(&self) -> usize;
    fn encode(&self, text: &[u8]) -> Vec<u32>;
    fn decode(&self, ids: &[u32]) -> Vec<u8>;
}

/// One token per byte: vocab 256.
#[derive(Clone, Copy, Debug, Default)]
pub struct ByteTokenizer;

impl Tokenizer for ByteTokenizer {
    fn name(&self) -> &'static str {
        "bytes"
    }

    fn vocab_size(&self) -> usize {
        256
    }

    fn encode(&self, text: &[u8]) -> Vec<u32> {
        text.iter().map(|&b| u32::from(b)).collect()
    }

    fn decode(&self, ids: &[u32]) -> Vec<u8> {
        // Ids above 255 cannot come from `encode`; they map to '?' instead of
        // panicking so a sampled sequence from a bigger head still prints.
        ids.iter()
            .map(|&i| u8::try_from(i).unwrap_or(b'?'))
            .collect()
    }
}

/// A Hugging Face `tokenizer.json`, through the `tokenizers` crate.
pub struct HfTokenizer {
    inner: tokenizers::Tokenizer,
    /// blake3 of the file: the tokenizer's identity in a corpus hash.
    pub hash: String,
}

impl HfTokenizer {
    pub fn from_file(path: &std::path::Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let inner = tokenizers::Tokenizer::from_bytes(&bytes)
            .map_err(|e| format!("{}: not a Hugging Face tokenizer.json: {e}", path.display()))?;
        Ok(Self {
            inner,
            hash: blake3::hash(&bytes).to_hex().to_string(),
        })
    }

    /// Ids including added tokens: what the model's embedding must cover.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Ids of `text`, without special tokens (a corpus is one long stream).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, String> {
        self.inner
            .encode_fast(text, false)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_including_utf8() {
        let text = "Fellow-Citizens — 1790".as_bytes();
        let ids = ByteTokenizer.encode(text);
        assert_eq!(ids.len(), text.len());
        assert!(ids.iter().all(|&i| i < 256));
        assert_eq!(ByteTokenizer.decode(&ids), text);
    }
}
