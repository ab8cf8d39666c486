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
