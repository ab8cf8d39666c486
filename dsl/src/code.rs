//! Every diagnostic's code, in one list. The string of a code (`as_str`) is
//! part of rooflaw's interface: `check --format json` prints it and users'
//! scripts match on it, so a variant's string never changes once published.
//! docs/diagnostics.md is generated from this list (and checked against it
//! by `dsl/tests/codes.rs`).
use std::fmt::Write;

use serde::{Serialize, Serializer};

/// Declares [`Code`] with, per variant, its stable string and a one-line
/// explanation, so the three cannot drift apart.
macro_rules! codes {
    ($($variant:ident = $string:literal: $explanation:literal,)*) => {
        /// A diagnostic's stable code.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Code {
            $(#[doc = $explanation] $variant,)*
        }

        impl Code {
            /// Every code, in the order of docs/diagnostics.md.
            pub const ALL: &'static [Code] = &[$(Code::$variant,)*];

            /// The stable string, e.g. `rooflaw::unknown-field`.
            #[must_use]
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Code::$variant => $string,)*
                }
            }

            /// What the code means, in one line.
            #[must_use]
            pub const fn explanation(self) -> &'static str {
                match self {
                    $(Code::$variant => $explanation,)*
                }
            }
        }
    };
}

codes! {
    ArgOrder = "rooflaw::arg-order": "A positional stage argument follows a named one.",
    Arity = "rooflaw::arity": "A function in an expression is called with the wrong number of arguments.",
    BadNumber = "rooflaw::bad-number": "A number literal cannot be read as a finite number.",
    Bound = "rooflaw::bound": "A budget bound is not a finite number.",
    BuiltinInField = "rooflaw::builtin-in-field": "A space field uses a value that is only known after the fields are chosen.",
    Cache = "rooflaw::cache": "The cache could not be read or written during a run.",
    Cancelled = "rooflaw::cancelled": "The run was interrupted (Ctrl-C or SIGTERM); finished stages stay cached.",
    Command = "rooflaw::command": "A training stage's external `command` cannot be used as written.",
    Conflict = "rooflaw::conflict": "Two settings of a block exclude each other.",
    Corpus = "rooflaw::corpus": "A corpus block's files cannot be used as a corpus (e.g. no tokens held out).",
    Cycle = "rooflaw::cycle": "Stages, or the fields of a space, depend on each other in a cycle.",
    Dimension = "rooflaw::dimension": "A budget bound measures another quantity than its metric.",
    Duplicate = "rooflaw::duplicate": "A declaration, field or argument is given twice.",
    EmptySpace = "rooflaw::empty-space": "A space has no candidates: an empty list or range, or a requirement that is always false.",
    Executor = "rooflaw::executor": "An executor is unknown, or one of its settings is unknown or of the wrong type.",
    HelperShadowsField = "rooflaw::helper-shadows-field": "A space helper (`let`) takes the name of an architecture field.",
    Import = "rooflaw::import": "An imported file cannot be read.",
    ImportCycle = "rooflaw::import-cycle": "Files import each other in a cycle.",
    InputKind = "rooflaw::input-kind": "A stage is fed a stage whose output is not the kind it takes.",
    InvalidArchitecture = "rooflaw::invalid-architecture": "An architecture is not valid (e.g. its width is not divisible by its heads).",
    InvalidArgument = "rooflaw::invalid-argument": "A stage argument does not fit the other arguments given with it.",
    InvalidBounds = "rooflaw::invalid-bounds": "A fit's coefficient bounds are malformed.",
    InvalidForm = "rooflaw::invalid-form": "A custom law form cannot be fitted as written.",
    InvalidPrecision = "rooflaw::invalid-precision": "A workload's precision is unknown or malformed.",
    InvalidRuntime = "rooflaw::invalid-runtime": "A workload's runtime is unknown.",
    InvalidValue = "rooflaw::invalid-value": "A value has the right type but is not allowed there (e.g. a zero batch).",
    Io = "rooflaw::io": "A pipeline file cannot be read.",
    Limit = "rooflaw::limit": "An input is larger than rooflaw's limit for it (list items, candidates, resamples).",
    Misplaced = "rooflaw::misplaced": "A construct is written where it is not allowed.",
    MissingArg = "rooflaw::missing-arg": "A stage call lacks a required argument (found when the call is checked).",
    MissingArgument = "rooflaw::missing-argument": "A stage lacks an argument it needs to run (found when the stage is resolved).",
    MissingColumn = "rooflaw::missing-column": "A runs table lacks a column the fit needs.",
    MissingField = "rooflaw::missing-field": "A block lacks a field it needs.",
    MissingUnit = "rooflaw::missing-unit": "A quantity is written without the unit its dimension needs.",
    OutOfRange = "rooflaw::out-of-range": "A number lies outside the range its field allows.",
    OutsideProject = "rooflaw::outside-project": "A path points outside the project directory.",
    Space = "rooflaw::space": "A space's expressions cannot be evaluated as written.",
    StageFailed = "rooflaw::stage-failed": "A stage failed while running.",
    Syntax = "rooflaw::syntax": "The file cannot be parsed.",
    TooDeep = "rooflaw::too-deep": "An expression is nested deeper than rooflaw allows.",
    TooManyArgs = "rooflaw::too-many-args": "A stage call has more positional arguments than its kind takes.",
    TupleArity = "rooflaw::tuple-arity": "A tuple in a space has another number of values than its names.",
    Type = "rooflaw::type": "A value has the wrong type for where it is used.",
    Undefined = "rooflaw::undefined": "A name is used but never declared.",
    UnitInSpace = "rooflaw::unit-in-space": "A space value carries a unit; space values are plain numbers.",
    UnitMismatch = "rooflaw::unit-mismatch": "A value's unit measures another quantity than the one expected.",
    UnknownCorpus = "rooflaw::unknown-corpus": "A training stage's corpus cannot be found or used.",
    UnknownField = "rooflaw::unknown-field": "A block sets a field that blocks of its kind do not have.",
    UnknownFunction = "rooflaw::unknown-function": "An expression calls a function that does not exist.",
    UnknownKind = "rooflaw::unknown-kind": "A stage is of a kind that does not exist.",
    UnknownMetric = "rooflaw::unknown-metric": "A budget names a metric that does not exist.",
    UnknownOption = "rooflaw::unknown-option": "A word is not one of the options its parameter allows.",
    UnknownParam = "rooflaw::unknown-param": "A stage call names a parameter its kind does not have.",
    UnknownPreset = "rooflaw::unknown-preset": "A name is not a known preset of its kind.",
    UnknownStage = "rooflaw::unknown-stage": "A stage's input names no stage.",
    UnknownUnit = "rooflaw::unknown-unit": "A unit is not one rooflaw knows.",
    UnmeasurablePrecision = "rooflaw::unmeasurable-precision": "A workload's precision cannot be measured on this machine by `measure`.",
    UnreadableFile = "rooflaw::unreadable-file": "A file a block or stage names cannot be read or parsed.",
    Unused = "rooflaw::unused": "A declared fit coefficient does not appear in the form.",
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Code {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// docs/diagnostics.md: every code with its explanation.
#[must_use]
pub fn markdown() -> String {
    let mut out = String::from(
        "# Diagnostic codes\n\n\
         Every diagnostic rooflaw prints carries one of these codes (`check --format json`\n\
         prints it as `code`). The codes are stable: scripts may match on them.\n\n\
         <!-- Generated from dsl/src/code.rs; `UPDATE_DOCS=1 cargo test -p rooflaw-dsl --test codes` rewrites it. -->\n\n\
         | Code | Meaning |\n|---|---|\n",
    );
    for code in Code::ALL {
        let _ = writeln!(out, "| `{}` | {} |", code.as_str(), code.explanation());
    }
    out
}
