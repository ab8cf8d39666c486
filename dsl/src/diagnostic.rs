//! Diagnostics as data. Every crate builds [`Diagnostic`]s from spec nodes;
//! they are rendered in one place ([`render`]) for terminals, snapshots and
//! `--format json`.
use serde::Serialize;

pub use crate::code::Code;
use crate::source::SourceMap;
use crate::span::Span;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Label {
    pub span: Span,
    pub message: String,
    pub primary: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn error(code: Code, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    pub fn warning(code: Code, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    /// The primary label: where the problem is.
    #[must_use]
    pub fn at(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: true,
        });
        self
    }

    /// A secondary label: related context elsewhere.
    #[must_use]
    pub fn also(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    #[must_use]
    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// An accumulator, so one run reports every problem in a file.
#[derive(Clone, Debug, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.0.extend(other);
    }
}

/// Suggest the closest candidate to a misspelt name, if one is close enough.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, c)| *d <= (name.len().max(c.len()) / 3).max(1) && *d > 0)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

/// How [`render`] draws diagnostics.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    pub color: bool,
    pub width: usize,
}

impl Default for RenderOptions {
    fn default() -> Self {
        Self {
            color: false,
            width: 80,
        }
    }
}

/// Render diagnostics with miette against the whole files they point into, so
/// file names and line numbers are right.
pub fn render(diags: &[Diagnostic], sources: &SourceMap, opts: RenderOptions) -> String {
    use miette::{GraphicalReportHandler, GraphicalTheme};
    let theme = if opts.color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .without_syntax_highlighting()
        .with_width(opts.width)
        .with_links(false);
    let mut out = String::new();
    for d in diags {
        let report = MietteDiagnostic::new(d, sources);
        // Writing into a String cannot fail.
        let _ = handler.render_report(&mut out, &report);
        out.push('\n');
    }
    out
}

/// A diagnostic as `--format json` prints it: positions resolved to lines and
/// columns so editors and CI can use them without the source map.
#[derive(Serialize)]
pub struct JsonDiagnostic {
    pub severity: Severity,
    pub code: Code,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub end_line: Option<usize>,
    pub end_column: Option<usize>,
    pub labels: Vec<JsonLabel>,
    pub help: Option<String>,
}

#[derive(Serialize)]
pub struct JsonLabel {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
    pub message: String,
    pub primary: bool,
}

pub fn to_json(diags: &[Diagnostic], sources: &SourceMap) -> Vec<JsonDiagnostic> {
    diags
        .iter()
        .map(|d| {
            let labels: Vec<JsonLabel> = d
                .labels
                .iter()
                .map(|l| {
                    let (line, column) = sources.line_col(l.span.file, l.span.start as usize);
                    let (end_line, end_column) = sources.line_col(l.span.file, l.span.end as usize);
                    JsonLabel {
                        file: sources.get(l.span.file).name.clone(),
                        line,
                        column,
                        end_line,
                        end_column,
                        message: l.message.clone(),
                        primary: l.primary,
                    }
                })
                .collect();
            let primary = labels.iter().find(|l| l.primary).or(labels.first());
            JsonDiagnostic {
                severity: d.severity,
                code: d.code,
                message: d.message.clone(),
                file: primary.map(|l| l.file.clone()),
                line: primary.map(|l| l.line),
                column: primary.map(|l| l.column),
                end_line: primary.map(|l| l.end_line),
                end_column: primary.map(|l| l.end_column),
                help: d.help.clone(),
                labels,
            }
        })
        .collect()
}

/// Adapter from our data to miette's protocol. miette draws one source per
/// report, so labels in other files than the primary one are folded into the
/// help text with their position.
struct MietteDiagnostic {
    message: String,
    code: Code,
    severity: miette::Severity,
    help: Option<String>,
    source: miette::NamedSource<String>,
    labels: Vec<miette::LabeledSpan>,
}

impl MietteDiagnostic {
    fn new(d: &Diagnostic, sources: &SourceMap) -> Self {
        let primary_file = d
            .labels
            .iter()
            .find(|l| l.primary)
            .or(d.labels.first())
            .map(|l| l.span.file);
        let anchors: Vec<usize> = d
            .labels
            .iter()
            .filter(|l| Some(l.span.file) == primary_file)
            .map(|l| l.span.start as usize)
            .collect();
        let (name, shown) = primary_file.map_or_else(
            || (String::new(), Shown::new("", &[])),
            |f| {
                let file = sources.get(f);
                (
                    escape_controls(&file.name),
                    Shown::new(&file.text, &anchors),
                )
            },
        );
        let mut help = d.help.as_deref().map(escape_controls);
        let mut labels = Vec::new();
        for l in &d.labels {
            if Some(l.span.file) == primary_file {
                let start = shown.offset(l.span.start as usize);
                let end = shown.offset(l.span.end as usize).max(start);
                let span = miette::SourceSpan::from(start..end);
                let text = (!l.message.is_empty()).then(|| escape_controls(&l.message));
                labels.push(if l.primary {
                    miette::LabeledSpan::new_primary_with_span(text, span)
                } else {
                    miette::LabeledSpan::new_with_span(text, span)
                });
            } else {
                let (line, col) = sources.line_col(l.span.file, l.span.start as usize);
                let note = escape_controls(&format!(
                    "{} ({}:{line}:{col})",
                    l.message,
                    sources.get(l.span.file).name
                ));
                help = Some(match help {
                    Some(h) => format!("{h}\n{note}"),
                    None => note,
                });
            }
        }
        Self {
            message: escape_controls(&d.message),
            code: d.code,
            severity: match d.severity {
                Severity::Error => miette::Severity::Error,
                Severity::Warning => miette::Severity::Warning,
            },
            help,
            source: miette::NamedSource::new(name, shown.text),
            labels,
        }
    }
}

impl std::fmt::Debug for MietteDiagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::fmt::Display for MietteDiagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MietteDiagnostic {}

impl miette::Diagnostic for MietteDiagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(self.code.as_str()))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn std::fmt::Display>)
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.source)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}

/// Control characters in text from a pipeline (a terminal escape sequence,
/// a carriage return, a bidirectional override) written as escapes, so a
/// file cannot drive the terminal of whoever checks it. Newlines and tabs
/// are kept.
pub fn escape_controls(s: &str) -> String {
    if !s.chars().any(is_unsafe_char) {
        return s.to_string();
    }
    s.chars()
        .map(|c| {
            if is_unsafe_char(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn is_unsafe_char(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// A visible character of the same UTF-8 length as `c`, so byte offsets of
/// spans stay valid after the replacement.
fn same_length_stand_in(c: char) -> char {
    match c.len_utf8() {
        1 => '?',
        2 => '¿',
        3 => '\u{FFFD}',
        _ => '\u{1F5F5}',
    }
}

/// Longest source line drawn whole. miette's renderer panics on columns past
/// 65,535, and a 10,000-character line helps no reader: longer lines are cut
/// to a window around the labels on them.
const MAX_LINE: usize = 240;

/// The text miette draws for a file: control characters replaced (same byte
/// length), long lines windowed. Line numbers stay those of the file.
struct Shown {
    text: String,
    /// Per line: original start and end, the original window drawn, and
    /// where that window starts in `text`.
    lines: Vec<ShownLine>,
}

struct ShownLine {
    start: usize,
    window: (usize, usize),
    shown_at: usize,
}

impl Shown {
    fn new(text: &str, anchors: &[usize]) -> Self {
        let mut out = String::with_capacity(text.len().min(1 << 20));
        let mut lines = Vec::new();
        let mut start = 0;
        for line in text.split_inclusive('\n') {
            let body = line.strip_suffix('\n').unwrap_or(line);
            let end = start + body.len();
            let (ws, we) = if body.len() <= MAX_LINE {
                (start, end)
            } else {
                let anchor = anchors
                    .iter()
                    .copied()
                    .find(|a| (start..=end).contains(a))
                    .unwrap_or(start);
                let mut ws = anchor.saturating_sub(MAX_LINE / 2).max(start);
                while !text.is_char_boundary(ws) {
                    ws -= 1;
                }
                let mut we = (ws + MAX_LINE).min(end);
                while !text.is_char_boundary(we) {
                    we += 1;
                }
                (ws, we)
            };
            if ws > start {
                out.push('…');
            }
            let shown_at = out.len();
            out.extend(text[ws..we].chars().map(|c| {
                if is_unsafe_char(c) {
                    same_length_stand_in(c)
                } else {
                    c
                }
            }));
            if we < end {
                out.push('…');
            }
            if line.len() > body.len() {
                out.push('\n');
            }
            lines.push(ShownLine {
                start,
                window: (ws, we),
                shown_at,
            });
            start += line.len();
        }
        // The empty last line after a final newline, where "found end of
        // file" points.
        if text.is_empty() || text.ends_with('\n') {
            lines.push(ShownLine {
                start,
                window: (start, start),
                shown_at: out.len(),
            });
        }
        Self { text: out, lines }
    }

    /// Where a byte offset of the file lands in the shown text: inside its
    /// line's window, or at the nearer edge of it.
    fn offset(&self, o: usize) -> usize {
        let i = self
            .lines
            .partition_point(|l| l.start <= o)
            .saturating_sub(1);
        let Some(l) = self.lines.get(i) else {
            return self.text.len();
        };
        let (ws, we) = l.window;
        l.shown_at + o.clamp(ws, we) - ws
    }
}

#[cfg(test)]
mod shown_tests {
    use super::*;

    #[test]
    fn escapes_are_neutralised_without_moving_spans() {
        let text = "a\u{1b}[31mb\n\u{202E}c";
        let shown = Shown::new(text, &[]);
        assert_eq!(shown.text.len(), text.len());
        assert!(!shown.text.contains('\u{1b}'));
        assert_eq!(
            shown.offset(text.find('b').unwrap()),
            text.find('b').unwrap()
        );
        assert_eq!(escape_controls("x\u{1b}y"), "x\\u{1b}y");
        let short = "ab\ncd\n";
        let shown = Shown::new(short, &[]);
        assert_eq!(shown.text, short);
        for o in 0..=short.len() {
            assert_eq!(shown.offset(o), o, "offsets of short lines are unchanged");
        }
    }

    #[test]
    fn long_lines_are_windowed_around_the_label() {
        let text = format!(
            "first\n{}HERE{}\nlast",
            "x".repeat(100_000),
            "y".repeat(100)
        );
        let at = text.find("HERE").unwrap();
        let shown = Shown::new(&text, &[at]);
        assert!(shown.text.len() < 1000);
        let o = shown.offset(at);
        assert_eq!(&shown.text[o..o + 4], "HERE");
        assert!(shown.text.ends_with("\nlast"));
    }
}
