//! A generated corpus of bad pipelines through everything `rooflaw check`
//! does, with the real stage registry and a project boundary: mutations of
//! the bundled pipelines by grammar fragments, plus fragments made to hurt
//! (long lines, terminal escapes, huge ranges and lists, paths leading out).
//! No panic, and every diagnostic points into the file it names.
//!
//! 2,000 cases per run; `PROPTEST_CASES=10000` for a longer one.
use proptest::prelude::*;
use rooflaw_dsl::{Loader, RenderOptions, compile, render};

const QUICKSTART: &str = include_str!("../pipelines/quickstart.pipeline");
const EXAMPLE: &str = include_str!("../pipelines/example.pipeline");
const ORIN: &str = include_str!("../pipelines/hardware/orin.pipeline");

/// Single-token fragments, space-separated.
const TOKENS: &str = "stage space use report to from let require step = == <= .. ** ( ) [ ] { } , : \" # ms GiB tokens 10B 1e999 1e-400 -";

/// Fragments made to hurt.
const HOSTILE: &[&str] = &[
    "\n",
    " ",
    "\u{1b}[2J",
    "\u{202e}",
    "\u{feff}",
    "\r",
    "1 .. 1e18",
    "[1, 2, 3, 4, 5, 6, 7, 8]",
    "report best to \"/etc\"\n",
    "report best to \"../../x\"\n",
    "use \"/etc/shadow\"\n",
    "use \"../up.pipeline\"\n",
    "stage m = measurements(\"../../etc/shadow\")\n",
    "hardware h from \"/x.yaml\" {}\n",
    "stage c = enumerate(small)\n",
    "stage r = roofline(c, hardware: nano, workload: chat)\n",
    "vocab = 1 .. 9000000 step 1\n",
    "use \"hardware/orin.pipeline\"\n",
];

fn fragments() -> Vec<&'static str> {
    TOKENS.split(' ').chain(HOSTILE.iter().copied()).collect()
}

/// Imports from a map: the project's files, nothing else.
struct Files;

impl Loader for Files {
    fn load(&self, importer: &str, path: &str) -> Result<(String, String), String> {
        let dir = std::path::Path::new(importer)
            .parent()
            .unwrap_or(std::path::Path::new(""));
        let name = rooflaw_cache::boundary::normalise(&dir.join(path))
            .to_string_lossy()
            .into_owned();
        match name.as_str() {
            "hardware/orin.pipeline" => Ok((name, ORIN.to_string())),
            _ => Err("no such file".into()),
        }
    }
}

fn check(text: &str) -> Result<(), TestCaseError> {
    let registry = rooflaw_neural::registry();
    let mut out = compile("main.pipeline", text, &Files, &registry);
    let mut diags = out.diagnostics.0.clone();
    if let Some(spec) = &mut out.spec {
        spec.project = rooflaw_dsl::spec::Project {
            root: Some(std::env::current_dir().unwrap()),
            allow_outside: false,
        };
        diags.extend(rooflaw_engine::export::check_dirs(spec));
        diags.extend(rooflaw_engine::session::check(spec, &registry));
    }
    for d in &diags {
        prop_assert!(!d.labels.is_empty(), "not located: {}", d.message);
        for l in &d.labels {
            let file = out.sources.get(l.span.file);
            prop_assert!(
                l.span.start <= l.span.end && (l.span.end as usize) <= file.text.len(),
                "{}: span {:?} outside {}",
                d.message,
                l.span,
                file.name
            );
        }
    }
    let shown = render(
        &diags,
        &out.sources,
        RenderOptions {
            color: true,
            width: 100,
        },
    );
    prop_assert!(
        !shown.contains("\u{1b}[2J"),
        "a raw escape from the file reached the output"
    );
    Ok(())
}

fn mutated() -> impl Strategy<Value = String> {
    let base = prop_oneof![Just(QUICKSTART), Just(EXAMPLE)];
    let n = fragments().len();
    let edits = proptest::collection::vec((any::<usize>(), 0..n, 0..4usize), 1..6);
    (base, edits).prop_map(|(base, edits)| {
        let mut s = base.to_string();
        for (at, frag, repeat) in edits {
            let mut at = at % (s.len() + 1);
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            s.insert_str(at, &fragments()[frag].repeat(repeat + 1));
        }
        s
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(2_000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn generated_bad_pipelines_never_panic_and_are_located(text in mutated()) {
        check(&text)?;
    }
}

#[test]
fn a_diagnostic_past_column_65535_renders() {
    let text = format!(
        "{}\nstage x = law(\"{}\") oops\n",
        QUICKSTART,
        "a".repeat(100_000)
    );
    check(&text).unwrap();
    let text = format!("space s {{ layers = [{}] }}\n", "1, ".repeat(30_000));
    check(&text).unwrap();
}
