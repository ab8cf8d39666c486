//! Text to [`ast::File`]: runs the pest grammar, turns pairs into spanned AST
//! nodes and pest's failures into friendly diagnostics.
//!
//! The grammar never fails as a whole: a statement it cannot read is
//! swallowed by `catch_all`, then re-parsed alone to learn where and why it
//! failed. So every broken statement of a file gets its own diagnostic.
use pest::Parser as _;
use pest::iterators::Pair;

use crate::ast::{Arg, Block, BlockKind, Entry, Expr, ExprKind, File, Item, ReportDecl, StageDecl};
use crate::diagnostic::{Code, Diagnostic, Diagnostics, did_you_mean};
use crate::span::{FileId, Span, Spanned};
use crate::spec::{BinOp, CmpOp};
use crate::units::UNITS;

#[derive(pest_derive::Parser)]
#[grammar = "grammar.pest"]
struct Grammar;

/// Deepest bracket nesting accepted. pest recurses once per level, so this
/// bounds its stack use on hostile input; real pipelines nest two or three.
const MAX_NESTING: usize = 64;
/// Deepest expression tree accepted, for the same reason in the lowering.
const MAX_EXPR_DEPTH: u32 = 256;

const STATEMENTS: &str = "`use`, `hardware`, `workload`, `budget`, `space`, `stage` or `report`";
const KEYWORDS: &[&str] = &[
    "use", "hardware", "workload", "budget", "space", "stage", "report",
];

/// Parse one file. Problems go to `diags`; the returned AST holds every
/// statement that could be read.
pub fn parse(file: FileId, text: &str, diags: &mut Diagnostics) -> File {
    if let Some(at) = too_deep(text) {
        diags.push(
            Diagnostic::error(
                Code::Syntax,
                format!("brackets are nested more than {MAX_NESTING} levels deep"),
            )
            .at(Span::new(file, at, at + 1), "too deep"),
        );
        return File::default();
    }
    pest::set_error_detail(true);
    let mut b = Builder {
        file,
        text,
        base: 0,
        diags,
    };
    let mut items = Vec::new();
    // Parse from `offset`; at the first unreadable statement, report it and
    // resume at the next line that starts a statement.
    let mut offset = 0;
    'parse: while offset < text.len() {
        let rest = &text[offset..];
        let pairs = match Grammar::parse(Rule::file, rest) {
            Ok(mut pairs) => pairs.next().map(Pair::into_inner),
            Err(err) => {
                // The catch-all makes this unreachable in practice; report rather than panic.
                b.diags.push(syntax_error(file, text, offset, &err));
                break;
            }
        };
        b.base = offset;
        for pair in pairs.into_iter().flatten() {
            match pair.as_rule() {
                Rule::catch_all => {
                    let start = offset + pair.as_span().start();
                    let mut resume_from = offset + pair.as_span().end();
                    match Grammar::parse(Rule::strict_only, &text[start..]) {
                        Err(err) => {
                            let d = syntax_error(file, text, start, &err);
                            if let Some(l) = d.labels.first() {
                                resume_from = resume_from.max(l.span.start as usize);
                            }
                            b.diags.push(d);
                        }
                        Ok(_) => b.diags.push(
                            Diagnostic::error(Code::Syntax, "this statement could not be read")
                                .at(Span::new(file, start, resume_from), "here"),
                        ),
                    }
                    match next_statement(text, resume_from) {
                        Some(next) => {
                            offset = next;
                            continue 'parse;
                        }
                        None => break 'parse,
                    }
                }
                Rule::EOI => {}
                _ => {
                    if let Some(item) = b.item(pair) {
                        items.push(item);
                    }
                }
            }
        }
        break;
    }
    File { items }
}

/// Start of the first line after `from` whose first word is a statement keyword.
fn next_statement(text: &str, from: usize) -> Option<usize> {
    let mut at = from.min(text.len());
    loop {
        at += text[at..].find('\n')? + 1;
        let line = text[at..].trim_start_matches([' ', '\t']);
        let word_end = line
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(line.len());
        if KEYWORDS.contains(&&line[..word_end]) {
            return Some(at);
        }
    }
}

fn too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    for (i, c) in text.char_indices() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// Turn a pest failure at `base + location` into a diagnostic in the user's
/// terms: what could come next, and what was found instead.
fn syntax_error(
    file: FileId,
    text: &str,
    base: usize,
    err: &pest::error::Error<Rule>,
) -> Diagnostic {
    let located = match err.location {
        pest::error::InputLocation::Pos(p) | pest::error::InputLocation::Span((p, _)) => p,
    };
    let furthest = err.parse_attempts().map_or(0, |a| a.max_position);
    let pos = base + located.max(furthest);
    let pos = pos.min(text.len());
    let found_end = token_end(text, pos);
    let found = if pos >= text.len() {
        "end of file".to_string()
    } else if text[pos..].starts_with(['\n', '\r']) {
        "end of line".to_string()
    } else {
        format!("`{}`", &text[pos..found_end])
    };
    let span = Span::new(file, pos, found_end);

    let mut expected: Vec<&'static str> = Vec::new();
    if let pest::error::ErrorVariant::ParsingError { positives, .. } = &err.variant {
        expected.extend(positives.iter().filter_map(|r| rule_name(*r)));
    }
    if let Some(attempts) = err.parse_attempts() {
        for t in attempts.expected_tokens() {
            // `ParsingToken` is not exported; its Display is the literal text.
            if let Some(name) = token_name(&t.to_string()) {
                expected.push(name);
            }
        }
    }
    if pos != base {
        expected.retain(|n| *n != STATEMENT);
    }
    if let Some(open) = unclosed_quote(text, pos) {
        return Diagnostic::error(Code::Syntax, "this string is not closed")
            .at(Span::new(file, open, pos), "string starts here")
            .help("close it with `\"` on the same line");
    }
    let expected = tidy(expected);

    // `prompt = 1024 tokns`: the unknown unit reads as the next field's name,
    // and the parser then misses its `=`. Say what actually went wrong.
    if expected.contains(&"`=`")
        && let Some((word, start)) = word_after_number(text, pos)
    {
        let names = UNITS.iter().map(|u| u.name);
        let help = match did_you_mean(word, names) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "units are `tokens`, `ms`, `us`, `s`, `MB`, `GB`, `GiB`, `GB/s`, `GiB/s`, `TFLOPS`, `TOPS`, …".into(),
        };
        return Diagnostic::error(Code::UnknownUnit, format!("unknown unit `{word}`"))
            .at(Span::new(file, start, start + word.len()), "not a unit")
            .help(help);
    }

    if expected.contains(&"`=`")
        && let Some((word, start)) = last_word(text, pos)
        && UNITS.iter().any(|u| u.name == word)
    {
        return Diagnostic::error(Code::Syntax, format!("unexpected unit `{word}`"))
            .at(
                Span::new(file, start, start + word.len()),
                "a unit only follows a number",
            )
            .help(format!(
                "write the unit right after a number, e.g. `100 {word}`"
            ));
    }

    if expected.contains(&STATEMENT) && pos == base {
        let word = &text[pos..found_end];
        let d = Diagnostic::error(Code::Syntax, format!("expected a statement, found {found}"))
            .at(span, "not a statement");
        return match did_you_mean(word, KEYWORDS.iter().copied()) {
            Some(k) => d.help(format!("did you mean `{k}`?")),
            None => d.help(format!("a statement starts with {STATEMENTS}")),
        };
    }
    let list = join_or(&expected);
    Diagnostic::error(Code::Syntax, format!("expected {list}, found {found}"))
        .at(span, format!("expected {list}"))
}

const STATEMENT: &str = "a statement";
const VALUE: &str = "a value";
const OPERATOR: &str = "an operator";

fn rule_name(rule: Rule) -> Option<&'static str> {
    Some(match rule {
        Rule::expr
        | Rule::or_expr
        | Rule::and_expr
        | Rule::not_expr
        | Rule::not_op
        | Rule::cmp_expr
        | Rule::range_expr
        | Rule::sum
        | Rule::product
        | Rule::unary
        | Rule::neg_op
        | Rule::power
        | Rule::quantity
        | Rule::number
        | Rule::boolean
        | Rule::call
        | Rule::call_open
        | Rule::list
        | Rule::map
        | Rule::tagged_map
        | Rule::paren
        | Rule::kw_true
        | Rule::kw_false => VALUE,
        Rule::string | Rule::str_body => "a string",
        Rule::ident | Rule::dotted => "a name",
        Rule::path => "a field name",
        Rule::unit => "a unit",
        Rule::cmp_op => "a comparison such as `<=`",
        Rule::block_body => "`{`",
        Rule::arg => "an argument",
        Rule::map_entry => "`key: value`",
        Rule::let_entry
        | Rule::require_entry
        | Rule::tuple_entry
        | Rule::field_entry
        | Rule::file_entry
        | Rule::constraint_entry => "a field",
        Rule::strict_item
        | Rule::strict_only
        | Rule::catch_all
        | Rule::block_kw
        | Rule::kw_use
        | Rule::kw_hardware
        | Rule::kw_workload
        | Rule::kw_budget
        | Rule::kw_space
        | Rule::kw_corpus
        | Rule::kw_stage
        | Rule::kw_report => STATEMENT,
        Rule::kw_from => "`from`",
        Rule::kw_to => "`to`",
        Rule::kw_step
        | Rule::kw_and
        | Rule::kw_or
        | Rule::kw_not
        | Rule::add_op
        | Rule::mul_op
        | Rule::pow_op => OPERATOR,
        Rule::EOI => "end of file",
        _ => return None,
    })
}

fn token_name(token: &str) -> Option<&'static str> {
    Some(match token {
        "=" => "`=`",
        ")" => "`)`",
        "]" => "`]`",
        "}" => "`}`",
        "(" => "`(`",
        "{" => "`{`",
        "," => "`,`",
        ":" => "`:`",
        "\"" => "a string",
        "+" | "-" | "*" | "/" | "//" | "%" | "**" | ".." | "<=" | ">=" | "==" | "!=" | "<"
        | ">" => OPERATOR,
        _ => return None,
    })
}

/// Dedupe, order the way a person reads them (what they most likely meant
/// first), and drop operators when anything else would do.
fn tidy(mut names: Vec<&'static str>) -> Vec<&'static str> {
    const ORDER: &[&str] = &[
        STATEMENT,
        "a field",
        "a field name",
        "a name",
        "`=`",
        "a comparison such as `<=`",
        VALUE,
        "a string",
        "a unit",
        "an argument",
        "`key: value`",
        "`{`",
        "`(`",
        "`:`",
        "`,`",
        "`)`",
        "`]`",
        "`}`",
        "`from`",
        "`to`",
        OPERATOR,
        "end of file",
    ];
    names.sort_by_key(|n| ORDER.iter().position(|o| o == n).unwrap_or(ORDER.len()));
    names.dedup();
    // A general expectation covers the specific ways to start one.
    if names.contains(&VALUE) || names.contains(&"an argument") {
        names.retain(|n| !["a string", "a name", "`{`", "`(`", "`[`"].contains(n));
    }
    if names.contains(&"an argument") {
        names.retain(|n| *n != VALUE);
    }
    if names.contains(&"a field") {
        names.retain(|n| !["a field name", "`(`", "`,`"].contains(n));
    }
    // After a complete value, "or an operator, a unit, a comparison" is
    // noise next to the bracket or comma that was actually missing.
    if names
        .iter()
        .any(|n| ["`,`", "`)`", "`]`", "`}`"].contains(n))
    {
        names.retain(|n| ![OPERATOR, "a unit", "a comparison such as `<=`"].contains(n));
    }
    if names.len() > 1 {
        names.retain(|n| *n != OPERATOR);
    }
    if names.is_empty() {
        names.push("something else");
    }
    names
}

fn join_or(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// If `pos` is inside a string opened earlier on its line, where it opened.
fn unclosed_quote(text: &str, pos: usize) -> Option<usize> {
    let line_start = text[..pos].rfind('\n').map_or(0, |i| i + 1);
    let mut open = None;
    let mut chars = text[line_start..pos].char_indices();
    while let Some((i, c)) = chars.next() {
        match (c, open) {
            ('"', None) => open = Some(line_start + i),
            ('"', Some(_)) => open = None,
            ('\\', Some(_)) => {
                chars.next();
            }
            ('#', None) => return None,
            _ => {}
        }
    }
    open
}

/// End of the token starting at `pos`: a word, or one character.
fn token_end(text: &str, pos: usize) -> usize {
    let rest = &text[pos..];
    if let Some(body) = rest.strip_prefix('"')
        && let Some(close) = body.find(['"', '\n'])
        && body[close..].starts_with('"')
    {
        return pos + close + 2;
    }
    let word = rest
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    if word > 0 {
        pos + word
    } else {
        pos + rest.chars().next().map_or(0, char::len_utf8)
    }
}

/// If the last word before `pos` directly follows a number on the same line,
/// return it and its start.
fn word_after_number(text: &str, pos: usize) -> Option<(&str, usize)> {
    let (_, start) = last_word(text, pos)?;
    let gap = text[..start].trim_end_matches([' ', '\t']);
    (gap.len() < start && gap.ends_with(|c: char| c.is_ascii_digit()))
        .then_some(last_word(text, pos)?)
}

/// The word (units included, so `/` too) that ends just before `pos`.
fn last_word(text: &str, pos: usize) -> Option<(&str, usize)> {
    let before = text[..pos].trim_end();
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '/')
        .last()
        .map(|(i, _)| i)?;
    Some((&before[start..], start))
}

struct Builder<'a> {
    file: FileId,
    text: &'a str,
    /// Where the text pest is parsing starts in the file.
    base: usize,
    diags: &'a mut Diagnostics,
}

type P<'i> = Pair<'i, Rule>;

impl Builder<'_> {
    /// The pair's span without the whitespace and comments pest includes
    /// when a rule ends in an optional part that did not match.
    fn span(&self, pair: &P<'_>) -> Span {
        let start = self.base + pair.as_span().start();
        let mut end = self.base + pair.as_span().end();
        if let Some(last) = pair.clone().into_inner().last() {
            let inner_end = self.span(&last).end as usize;
            if is_trivia(&self.text[inner_end..end]) {
                end = inner_end;
            }
        }
        Span::new(self.file, start, end)
    }

    fn name(&self, pair: &P<'_>) -> Spanned<String> {
        Spanned::new(pair.as_str().to_string(), self.span(pair))
    }

    fn item(&mut self, pair: P<'_>) -> Option<Item> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut inner = pair.into_inner();
        match rule {
            Rule::use_item => {
                inner.next(); // keyword
                let s = inner.next()?;
                Some(Item::Use(self.string(s)))
            }
            Rule::block_item => {
                let kw = inner.next()?.into_inner().next()?;
                let kind = match kw.as_rule() {
                    Rule::kw_hardware => BlockKind::Hardware,
                    Rule::kw_workload => BlockKind::Workload,
                    Rule::kw_budget => BlockKind::Budget,
                    Rule::kw_corpus => BlockKind::Corpus,
                    _ => BlockKind::Space,
                };
                let name = self.name(&inner.next()?);
                let mut preset = None;
                let mut entries = Vec::new();
                for p in inner {
                    match p.as_rule() {
                        Rule::string => preset = Some(self.string(p)),
                        Rule::block_body => {
                            for e in p.into_inner() {
                                if let Some(e) = self.entry(e) {
                                    entries.push(e);
                                }
                            }
                        }
                        _ => {}
                    }
                }
                Some(Item::Block(Block {
                    kind,
                    name,
                    preset,
                    entries,
                    span,
                }))
            }
            Rule::stage_item => {
                inner.next(); // keyword
                let name = self.name(&inner.next()?);
                let kind_pair = inner.next()?;
                let kind = self.name(&kind_pair);
                let call_span = Span::new(
                    self.file,
                    self.span(&kind_pair).start as usize,
                    span.end as usize,
                );
                let args = inner
                    .filter(|p| p.as_rule() == Rule::arg)
                    .map(|p| {
                        let parts: Vec<P<'_>> = p.into_inner().collect();
                        match parts.as_slice() {
                            [n, v] => Arg {
                                name: Some(self.name(n)),
                                value: self.expr(v.clone()),
                            },
                            [v] => Arg {
                                name: None,
                                value: self.expr(v.clone()),
                            },
                            _ => unreachable!("grammar: arg is `(ident :)? expr`"),
                        }
                    })
                    .collect();
                Some(Item::Stage(StageDecl {
                    name,
                    kind,
                    args,
                    call_span,
                    span,
                }))
            }
            Rule::report_item => {
                let mut stages = Vec::new();
                let mut dir = None;
                for p in inner {
                    match p.as_rule() {
                        Rule::ident => stages.push(self.name(&p)),
                        Rule::string => dir = Some(self.string(p)),
                        _ => {}
                    }
                }
                Some(Item::Report(ReportDecl {
                    stages,
                    dir: dir?,
                    span,
                }))
            }
            _ => None,
        }
    }

    fn entry(&mut self, pair: P<'_>) -> Option<Entry> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let parts: Vec<P<'_>> = pair.into_inner().collect();
        Some(match (rule, parts.as_slice()) {
            (Rule::let_entry, [_, n, v]) => Entry::Let {
                name: self.name(n),
                value: self.expr(v.clone()),
            },
            (Rule::require_entry, [_, v]) => Entry::Require(self.expr(v.clone())),
            (Rule::field_entry, [n, v]) => Entry::Field {
                path: self.name(n),
                value: self.expr(v.clone()),
            },
            (Rule::file_entry, [n, _, file]) => {
                let path = self.name(n);
                let file = self.string(file.clone());
                let yaml = std::path::Path::new(&file.node)
                    .extension()
                    .is_some_and(|e| {
                        e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml")
                    });
                if path.node != "runtime" {
                    self.diags.push(
                        Diagnostic::error(
                            Code::Misplaced,
                            format!("`{} from \"FILE\"` is not a field; only `runtime` is read from a file", path.node),
                        )
                        .at(path.span.to(file.span), "not allowed here")
                        .help(format!("set it with `{} = ...`", path.node)),
                    );
                    return None;
                }
                if !yaml {
                    self.diags.push(
                        Diagnostic::error(
                            Code::InvalidRuntime,
                            format!("`runtime from` reads a runtime profile file (.yaml), not `{}`", file.node),
                        )
                        .at(file.span, "not a .yaml file")
                        .help("name a preset with `runtime = llama.cpp`, or a profile with `runtime from \"profile.yaml\"`"),
                    );
                }
                Entry::Field {
                    path,
                    value: Spanned::new(ExprKind::Str(file.node), file.span),
                }
            }
            (Rule::constraint_entry, [n, op, v]) => Entry::Constraint {
                path: self.name(n),
                op: Spanned::new(cmp_op(op.as_str()), self.span(op)),
                value: self.expr(v.clone()),
                span,
            },
            (Rule::tuple_entry, [names @ .., v]) => Entry::Tuple {
                names: names.iter().map(|n| self.name(n)).collect(),
                value: self.expr(v.clone()),
                span,
            },
            _ => return None,
        })
    }

    fn string(&mut self, pair: P<'_>) -> Spanned<String> {
        let span = self.span(&pair);
        let body = pair.into_inner().next();
        let raw = body.as_ref().map_or("", P::as_str);
        let body_start = self.base + body.as_ref().map_or(0, |b| b.as_span().start());
        let mut out = String::with_capacity(raw.len());
        let mut chars = raw.char_indices();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some((_, '"')) => out.push('"'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, 'n')) => out.push('\n'),
                Some((_, 't')) => out.push('\t'),
                Some((j, other)) => {
                    let at = body_start + i;
                    self.diags.push(
                        Diagnostic::error(Code::Syntax, format!("unknown escape `\\{other}`"))
                            .at(
                                Span::new(self.file, at, body_start + j + other.len_utf8()),
                                "here",
                            )
                            .help("strings know `\\\"`, `\\\\`, `\\n` and `\\t`"),
                    );
                }
                None => {}
            }
        }
        Spanned::new(out, span)
    }

    fn expr(&mut self, pair: P<'_>) -> Expr {
        self.build(pair).0
    }

    /// Replace a tree deeper than the limit by an error node as soon as it
    /// appears, so a deep tree is never built (nor dropped, which recurses).
    fn cap(&mut self, e: Expr, depth: u32) -> (Expr, u32) {
        if depth <= MAX_EXPR_DEPTH || matches!(e.node, ExprKind::Error) {
            return (e, depth);
        }
        self.diags.push(
            Diagnostic::error(
                Code::TooDeep,
                format!("expression is nested more than {MAX_EXPR_DEPTH} levels deep"),
            )
            .at(e.span, "split this expression up"),
        );
        (Spanned::new(ExprKind::Error, e.span), depth)
    }

    /// `l op r`, unless either side already stands for an error.
    fn bin(&mut self, l: (Expr, u32), op: BinOp, r: (Expr, u32)) -> (Expr, u32) {
        let span = l.0.span.to(r.0.span);
        let depth = l.1.max(r.1) + 1;
        if matches!(l.0.node, ExprKind::Error) || matches!(r.0.node, ExprKind::Error) {
            return (Spanned::new(ExprKind::Error, span), depth);
        }
        let e = Spanned::new(ExprKind::Bin(Box::new(l.0), op, Box::new(r.0)), span);
        self.cap(e, depth)
    }

    /// Build an expression and its tree depth. The depth travels with the
    /// node so that deep input is refused before anything recurses over it.
    #[allow(clippy::too_many_lines)]
    fn build(&mut self, pair: P<'_>) -> (Expr, u32) {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        match rule {
            Rule::expr => match pair.into_inner().next() {
                Some(p) => self.build(p),
                None => (Spanned::new(ExprKind::Error, span), 1),
            },
            Rule::or_expr | Rule::and_expr | Rule::sum | Rule::product => {
                self.left_chain(pair.into_inner())
            }
            Rule::not_expr | Rule::unary => {
                let mut flips = 0;
                let mut operand = None;
                for p in pair.into_inner() {
                    match p.as_rule() {
                        Rule::not_op | Rule::neg_op => flips += 1,
                        _ => operand = Some(self.build(p)),
                    }
                }
                let (e, d) = operand.unwrap_or((Spanned::new(ExprKind::Error, span), 1));
                // `- - x` is `x`: keep at most one operator so long runs cost nothing.
                if flips % 2 == 1 {
                    let node = if rule == Rule::not_expr {
                        ExprKind::Not(Box::new(e))
                    } else {
                        ExprKind::Neg(Box::new(e))
                    };
                    (Spanned::new(node, span), d + 1)
                } else {
                    (e, d)
                }
            }
            Rule::cmp_expr => {
                let parts: Vec<P<'_>> = pair.into_inner().collect();
                match parts.as_slice() {
                    [a, op, b] => {
                        let (l, dl) = self.build(a.clone());
                        let (r, dr) = self.build(b.clone());
                        let op = BinOp::Cmp(cmp_op(op.as_str()));
                        (
                            Spanned::new(ExprKind::Bin(Box::new(l), op, Box::new(r)), span),
                            dl.max(dr) + 1,
                        )
                    }
                    [a] => self.build(a.clone()),
                    _ => (Spanned::new(ExprKind::Error, span), 1),
                }
            }
            Rule::range_expr => {
                let parts: Vec<P<'_>> = pair
                    .into_inner()
                    .filter(|p| p.as_rule() != Rule::kw_step)
                    .collect();
                match parts.as_slice() {
                    [a] => self.build(a.clone()),
                    [a, b, rest @ ..] => {
                        let (start, d1) = self.build(a.clone());
                        let (end, d2) = self.build(b.clone());
                        let (step, d3) = match rest.first() {
                            Some(s) => {
                                let (s, d) = self.build(s.clone());
                                (Some(Box::new(s)), d)
                            }
                            None => (None, 0),
                        };
                        let node = ExprKind::Range {
                            start: Box::new(start),
                            end: Box::new(end),
                            step,
                        };
                        (Spanned::new(node, span), d1.max(d2).max(d3) + 1)
                    }
                    [] => (Spanned::new(ExprKind::Error, span), 1),
                }
            }
            Rule::power => self.power(pair),
            Rule::quantity => {
                let mut inner = pair.into_inner();
                let Some(num) = inner.next() else {
                    return (Spanned::new(ExprKind::Error, span), 1);
                };
                let unit = inner.next().map(|u| self.name(&u));
                let text = num.as_str().to_string();
                let value = match number_value(&text) {
                    Ok(v) => v,
                    Err(msg) => {
                        self.diags.push(
                            Diagnostic::error(Code::BadNumber, msg)
                                .at(self.span(&num), "this number"),
                        );
                        return (Spanned::new(ExprKind::Error, span), 1);
                    }
                };
                (Spanned::new(ExprKind::Num { text, value, unit }, span), 1)
            }
            Rule::string => {
                let s = self.string(pair);
                (Spanned::new(ExprKind::Str(s.node), span), 1)
            }
            Rule::boolean => {
                let v = pair.as_str() == "true";
                (Spanned::new(ExprKind::Bool(v), span), 1)
            }
            Rule::ident | Rule::dotted => (
                Spanned::new(ExprKind::Ident(pair.as_str().to_string()), span),
                1,
            ),
            Rule::call => {
                let mut inner = pair.into_inner();
                let open = inner.next();
                let name = match open.and_then(|o| o.into_inner().next()) {
                    Some(n) => self.name(&n),
                    None => Spanned::new(String::new(), span),
                };
                let (args, d) = self.all(inner);
                (Spanned::new(ExprKind::Call(name, args), span), d + 1)
            }
            Rule::list => {
                // Counted before anything is built: a megabyte list literal
                // is a mistake, and lowering it would take seconds and GBs.
                let n = pair.clone().into_inner().len();
                if n > MAX_LIST_ITEMS {
                    self.diags.push(
                        Diagnostic::error(
                            Code::Limit,
                            format!("a list of {n} items, more than the limit of {MAX_LIST_ITEMS}"),
                        )
                        .at(span, "this list")
                        .help("describe many values with a range (`8 .. 4096 step 8`) instead"),
                    );
                    return (Spanned::new(ExprKind::Error, span), 1);
                }
                let (items, d) = self.all(pair.into_inner());
                (Spanned::new(ExprKind::List(items), span), d + 1)
            }
            Rule::paren => {
                let text = pair.as_str().trim_end_matches(')').trim_end();
                let trailing_comma = text.ends_with(',');
                let (mut items, d) = self.all(pair.into_inner());
                if items.len() == 1 && !trailing_comma {
                    (items.remove(0), d)
                } else {
                    (Spanned::new(ExprKind::Tuple(items), span), d + 1)
                }
            }
            Rule::tagged_map => {
                let mut inner = pair.into_inner();
                let (Some(tag), Some(map)) = (inner.next(), inner.next()) else {
                    return (Spanned::new(ExprKind::Error, span), 1);
                };
                let kind = Spanned::new(ExprKind::Ident(tag.as_str().to_string()), self.span(&tag));
                let (map, d) = self.build(map);
                let mut entries = vec![(Spanned::new("kind".to_string(), kind.span), kind)];
                if let ExprKind::Map(rest) = map.node {
                    entries.extend(rest);
                }
                (Spanned::new(ExprKind::Map(entries), span), d)
            }
            Rule::map => {
                let mut entries = Vec::new();
                let mut depth = 0;
                for e in pair.into_inner() {
                    let mut kv = e.into_inner();
                    let (Some(k), Some(v)) = (kv.next(), kv.next()) else {
                        continue;
                    };
                    let key = self.name(&k);
                    let (v, d) = self.build(v);
                    depth = depth.max(d);
                    entries.push((key, v));
                }
                (Spanned::new(ExprKind::Map(entries), span), depth + 1)
            }
            _ => (Spanned::new(ExprKind::Error, span), 1),
        }
    }

    fn all<'i>(&mut self, pairs: impl Iterator<Item = P<'i>>) -> (Vec<Expr>, u32) {
        let mut depth = 0;
        let items = pairs
            .map(|p| {
                let (e, d) = self.build(p);
                depth = depth.max(d);
                e
            })
            .collect();
        (items, depth)
    }

    /// `a op b op c` as `(a op b) op c`.
    fn left_chain<'i>(&mut self, pairs: impl Iterator<Item = P<'i>>) -> (Expr, u32) {
        let mut acc: Option<(Expr, u32)> = None;
        let mut op: Option<BinOp> = None;
        for p in pairs {
            match p.as_rule() {
                Rule::kw_or => op = Some(BinOp::Or),
                Rule::kw_and => op = Some(BinOp::And),
                Rule::add_op | Rule::mul_op => op = Some(arith_op(p.as_str())),
                _ => {
                    let (r, dr) = self.build(p);
                    acc = Some(match (acc, op.take()) {
                        (Some(l), Some(o)) => self.bin(l, o, (r, dr)),
                        _ => (r, dr),
                    });
                }
            }
        }
        acc.unwrap_or((Spanned::new(ExprKind::Error, Span::default()), 1))
    }

    /// `a ** -b ** c` is `a ** (-(b ** c))`, as in Python.
    fn power(&mut self, pair: P<'_>) -> (Expr, u32) {
        // (negations before the operand, operand)
        let mut operands: Vec<(u32, Expr, u32)> = Vec::new();
        let mut negs = 0;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::pow_op => {}
                Rule::neg_op => negs += 1,
                _ => {
                    let (e, d) = self.build(p);
                    operands.push((negs, e, d));
                    negs = 0;
                }
            }
        }
        let mut acc: Option<(Expr, u32)> = None;
        while let Some((negs, base, db)) = operands.pop() {
            let (mut e, mut d) = match acc {
                Some(exp) => self.bin((base, db), BinOp::Pow, exp),
                None => (base, db),
            };
            if negs % 2 == 1 && !matches!(e.node, ExprKind::Error) {
                e = Spanned::new(ExprKind::Neg(Box::new(e.clone())), e.span);
                d += 1;
            }
            acc = Some(self.cap(e, d));
        }
        acc.unwrap_or((Spanned::new(ExprKind::Error, Span::default()), 1))
    }
}

/// Only whitespace and comments.
fn is_trivia(mut s: &str) -> bool {
    loop {
        s = s.trim_start();
        match s.strip_prefix('#') {
            Some(rest) => s = rest.find('\n').map_or("", |i| &rest[i..]),
            None => return s.is_empty(),
        }
    }
}

fn cmp_op(s: &str) -> CmpOp {
    match s {
        "<" => CmpOp::Lt,
        "<=" => CmpOp::Le,
        ">" => CmpOp::Gt,
        ">=" => CmpOp::Ge,
        "==" => CmpOp::Eq,
        _ => CmpOp::Ne,
    }
}

fn arith_op(s: &str) -> BinOp {
    match s {
        "+" => BinOp::Add,
        "-" => BinOp::Sub,
        "*" => BinOp::Mul,
        "/" => BinOp::Div,
        "//" => BinOp::FloorDiv,
        _ => BinOp::Rem,
    }
}

/// The most items a list literal may have.
pub const MAX_LIST_ITEMS: usize = 10_000;

/// The value of a number literal: `_` separators dropped, a `k`/`M`/`B`
/// suffix applied (`10B` is ten billion; `10 B` with a space is ten bytes).
pub fn number_value(text: &str) -> Result<f64, String> {
    let digits: String = text.chars().filter(|c| *c != '_').collect();
    let (body, factor) = match digits.chars().last() {
        Some('k') => (&digits[..digits.len() - 1], 1e3),
        Some('M') => (&digits[..digits.len() - 1], 1e6),
        Some('B') => (&digits[..digits.len() - 1], 1e9),
        _ => (digits.as_str(), 1.0),
    };
    let v: f64 = body
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    let v = v * factor;
    let mantissa = body.split(['e', 'E']).next().unwrap_or_default();
    if !v.is_finite() {
        Err(format!("`{text}` is too large"))
    } else if v == 0.0 && mantissa.chars().any(|c| matches!(c, '1'..='9')) {
        Err(format!(
            "`{text}` is too small to represent: it would silently become 0"
        ))
    } else {
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value_of(src: &str) -> ExprKind {
        let text = format!("space s {{ x = {src} }}");
        let mut diags = Diagnostics::default();
        let file = parse(FileId(0), &text, &mut diags);
        assert!(diags.0.is_empty(), "{src}: {:?}", diags.0);
        match &file.items[..] {
            [Item::Block(b)] => match &b.entries[..] {
                [Entry::Field { value, .. }] => value.node.clone(),
                other => panic!("{src}: {other:?}"),
            },
            other => panic!("{src}: {other:?}"),
        }
    }

    fn num(src: &str) -> (f64, Option<String>) {
        match value_of(src) {
            ExprKind::Num { value, unit, .. } => (value, unit.map(|u| u.node)),
            other => panic!("{src}: {other:?}"),
        }
    }

    #[test]
    fn numbers_and_multipliers() {
        for (src, value, unit) in [
            ("1024", 1024.0, None),
            ("1_000_000", 1e6, None),
            ("2.5k", 2500.0, None),
            ("10M", 1e7, None),
            ("10B", 1e10, None),
            ("10 B", 10.0, Some("B")),
            ("1e9", 1e9, None),
            ("1.5E-3", 1.5e-3, None),
            ("2.5e3k", 2.5e6, None),
            ("100 ms", 100.0, Some("ms")),
            ("100ms", 100.0, Some("ms")),
            ("10MB", 10.0, Some("MB")),
            ("42.5 TFLOPS", 42.5, Some("TFLOPS")),
            ("204.8 GB/s", 204.8, Some("GB/s")),
            ("8 GiB", 8.0, Some("GiB")),
            ("16 tokens", 16.0, Some("tokens")),
            ("5 µs", 5.0, Some("µs")),
        ] {
            assert_eq!(num(src), (value, unit.map(String::from)), "{src}");
        }
    }

    #[test]
    fn every_unit_in_the_table_parses() {
        for u in UNITS {
            assert_eq!(
                num(&format!("3 {}", u.name)),
                (3.0, Some(u.name.to_string())),
                "{}",
                u.name
            );
        }
    }

    #[test]
    fn a_word_that_is_not_a_unit_is_the_next_field() {
        let text = "workload w { batch = 1  prompt = 1024 tokens  generate = 16 }";
        let mut diags = Diagnostics::default();
        let file = parse(FileId(0), text, &mut diags);
        assert!(diags.0.is_empty(), "{:?}", diags.0);
        let Item::Block(b) = &file.items[0] else {
            panic!()
        };
        assert_eq!(b.entries.len(), 3);
    }

    #[test]
    fn precedence_is_conventional() {
        let show = |e: &ExprKind| format!("{e:?}");
        // `-2 ** 2` negates the power; `a + b * c` multiplies first.
        assert!(matches!(value_of("-2 ** 2"), ExprKind::Neg(_)));
        match value_of("a + b * c") {
            ExprKind::Bin(_, BinOp::Add, r) => {
                assert!(
                    matches!(r.node, ExprKind::Bin(_, BinOp::Mul, _)),
                    "{:?}",
                    r.node
                );
            }
            other => panic!("{}", show(&other)),
        }
        match value_of("a - b - c") {
            ExprKind::Bin(l, BinOp::Sub, _) => {
                assert!(matches!(l.node, ExprKind::Bin(_, BinOp::Sub, _)));
            }
            other => panic!("{}", show(&other)),
        }
        match value_of("2 ** 3 ** 2") {
            ExprKind::Bin(_, BinOp::Pow, r) => {
                assert!(matches!(r.node, ExprKind::Bin(_, BinOp::Pow, _)));
            }
            other => panic!("{}", show(&other)),
        }
        assert!(matches!(value_of("(1, 2)"), ExprKind::Tuple(ref v) if v.len() == 2));
        assert!(matches!(value_of("(1)"), ExprKind::Num { .. }));
        assert!(matches!(
            value_of("4 .. 32 step 4"),
            ExprKind::Range { step: Some(_), .. }
        ));
        assert!(matches!(
            value_of("8..32"),
            ExprKind::Range { step: None, .. }
        ));
    }

    #[test]
    fn number_value_rejects_overflow() {
        assert!(number_value("1e999").is_err());
        assert!(number_value("1e-400").is_err(), "underflow is not 0");
        assert_eq!(number_value("0e-400"), Ok(0.0));
        assert_eq!(number_value("7"), Ok(7.0));
    }
}
