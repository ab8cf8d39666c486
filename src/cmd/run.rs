use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use rooflaw_cache::{LockFile, LockedStage};
use rooflaw_engine::{Action, Bars, Session};

use super::pipeline::{self, CacheArgs};

#[derive(clap::Args)]
pub struct Args {
    /// The pipeline file.
    pub file: PathBuf,
    #[command(flatten)]
    pub cache: CacheArgs,
    #[command(flatten)]
    pub select: pipeline::Selection,
    /// Worker threads [default: all cores].
    #[arg(long, short = 'j', value_name = "N")]
    pub jobs: Option<usize>,
    /// Ignore cached results (results are still stored).
    #[arg(long)]
    pub no_cache: bool,
    /// Fail if the run would change the lock file (for CI and shared experiments).
    #[arg(long)]
    pub locked: bool,
    /// No progress bars and no summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let Some(loaded) = pipeline::load(&args.file)? else {
        return Ok(ExitCode::from(1));
    };
    let opts = args.select.options(&loaded.spec, args.no_cache)?;
    let store = pipeline::open_store(&args.file, &args.cache)?;
    let Some(session) = pipeline::session(&loaded, &store, &args.file) else {
        return Ok(ExitCode::from(1));
    };
    let lock_path = LockFile::path_for(&args.file);
    if args.locked {
        let plan = session.plan(&opts);
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
        let lock = LockFile::read(&lock_path)
            .map_err(|e| anyhow::anyhow!("--locked: cannot read {}: {e}", lock_path.display()))?
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "--locked, but there is no lock file {} yet: run once without --locked",
                    lock_path.display()
                )
            })?;
        let current = lock_from_plan(&session, &plan, &args.file);
        let diff = lock.diff(&current);
        if !running.is_empty() || !diff.is_empty() {
            eprintln!(
                "error: --locked, but the run would change {}:",
                lock_path.display()
            );
            for l in running.iter().chain(&diff) {
                eprintln!("{l}");
            }
            return Ok(ExitCode::from(1));
        }
    }

    let visible = !args.quiet && std::io::stderr().is_terminal();
    let bars = Bars::new(visible);
    let cancel = cancel_on_signal();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.jobs.unwrap_or(0))
        .build()?;
    let outcomes = match pool.install(|| session.run(&opts, &bars, &cancel)) {
        Ok(o) => o,
        Err(failure) => {
            eprint!(
                "{}",
                pipeline::render(&[failure.diagnostic()], &loaded.sources)
            );
            // 128 + SIGINT, as a shell reports an interrupted command.
            return Ok(ExitCode::from(if failure.cancelled() { 130 } else { 1 }));
        }
    };

    // Lock file: keys and output hashes of what this run produced.
    if args.select.until.is_none() {
        let mut lock = LockFile::new(args.file.to_string_lossy().into_owned());
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
    }
    Ok(ExitCode::SUCCESS)
}

/// Ctrl-C (or SIGTERM) asks every running stage to stop; finished work stays
/// in the cache. A second one gives up waiting.
fn cancel_on_signal() -> Arc<AtomicBool> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, std::sync::atomic::Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("\nstopping: finished stages stay cached (Ctrl-C again to quit now)");
    });
    cancel
}

fn lock_from_plan(
    session: &Session,
    plan: &[rooflaw_engine::PlanEntry],
    file: &std::path::Path,
) -> LockFile {
    let mut lock = LockFile::new(file.to_string_lossy().into_owned());
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
