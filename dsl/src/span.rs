//! Byte spans into the files of a [`SourceMap`](crate::SourceMap).
//!
//! Spans are data: every AST and spec node carries one, and every diagnostic is
//! built from the node it is about.
use serde::{Deserialize, Serialize};

/// Index of a file in the [`SourceMap`](crate::SourceMap).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
pub struct FileId(pub u32);

/// A half-open byte range `start..end` in one file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Self {
            file,
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both (same file assumed).
    #[must_use]
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn range(self) -> std::ops::Range<usize> {
        self.start as usize..self.end as usize
    }
}

/// A value and where it came from.
///
/// Deserialises from `{node, span}` or from the bare node (span zeroed), so
/// span-free canonical forms (cache keys must not change when a comment
/// moves a declaration) read back as spec types.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Spanned<T> {
    pub node: T,
    pub span: Span,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr<T> {
            Full { node: T, span: Span },
            Bare(T),
        }
        Ok(match Repr::deserialize(d)? {
            Repr::Full { node, span } => Spanned { node, span },
            Repr::Bare(node) => Spanned {
                node,
                span: Span::default(),
            },
        })
    }
}

/// The meaning of a serialised spec value without its places: every
/// `Spanned` (`{"node": .., "span": ..}`) becomes its node and every span
/// field (`"span": {"file", "start", "end"}`, `"call_span"`, ...) is dropped.
/// Spans are data for diagnostics, never identity: cache keys and manifests
/// are built from this form, so a comment that moves a declaration changes
/// nothing. Spec types read it back (their spans default to zero).
pub fn strip_spans(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(mut m)
            if m.len() == 2 && m.contains_key("node") && m.get("span").is_some_and(is_span) =>
        {
            strip_spans(m.remove("node").unwrap_or(Value::Null))
        }
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(k, v)| !(k.ends_with("span") && is_span(v)))
                .map(|(k, v)| (k, strip_spans(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_spans).collect()),
        other => other,
    }
}

/// A serialised [`Span`]: exactly `file`, `start` and `end`.
fn is_span(v: &serde_json::Value) -> bool {
    v.as_object().is_some_and(|m| {
        m.len() == 3 && ["file", "start", "end"].iter().all(|k| m.contains_key(*k))
    })
}

impl<T> Spanned<T> {
    pub fn new(node: T, span: Span) -> Self {
        Self { node, span }
    }
}

impl<T> std::ops::Deref for Spanned<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.node
    }
}

/// A declared or referenced name.
pub type Name = Spanned<String>;
