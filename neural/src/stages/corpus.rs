//! A `corpus` block, resolved for a `train` stage: files found, the format
//! checked against them (dtype, vocabulary, an empty validation split) and
//! the content hash computed, each problem pointing at the field it is about.
use std::path::Path;

use rooflaw_dsl::spec::{Block, Spec, Value};
use rooflaw_dsl::{Code, Diagnostic, Span};

use crate::train::{CorpusFormat, CorpusSpec, TokenDtype, Tokens, declared};

/// The corpus and its content hash.
pub(crate) fn resolve(block: &Block, spec: &Spec) -> Result<(CorpusSpec, String), Vec<Diagnostic>> {
    let base = Path::new(&spec.sources.get(block.span.file).name)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let base = std::fs::canonicalize(&base).unwrap_or(base);
    let text = |f: &str| {
        block.field(f).and_then(|x| match &x.value.node {
            Value::Str(s) | Value::Word(s) => Some((s.as_str(), x.value.span)),
            _ => None,
        })
    };
    let number = |f: &str| {
        block.field(f).and_then(|x| match &x.value.node {
            Value::Quantity(q) => Some(q.value as usize),
            _ => None,
        })
    };
    let mut diags = Vec::new();
    let mut files = |f: &str| {
        match text(f) {
        Some((pattern, span)) => declared::expand(&base, pattern).unwrap_or_else(|why| {
            diags.push(
                Diagnostic::error(Code::UnreadableFile, format!("corpus `{}`: {why}", block.name.node))
                    .at(span, "no such file")
                    .help("paths are relative to the pipeline file; `*` and `?` match within the last component"),
            );
            Vec::new()
        }),
        None => Vec::new(),
    }
    };
    let train = files("train");
    let valid = files("valid");
    let format = match text("tokens").and_then(|(w, _)| TokenDtype::parse(w)) {
        Some(dtype) => CorpusFormat::Tokens {
            dtype,
            vocab: number("vocab").unwrap_or(0),
        },
        None => CorpusFormat::Text {
            tokenizer: text("tokenizer").map(|(t, _)| base.join(t)),
            vocab: number("vocab"),
        },
    };
    if !diags.is_empty() {
        return Err(diags);
    }
    let corpus = CorpusSpec {
        name: block.name.node.clone(),
        train,
        valid,
        format,
    };
    check(&corpus, block)?;
    let hash = corpus
        .hash()
        .map_err(|e| vec![at(block, "train", e.to_string(), "while hashing")])?;
    Ok((corpus, hash))
}

/// What can be checked without tokenizing: pre-tokenized files' sizes and a
/// sample of their ids, the tokenizer file, a non-empty validation split.
fn check(c: &CorpusSpec, block: &Block) -> Result<(), Vec<Diagnostic>> {
    let mut diags = Vec::new();
    match &c.format {
        CorpusFormat::Tokens { dtype, vocab } => {
            for (split, files) in [("train", &c.train), ("valid", &c.valid)] {
                let opened = Tokens::files(files, *dtype, *vocab).and_then(|t| {
                    t.check_sample(16, 4096)?;
                    Ok(t)
                });
                match opened {
                    Err(e) => diags.push(
                        at(block, split, e.to_string(), "this split").help(
                            "pre-tokenized files are flat little-endian ids; check `tokens` and `vocab`",
                        ),
                    ),
                    Ok(t) if split == "valid" && t.is_empty() => {
                        diags.push(empty_valid(block));
                    }
                    Ok(_) => {}
                }
            }
        }
        CorpusFormat::Text { tokenizer, .. } => {
            if let Some(p) = tokenizer
                && let Err(why) = crate::train::tokenizer::HfTokenizer::from_file(p)
            {
                diags.push(at(block, "tokenizer", why, "this tokenizer"));
            }
            let size: u64 = c
                .valid
                .iter()
                .filter_map(|f| std::fs::metadata(f).ok())
                .map(|m| m.len())
                .sum();
            if size == 0 && !c.valid.is_empty() {
                diags.push(empty_valid(block));
            }
        }
    }
    if diags.is_empty() { Ok(()) } else { Err(diags) }
}

fn empty_valid(block: &Block) -> Diagnostic {
    at(
        block,
        "valid",
        format!(
            "corpus `{}`: the validation split is empty",
            block.name.node
        ),
        "no tokens",
    )
    .help("the validation loss is what the law is fitted to; hold out some of the data")
}

fn at(block: &Block, field: &str, msg: String, label: &str) -> Diagnostic {
    let span: Span = block.field(field).map_or(block.name.span, |f| f.value.span);
    Diagnostic::error(Code::Corpus, msg).at(span, label.to_string())
}
