//! The rooflaw pipeline language.
//!
//! `text --parse--> AST (spans on every node) --lower--> Spec`, with every
//! problem collected as a [`Diagnostic`] and rendered in one place. No IO:
//! imports are read through a [`Loader`] the caller supplies.
pub mod ast;
pub mod code;
pub mod diagnostic;
pub mod function;
mod lower;
pub mod parse;
pub mod schema;
mod show;
pub mod signature;
pub mod source;
pub mod span;
pub mod spec;
pub mod units;

pub use diagnostic::{
    Code, Diagnostic, Diagnostics, RenderOptions, Severity, did_you_mean, render,
};
pub use function::Function;
pub use lower::{Compiled, compile};
pub use signature::{Param, ParamType, PresetKind, Registry, Signature};
pub use source::{Loader, SourceMap};
pub use span::{FileId, Name, Span, Spanned, strip_spans};
pub use spec::Spec;
pub use units::{Dim, Quantity};
