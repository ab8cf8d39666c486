//! What every pipeline command does first: read the file, compile it against
//! the stdlib registry, open the cache, bind a session.
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use rooflaw_cache::Store;
use rooflaw_dsl::{RenderOptions, SourceMap, Spec};
use rooflaw_engine::Registry;

/// Options shared by commands that work on a pipeline's cache.
#[derive(clap::Args, Clone, Debug)]
pub struct CacheArgs {
    // clap prints doc comments as written: help text stays free of Markdown.
    #[allow(clippy::doc_markdown)]
    /// Cache directory [default: $ROOFLAW_CACHE, else .rooflaw/ next to the pipeline file]
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

/// Where a pipeline may read and write.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ProjectArgs {
    /// The project directory the pipeline's paths must stay inside
    /// [default: the pipeline file's directory]
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Let the pipeline read and write outside its project directory
    /// (absolute paths, .. components, symbolic links leading out).
    #[arg(long)]
    pub allow_outside_root: bool,
}

impl ProjectArgs {
    pub fn project(&self, pipeline: &Path) -> rooflaw_dsl::spec::Project {
        let root = self
            .root
            .clone()
            .unwrap_or_else(|| match pipeline.parent() {
                Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                _ => PathBuf::from("."),
            });
        rooflaw_dsl::spec::Project {
            root: Some(root),
            allow_outside: self.allow_outside_root,
        }
    }

    /// Compile a pipeline's text with imports confined to the project, and
    /// check the project's paths the stages do not see (report
    /// directories).
    pub fn compile(
        &self,
        path: &Path,
        name: &str,
        text: &str,
        registry: &Registry,
    ) -> rooflaw_dsl::Compiled {
        let project = self.project(path);
        let loader = crate::loader::FsLoader {
            root: project.confining_root().map(Path::to_path_buf),
        };
        let mut compiled = rooflaw_dsl::compile(name, text, &loader, registry);
        if let Some(spec) = &mut compiled.spec {
            spec.project = project;
            let escapes = rooflaw_engine::export::check_dirs(spec);
            if !escapes.is_empty() {
                compiled.diagnostics.extend(escapes);
                compiled.spec = None;
            }
        }
        compiled
    }
}

pub struct Loaded {
    pub sources: SourceMap,
    pub spec: Spec,
    pub registry: Registry,
}

/// Compile a pipeline file; on errors, print them and return `None`.
pub fn load(path: &Path, project: &ProjectArgs) -> anyhow::Result<Option<Loaded>> {
    let registry = rooflaw_neural::registry();
    let text = crate::loader::read_pipeline_text(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    let name = path.to_string_lossy().into_owned();
    let compiled = project.compile(path, &name, &text, &registry);
    let warnings: Vec<_> = compiled
        .diagnostics
        .0
        .iter()
        .filter(|d| !d.is_error())
        .cloned()
        .collect();
    if !warnings.is_empty() {
        eprint!("{}", render(&warnings, &compiled.sources));
    }
    if let Some(spec) = compiled.spec {
        Ok(Some(Loaded {
            sources: compiled.sources,
            spec,
            registry,
        }))
    } else {
        let errors: Vec<_> = compiled
            .diagnostics
            .0
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect();
        eprint!("{}", render(&errors, &compiled.sources));
        Ok(None)
    }
}

pub fn render(diags: &[rooflaw_dsl::Diagnostic], sources: &SourceMap) -> String {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let width = if color { 100 } else { 80 };
    rooflaw_dsl::render(diags, sources, RenderOptions { color, width })
}

pub fn open_store(pipeline: &Path, args: &CacheArgs) -> anyhow::Result<Store> {
    let root = args
        .cache
        .clone()
        .unwrap_or_else(|| Store::default_root(pipeline));
    let store = Store::open(&root)
        .map_err(|e| anyhow::anyhow!("cannot open cache {}: {e}", root.display()))?;
    // Corpus file hashes and tokenized text live with the cache.
    rooflaw_neural::train::store::set_data_dir(store.root().join("corpora"));
    Ok(store)
}

/// Bind a compiled pipeline to its cache; on errors (a stage's arguments do
/// not resolve), print them and return `None`.
pub fn session<'a>(
    loaded: &'a Loaded,
    store: &'a Store,
    file: &Path,
) -> Option<rooflaw_engine::Session<'a>> {
    match rooflaw_engine::Session::new(&loaded.spec, &loaded.registry, store, file) {
        Ok(s) => Some(s),
        Err(d) => {
            eprint!("{}", render(&d, &loaded.sources));
            None
        }
    }
}

/// Which stages a `run` or `plan` forces or stops at.
#[derive(clap::Args, Clone, Debug)]
pub struct Selection {
    /// Rerun this stage even if cached (repeatable).
    #[arg(long, value_name = "STAGE")]
    pub force: Vec<String>,
    /// Rerun every stage.
    #[arg(long)]
    pub force_all: bool,
    /// Only this stage and what it needs.
    #[arg(long, value_name = "STAGE")]
    pub until: Option<String>,
}

impl Selection {
    /// Engine options, once every named stage is known to exist.
    pub fn options(
        &self,
        spec: &rooflaw_dsl::Spec,
        no_cache: bool,
    ) -> anyhow::Result<rooflaw_engine::Options> {
        for s in self.force.iter().chain(&self.until) {
            check_stage_name(spec, s)?;
        }
        Ok(rooflaw_engine::Options {
            force: self.force.iter().cloned().collect(),
            force_all: self.force_all,
            until: self.until.clone(),
            no_cache,
        })
    }
}

pub fn check_stage_name(spec: &rooflaw_dsl::Spec, name: &str) -> anyhow::Result<()> {
    if spec.stage(name).is_some() {
        return Ok(());
    }
    let names: Vec<&str> = spec.stages.iter().map(|s| s.name.node.as_str()).collect();
    match rooflaw_dsl::did_you_mean(name, names.iter().copied()) {
        Some(s) => anyhow::bail!("no stage named `{name}`; did you mean `{s}`?"),
        None => anyhow::bail!("no stage named `{name}`; stages: {}", names.join(", ")),
    }
}
