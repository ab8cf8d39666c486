use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use rooflaw_cache::{LockFile, LockedStage};
use rooflaw_engine::{Action, Bars, Session};

use super::pipeline::{self, CacheArgs};

// Independent command-line switches.
#[allow(clippy::struct_excessive_bools)]
#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file.
    pub file: PathBuf,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub project: pipeline::ProjectArgs,
    #[command(flatten)]
    pub select: pipeline::Selection,
    /// Worker threads, 1 to 512 [default: all cores].
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=512))]
    pub jobs: Option<u16>,
    /// Ignore cached results (results are still stored).
    #[arg(long)]
    pub no_cache: bool,
    /// Fail if the run would change the lock file (for CI and shared experiments).
    #[arg(long)]
    pub locked: bool,
    /// No progress bars and no summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Run the commands the pipeline names (train(..., command: ...));
    /// without it (or allow_commands = true in the user config) such a
    /// pipeline fails before running anything.
    // Help text stays plain (no backticks), see cmd::tests.
    #[allow(clippy::doc_markdown)]
    #[arg(long)]
    pub allow_commands: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let Some(loaded) = pipeline::load(&args.file, &args.project)? else {
        return Ok(ExitCode::from(1));
    };
    let opts = args.select.options(&loaded.spec, args.no_cache)?;
    if !super::consent::grant(&loaded.spec, args.allow_commands)? {
        return Ok(ExitCode::from(1));
    }
    let (store, _scratch) = writable_store(args)?;
    let Some(session) = pipeline::session(&loaded, &store, &args.file) else {
        return Ok(ExitCode::from(1));
    };
    let lock_path = LockFile::path_for(&args.file);
    if args.locked && !locked_run_matches(&session, &opts, &lock_path, &args.file)? {
        return Ok(ExitCode::from(1));
    }

    let visible = !args.quiet && std::io::stderr().is_terminal();
    let bars = Bars::new(visible);
    let cancel = super::interrupt::cancel_flag("finished stages stay cached");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.map_or(0, usize::from))
        .build()?;
    let outcomes = match pool.install(|| session.run(&opts, &bars, &cancel)) {
        Ok(o) => o,
        Err(failure) => {
            eprint!(
                "{}",
                pipeline::render(&[failure.diagnostic()], &loaded.sources)
            );
            return Ok(ExitCode::from(if failure.cancelled() {
                super::interrupt::EXIT
            } else {
                1
            }));
        }
    };

    // Lock file: keys and output hashes of what this run produced.
    if args.select.until.is_none() {
        let mut lock = LockFile::new(lock_name(&args.file));
        for o in &outcomes {
            lock.stages.insert(
                o.stage.clone(),
                LockedStage {
                    kind: o.kind.clone(),
                    key: o.key.parse().map_err(|_| anyhow::anyhow!("bad key"))?,
                    outputs: BTreeMap::from([(
                        "out".to_string(),
                        o.output.parse().map_err(|_| anyhow::anyhow!("bad hash"))?,
                    )]),
                },
            );
        }
        lock.write(&lock_path)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", lock_path.display()))?;
    }

    // Outputs of reported stages.
    let mut outputs = BTreeMap::new();
    for o in &outcomes {
        if let Some(a) = session.output(&o.stage)? {
            outputs.insert(o.stage.clone(), a);
        }
    }
    let written =
        rooflaw_engine::export::export(&loaded.spec, &loaded.registry, &session.base_dir, &outputs)
            .map_err(|e| anyhow::anyhow!("writing the report: {e}"))?;

    if !args.quiet {
        print_summary(
            &outcomes,
            &written,
            &session.base_dir,
            started.elapsed().as_secs_f64(),
        );
        print_answers(&loaded.spec, &session.base_dir, &outputs)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `--locked`: whether the run would neither run a stage nor change the
/// lock file; if it would, says what on stderr.
fn locked_run_matches(
    session: &Session,
    opts: &rooflaw_engine::Options,
    lock_path: &std::path::Path,
    file: &std::path::Path,
) -> anyhow::Result<bool> {
    let plan = session.plan(opts);
    let running: Vec<String> = plan
        .iter()
        .filter(|e| e.action == Action::Run)
        .map(|e| {
            format!(
                "  {}: {}",
                e.stage,
                e.reasons
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        })
        .collect();
    let lock = LockFile::read(lock_path)
        .map_err(|e| anyhow::anyhow!("--locked: cannot read {}: {e}", lock_path.display()))?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "--locked, but there is no lock file {} yet: run once without --locked",
                lock_path.display()
            )
        })?;
    let current = lock_from_plan(session, &plan, file);
    let diff = lock.diff(&current);
    if !running.is_empty() || !diff.is_empty() {
        eprintln!(
            "error: --locked, but the run would change {}:",
            lock_path.display()
        );
        for l in running.iter().chain(&diff) {
            eprintln!("{l}");
        }
        return Ok(false);
    }
    Ok(true)
}

/// Each written report's answer, as its page leads with it, and where the
/// page is: the last thing a run prints.
fn print_answers(
    spec: &rooflaw_dsl::spec::Spec,
    base: &std::path::Path,
    outputs: &BTreeMap<String, Arc<rooflaw_engine::Artifact>>,
) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    for report in &spec.reports {
        let names: Vec<String> = report.stages.iter().map(|n| n.node.clone()).collect();
        if names.iter().any(|n| !outputs.contains_key(n)) {
            continue;
        }
        let page = base.join(&report.dir.node).join("index.html");
        let shown = page
            .strip_prefix(std::env::current_dir().unwrap_or_default())
            .unwrap_or(&page)
            .to_path_buf();
        // A closed stdout is the reader's choice, not an error of the run.
        if let Some((title, body)) = rooflaw_stdlib::stages::headline(spec, outputs, &names)
            .map_err(|e| anyhow::anyhow!("writing the report: {e}"))?
        {
            let _ = writeln!(out, "{title}\n{body}");
        }
        if page.is_file() {
            let _ = writeln!(out, "report: {}", shown.display());
        }
    }
    Ok(())
}

/// Ctrl-C (or SIGTERM) asks every running stage to stop; finished work stays
/// in the cache. A second one gives up waiting.
fn lock_from_plan(
    session: &Session,
    plan: &[rooflaw_engine::PlanEntry],
    file: &std::path::Path,
) -> LockFile {
    let mut lock = LockFile::new(lock_name(file));
    for e in plan {
        let (Some(key), Action::Cached) = (&e.key, e.action) else {
            continue;
        };
        let Ok(key) = key.parse() else { continue };
        if let Ok(rooflaw_cache::Lookup::Hit(entry)) = session.store.lookup(&key) {
            lock.stages.insert(
                e.stage.clone(),
                LockedStage {
                    kind: e.kind.clone(),
                    key,
                    outputs: entry.outputs,
                },
            );
        }
    }
    lock
}

/// The pipeline's cache, or, when that is read-only and `--no-cache` says
/// nothing is to be read from it anyway, a throwaway one.
fn writable_store(args: &Args) -> anyhow::Result<(rooflaw_cache::Store, Option<Scratch>)> {
    let store = pipeline::open_store(&args.file, &args.cache)?;
    if !store.is_read_only() {
        return Ok((store, None));
    }
    if !args.no_cache {
        anyhow::bail!(
            "the cache {} is read-only; run with --no-cache (results are then not kept) or name a writable one with --cache DIR",
            store.root().display()
        );
    }
    let dir = Scratch::new()?;
    let scratch = rooflaw_cache::Store::open(&dir.0)
        .map_err(|e| anyhow::anyhow!("cannot open a scratch cache: {e}"))?;
    Ok((scratch, Some(dir)))
}

/// A temporary cache directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir =
            std::env::temp_dir().join(format!("rooflaw-scratch-{}-{nanos}", std::process::id()));
        std::fs::create_dir(&dir)?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The pipeline as a lock file names it: its file name, since the lock sits
/// beside it, so the lock is the same from whatever directory one runs.
fn lock_name(file: &std::path::Path) -> String {
    file.file_name()
        .map_or_else(|| file.to_string_lossy(), |n| n.to_string_lossy())
        .into_owned()
}

fn print_summary(
    outcomes: &[rooflaw_engine::Outcome],
    written: &[PathBuf],
    base: &std::path::Path,
    secs: f64,
) {
    let w = outcomes.iter().map(|o| o.stage.len()).max().unwrap_or(5);
    for o in outcomes {
        let what = match o.action {
            Action::Run => {
                let reason = o
                    .reasons
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let items = if o.items_run + o.items_cached > 0 {
                    format!(" [{} run, {} cached]", o.items_run, o.items_cached)
                } else {
                    String::new()
                };
                format!("ran     {:>8.2}s{items}  ({reason})", o.seconds)
            }
            _ => "cached".to_string(),
        };
        eprintln!("  {:<w$}  {what}", o.stage);
    }
    let ran = outcomes.iter().filter(|o| o.action == Action::Run).count();
    eprintln!("{ran} ran, {} cached in {secs:.2}s", outcomes.len() - ran);
    let mut dirs: std::collections::BTreeSet<_> =
        written.iter().filter_map(|p| p.parent()).collect();
    // `DIR/data` belongs to `DIR`: name each report directory once.
    let nested: Vec<_> = dirs
        .iter()
        .filter(|d| dirs.iter().any(|o| o != *d && d.starts_with(o)))
        .copied()
        .collect();
    for n in nested {
        dirs.remove(n);
    }
    for d in dirs {
        let shown = d
            .strip_prefix(std::env::current_dir().unwrap_or_default())
            .unwrap_or(d);
        let _ = base;
        eprintln!("outputs in {}", shown.display());
    }
}
