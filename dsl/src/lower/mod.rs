//! AST to [`Spec`]: load imports, declare names, lower every block and stage,
//! check the stage graph. Every problem is collected; a spec comes out only
//! when there are none.
mod blocks;
mod space;
mod stages;
mod values;

use std::collections::BTreeMap;

use crate::ast::{BlockKind, File, Item};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::parse::parse;
use crate::signature::Registry;
use crate::source::{Loader, SourceMap};
use crate::span::{FileId, Span};
use crate::spec::{RefKind, Spec};

/// The result of [`compile`]. The source map is always there, so the
/// diagnostics can be rendered whether or not a spec came out.
#[derive(Debug)]
pub struct Compiled {
    /// The main file first (`FileId(0)`), then each import under the name the
    /// loader resolved it to.
    pub sources: SourceMap,
    /// `Some` exactly when `diagnostics` holds no error.
    pub spec: Option<Spec>,
    /// Sorted by file, then position.
    pub diagnostics: Diagnostics,
}

/// Parse `text` (shown as `main_name`), load its imports through `loader`
/// (recursively; each file once; cycles are errors), lower and validate
/// against `registry`.
pub fn compile(
    main_name: &str,
    text: &str,
    loader: &dyn Loader,
    registry: &dyn Registry,
) -> Compiled {
    let mut sources = SourceMap::default();
    let mut diags = Diagnostics::default();
    let main = sources.add(main_name, text);
    let mut items = Vec::new();
    let mut stack = vec![main];
    load(
        main,
        loader,
        &mut sources,
        &mut stack,
        &mut items,
        &mut diags,
    );

    let spec = lower(&items, registry, &mut diags);
    diags.0.sort_by_key(|d| {
        d.labels
            .iter()
            .find(|l| l.primary)
            .or(d.labels.first())
            .map(|l| (l.span.file, l.span.start))
    });
    let spec = (!diags.has_errors()).then(|| Spec {
        sources: sources.clone(),
        ..spec
    });
    Compiled {
        sources,
        spec,
        diagnostics: diags,
    }
}

/// Parse one file and, depth first, the files it imports, appending their
/// items in the order met. A file already loaded is not loaded again, so a
/// hardware file shared by two imports is declared once.
fn load(
    file: FileId,
    loader: &dyn Loader,
    sources: &mut SourceMap,
    stack: &mut Vec<FileId>,
    items: &mut Vec<Item>,
    diags: &mut Diagnostics,
) {
    let text = sources.get(file).text.clone();
    let ast: File = parse(file, &text, diags);
    for item in ast.items {
        let Item::Use(path) = &item else {
            items.push(item);
            continue;
        };
        let importer = sources.get(file).name.clone();
        match loader.load(&importer, &path.node) {
            Err(why) => diags.push(
                Diagnostic::error(Code::Import, format!("cannot read `{}`: {why}", path.node))
                    .at(path.span, "imported here"),
            ),
            Ok((name, text)) => match sources.find(&name) {
                Some(id) if stack.contains(&id) => {
                    let chain: Vec<String> = stack
                        .iter()
                        .skip_while(|f| **f != id)
                        .map(|f| format!("`{}`", sources.get(*f).name))
                        .collect();
                    diags.push(
                        Diagnostic::error(
                            Code::ImportCycle,
                            format!("import cycle: {} imports `{name}` again", chain.join(" → ")),
                        )
                        .at(path.span, "imports a file that is still being loaded"),
                    );
                }
                Some(_) => {}
                None => {
                    let id = sources.add(name, text);
                    stack.push(id);
                    load(id, loader, sources, stack, items, diags);
                    stack.pop();
                }
            },
        }
    }
}

/// Every declared name, one namespace for all kinds, so a bare name in a
/// stage argument means one thing.
pub(crate) struct Decls {
    map: BTreeMap<String, (RefKind, Span)>,
}

impl Decls {
    pub(crate) fn get(&self, name: &str) -> Option<(RefKind, Span)> {
        self.map.get(name).copied()
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    pub(crate) fn names_of(&self, kind: RefKind) -> impl Iterator<Item = &str> {
        self.map
            .iter()
            .filter(move |(_, (k, _))| *k == kind)
            .map(|(n, _)| n.as_str())
    }
}

fn lower(items: &[Item], registry: &dyn Registry, diags: &mut Diagnostics) -> Spec {
    let mut decls = Decls {
        map: BTreeMap::new(),
    };
    // Items whose name was taken first are skipped, so each name lowers once.
    let mut fresh = Vec::with_capacity(items.len());
    for item in items {
        let (kind, name) = match item {
            Item::Block(b) => (
                match b.kind {
                    BlockKind::Hardware => RefKind::Hardware,
                    BlockKind::Workload => RefKind::Workload,
                    BlockKind::Budget => RefKind::Budget,
                    BlockKind::Space => RefKind::Space,
                    BlockKind::Corpus => RefKind::Corpus,
                },
                &b.name,
            ),
            Item::Stage(s) => (RefKind::Stage, &s.name),
            Item::Use(_) | Item::Report(_) => {
                fresh.push(item);
                continue;
            }
        };
        if let Some((first_kind, first)) = decls.get(&name.node) {
            diags.push(
                Diagnostic::error(Code::Duplicate, format!("`{}` is declared twice", name.node))
                    .at(name.span, "declared again here")
                    .also(first, format!("first declared here as a {}", first_kind.keyword()))
                    .help("names are shared by hardware, workloads, budgets, spaces and stages; rename one"),
            );
        } else {
            decls.map.insert(name.node.clone(), (kind, name.span));
            fresh.push(item);
        }
    }

    let mut spec = Spec::default();
    for item in fresh {
        match item {
            Item::Block(b) => match b.kind {
                BlockKind::Hardware | BlockKind::Workload => {
                    let block = blocks::lower_block(b, registry, diags);
                    if b.kind == BlockKind::Hardware {
                        spec.hardware.push(block);
                    } else {
                        spec.workloads.push(block);
                    }
                }
                BlockKind::Budget => spec.budgets.push(blocks::lower_budget(b, registry, diags)),
                BlockKind::Space => spec.spaces.push(space::lower_space(b, registry, diags)),
                BlockKind::Corpus => spec.corpora.push(blocks::lower_corpus(b, registry, diags)),
            },
            Item::Stage(s) => {
                if let Some(stage) = stages::lower_stage(s, &decls, registry, diags) {
                    spec.stages.push(stage);
                }
            }
            Item::Report(r) => spec.reports.push(stages::lower_report(r, &decls, diags)),
            Item::Use(_) => {}
        }
    }
    stages::check_cycles(&spec.stages, diags);
    spec
}
