//! Property tests: no input makes the front end panic, and every diagnostic
//! it reports points inside the file it names, so rendering cannot fail.
//!
//! Cases per run: 5,000 arbitrary strings, 5,000 strings over the language's
//! own alphabet, 10,000 mutations of valid pipelines (20,000 in all).
mod common;

use common::{MapLoader, TestRegistry};
use proptest::prelude::*;
use rooflaw_dsl::{RenderOptions, compile, render};

const EXAMPLE: &str = include_str!("../../pipelines/example.pipeline");
const EVERYTHING: &str = include_str!("fixtures/valid/everything.pipeline");
const HARDWARE: &str = include_str!("../../pipelines/hardware/orin.pipeline");

/// Fragments a mutation inserts: keywords, operators, units, brackets.
const TOKENS: &[&str] = &[
    "stage",
    "space",
    "use",
    "report",
    "to",
    "from",
    "let",
    "require",
    "step",
    "and",
    "not",
    "=",
    "==",
    "<=",
    "..",
    "**",
    "//",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    "\"",
    "#",
    "\n",
    " ",
    "ms",
    "GiB",
    "GB/s",
    "tokens",
    "10B",
    "1e999",
    "2.5k",
    "-",
    "orin",
    "arch",
    "x",
    "0",
    "µs",
    "((((",
    "]]]]",
    "use \"hardware/orin.pipeline\"",
    "use \"main.pipeline\"",
];

fn check(text: &str) -> Result<(), TestCaseError> {
    let loader = MapLoader(vec![
        ("hardware/orin.pipeline", HARDWARE),
        ("main.pipeline", EXAMPLE),
    ]);
    let out = compile("main.pipeline", text, &loader, &TestRegistry::default());
    prop_assert_eq!(out.spec.is_some(), !out.diagnostics.has_errors());
    for d in &out.diagnostics.0 {
        prop_assert!(
            !d.labels.is_empty(),
            "diagnostic without a location: {}",
            d.message
        );
        for l in &d.labels {
            let file = out.sources.get(l.span.file);
            prop_assert!(l.span.start <= l.span.end, "{}: inverted span", d.message);
            prop_assert!(
                (l.span.end as usize) <= file.text.len()
                    && file.text.is_char_boundary(l.span.start as usize)
                    && file.text.is_char_boundary(l.span.end as usize),
                "{}: span {:?} outside {}",
                d.message,
                l.span,
                file.name
            );
        }
    }
    let _ = render(&out.diagnostics.0, &out.sources, RenderOptions::default());
    Ok(())
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, token: usize },
    Duplicate { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..20usize).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, token)| Mutation::Insert { at, token }),
        (any::<usize>(), 1..60usize).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

fn mutate(base: &str, mutations: &[Mutation]) -> String {
    let mut chars: Vec<char> = base.chars().collect();
    for m in mutations {
        let n = chars.len().max(1);
        match *m {
            Mutation::Delete { at, len } => {
                let at = at % n;
                let end = (at + len).min(chars.len());
                chars.drain(at.min(chars.len())..end);
            }
            Mutation::Insert { at, token } => {
                let at = (at % n).min(chars.len());
                chars.splice(at..at, TOKENS[token].chars());
            }
            Mutation::Duplicate { at, len } => {
                let at = at % n;
                let end = (at + len).min(chars.len());
                let slice: Vec<char> = chars[at.min(chars.len())..end].to_vec();
                chars.splice(end..end, slice);
            }
        }
    }
    chars.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 5_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn strings_over_the_alphabet(text in "[a-z_0-9 =(){}\\[\\],.:;#\"\n+*/%<>!-]{0,300}") {
        check(&text)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_valid_pipelines(
        which in any::<bool>(),
        mutations in prop::collection::vec(mutation(), 1..6),
    ) {
        let base = if which { EXAMPLE } else { EVERYTHING };
        check(&mutate(base, &mutations))?;
    }
}

#[test]
fn deep_input_is_an_error_not_a_crash() {
    for (text, message) in [
        (
            format!(
                "space s {{ layers = {}1{} }}",
                "(".repeat(100_000),
                ")".repeat(100_000)
            ),
            Some("brackets are nested more than"),
        ),
        (
            format!("space s {{ layers = {} }}", vec!["1"; 50_000].join(" + ")),
            Some("expression is nested"),
        ),
        (
            format!("space s {{ layers = 2{} }}", " ** 2".repeat(50_000)),
            Some("expression is nested"),
        ),
        // Runs of signs collapse, so they cost no depth at all.
        (
            format!("space s {{ layers = {}1 }}", "-".repeat(100_000)),
            None,
        ),
    ] {
        let out = compile(
            "deep.pipeline",
            &text,
            &MapLoader(vec![]),
            &TestRegistry::default(),
        );
        let messages: Vec<&str> = out
            .diagnostics
            .0
            .iter()
            .map(|d| d.message.as_str())
            .collect();
        match message {
            Some(m) => assert!(
                messages.len() == 1 && messages[0].contains(m),
                "{messages:?}"
            ),
            None => assert!(messages.is_empty(), "{messages:?}"),
        }
    }
}
