//! `rooflaw cache ls | verify | gc`: inspect, check and prune the content-addressed store.
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use rooflaw_cache::{CACHE_ENV, Hash, LockFile, Store, VerifyReport};

#[derive(clap::Args)]
pub struct Args {
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        help = "Cache directory [default: $ROOFLAW_CACHE, else .rooflaw next to PIPELINE, else ./.rooflaw]"
    )]
    pub cache: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Subcommand)]
pub enum Command {
    /// List cached entries: key, stage, kind, size, age.
    Ls(Target),
    /// Rehash every object; corrupt ones are quarantined. Exits 1 if anything is wrong.
    Verify {
        #[command(flatten)]
        target: Target,
        /// Also quarantine what cannot be read (a directory in place of an
        /// object, an entry that does not parse), so the next run recomputes it.
        #[arg(long)]
        repair: bool,
    },
    /// Delete entries and objects that no lock file and no recent run references.
    Gc(GcArgs),
}

/// Which cache: the one a pipeline file runs with.
#[derive(clap::Args)]
pub struct Target {
    /// A pipeline file: its cache is .rooflaw/ next to it (as rooflaw run puts it).
    #[arg(value_name = "PIPELINE")]
    pub pipeline: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub target: Target,
    /// Report what would be deleted without deleting anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Keep what the last N runs of each pipeline used.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub keep_runs: usize,
    /// Lock files whose stages to keep, in addition to the *.lock files of pipelines in the
    /// directory holding the cache.
    #[arg(long = "lock", value_name = "FILE", num_args = 1..)]
    pub locks: Vec<PathBuf>,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let pipeline = match &args.command {
        Command::Ls(t) | Command::Verify { target: t, .. } => t.pipeline.as_deref(),
        Command::Gc(g) => g.target.pipeline.as_deref(),
    };
    let root = args.cache.clone().unwrap_or_else(|| default_root(pipeline));
    if !root.is_dir() {
        bail!("{}", no_cache(&root, pipeline));
    }
    let mut store = Store::open(&root)
        .with_context(|| format!("cannot open the cache at {}", root.display()))?;
    let recovered = store.recovered();
    if recovered.any() {
        eprintln!(
            "note: cleaned up after a killed run: {} stale in-progress marker(s), {} temporary file(s)",
            recovered.stale_runs, recovered.tmp_files
        );
    }
    let code = match &args.command {
        Command::Ls(_) => ls(&store)?,
        Command::Verify { repair, .. } => verify(&store, *repair)?,
        Command::Gc(gc_args) => gc(&mut store, &root, gc_args)?,
    };
    for warning in store.warnings() {
        eprintln!("warning: {warning}");
    }
    Ok(code)
}

fn default_root(pipeline: Option<&Path>) -> PathBuf {
    match (std::env::var_os(CACHE_ENV), pipeline) {
        (Some(dir), _) if !dir.is_empty() => PathBuf::from(dir),
        (_, Some(file)) => Store::default_root(file),
        _ => PathBuf::from(".rooflaw"),
    }
}

/// Why there is no cache at `root`, where caches live, and the ones in
/// this directory tree.
fn no_cache(root: &Path, pipeline: Option<&Path>) -> String {
    let mut msg = format!("no cache at {}", root.display());
    if pipeline.is_some() {
        msg.push_str(" (the pipeline has not been run with it yet)");
        return msg;
    }
    msg.push_str(
        ": rooflaw run keeps a pipeline's cache in .rooflaw/ next to the pipeline file \
         (--cache DIR or $ROOFLAW_CACHE move it); name the pipeline, e.g. \
         rooflaw cache ls pipelines/quickstart.pipeline",
    );
    let found = caches_below(Path::new("."), 3);
    if !found.is_empty() {
        let list: Vec<String> = found.iter().map(|p| p.display().to_string()).collect();
        let _ = write!(msg, "; caches here: {}", list.join(", "));
    }
    msg
}

/// `.rooflaw` directories at most `depth` levels below `dir` (build and VCS
/// directories skipped), sorted.
fn caches_below(dir: &Path, depth: usize) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if !entry.file_type().is_ok_and(|t| t.is_dir()) || name == "target" || name == ".git" {
            continue;
        }
        if name == ".rooflaw" {
            out.push(path.strip_prefix(".").unwrap_or(&path).to_path_buf());
        } else if depth > 1 {
            out.extend(caches_below(&path, depth - 1));
        }
    }
    out.sort();
    out
}

fn ls(store: &Store) -> anyhow::Result<ExitCode> {
    let entries = store.ls()?;
    if entries.is_empty() {
        println!("cache {} is empty", store.root().display());
        return Ok(ExitCode::SUCCESS);
    }
    let now = unix_now();
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let status = if e.missing_outputs == 0 {
                "ok".to_owned()
            } else {
                format!("{} of {} outputs missing", e.missing_outputs, e.outputs)
            };
            vec![
                e.key.short(),
                e.stage.clone(),
                e.kind.clone(),
                e.outputs.to_string(),
                human_size(e.size),
                human_age(now.saturating_sub(e.created)),
                human_duration(e.duration_ms),
                status,
            ]
        })
        .collect();
    let headers = [
        "KEY", "STAGE", "KIND", "OUTPUTS", "SIZE", "AGE", "TOOK", "STATUS",
    ];
    print!("{}", table(&headers, &rows, &[3, 4, 5, 6]));
    let total: u64 = entries.iter().map(|e| e.size).sum();
    println!(
        "{} entries, {} of outputs",
        entries.len(),
        human_size(total)
    );
    Ok(ExitCode::SUCCESS)
}

fn verify(store: &Store, repair: bool) -> anyhow::Result<ExitCode> {
    let report = if repair {
        store.verify_repair()?
    } else {
        store.verify()?
    };
    print!("{}", verify_text(&report));
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn verify_text(r: &VerifyReport) -> String {
    let mut out = format!(
        "checked {} objects ({})\n",
        r.objects_checked,
        human_size(r.bytes_checked)
    );
    let mut rows: Vec<Vec<String>> = Vec::new();
    for h in &r.corrupt {
        rows.push(vec![
            "corrupt".into(),
            h.short(),
            "-".into(),
            "moved to quarantine/".into(),
        ]);
    }
    for m in &r.missing {
        let what = format!("entry {} output `{}`", m.key.short(), m.output);
        rows.push(vec![
            "missing".into(),
            m.object.short(),
            m.stage.clone(),
            what,
        ]);
    }
    for (path, why) in &r.bad_entries {
        rows.push(vec![
            "unreadable".into(),
            path.display().to_string(),
            "-".into(),
            why.clone(),
        ]);
    }
    for (path, why) in &r.unreadable {
        rows.push(vec![
            "unreadable".into(),
            path.display().to_string(),
            "-".into(),
            why.clone(),
        ]);
    }
    for path in &r.repaired {
        rows.push(vec![
            "repaired".into(),
            path.display().to_string(),
            "-".into(),
            "moved to quarantine/; recomputed on the next run".into(),
        ]);
    }
    for path in &r.strays {
        let note = "not an object name; left alone".to_owned();
        rows.push(vec![
            "stray".into(),
            path.display().to_string(),
            "-".into(),
            note,
        ]);
    }
    if !rows.is_empty() {
        out.push_str(&table(
            &["PROBLEM", "OBJECT", "STAGE", "DETAIL"],
            &rows,
            &[],
        ));
    }
    if r.is_ok() {
        out.push_str("cache is intact\n");
    } else if r.repaired.is_empty() && !(r.unreadable.is_empty() && r.bad_entries.is_empty()) {
        out.push_str("`rooflaw cache verify --repair` moves the unreadable items aside\n");
    } else {
        out.push_str("affected stages will rerun on the next `rooflaw run`\n");
    }
    out
}

fn gc(store: &mut Store, root: &Path, args: &GcArgs) -> anyhow::Result<ExitCode> {
    let mut lock_files = args.locks.clone();
    lock_files.extend(pipeline_lock_files(root)?);
    lock_files.sort();
    lock_files.dedup();
    let mut roots: Vec<Hash> = Vec::new();
    for path in &lock_files {
        let lock = LockFile::read(path)?
            .with_context(|| format!("lock file {} does not exist", path.display()))?;
        roots.extend(lock.keys());
    }
    let run_roots = store.run_roots(args.keep_runs)?;
    roots.extend(&run_roots);
    let report = store.gc(&roots, args.dry_run)?;
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removed"
    };
    let rows = vec![
        vec![
            "entries".to_owned(),
            report.entries_kept.to_string(),
            report.entries_removed.to_string(),
        ],
        vec![
            "objects".to_owned(),
            report.objects_kept.to_string(),
            report.objects_removed.to_string(),
        ],
        vec![
            "refs".to_owned(),
            "-".to_owned(),
            report.refs_removed.to_string(),
        ],
    ];
    let mut out = format!(
        "roots: {} lock file(s), last {} run(s) of each pipeline ({} key(s))\n",
        lock_files.len(),
        args.keep_runs,
        run_roots.len()
    );
    out.push_str(&table(
        &[
            "",
            "KEPT",
            if report.dry_run {
                "TO REMOVE"
            } else {
                "REMOVED"
            },
        ],
        &rows,
        &[1, 2],
    ));
    let _ = writeln!(out, "{verb} {}", human_size(report.bytes_freed));
    if report.roots_missing > 0 {
        let _ = writeln!(
            out,
            "{} root key(s) had no entry in the cache",
            report.roots_missing
        );
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// `*.lock` files in the directory holding the cache that belong to a pipeline there (the file
/// without `.lock` exists), so unrelated lock files such as `Cargo.lock` are not read.
fn pipeline_lock_files(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let dir = match root.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut out = Vec::new();
    for item in fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let path = item?.path();
        let pipeline = path
            .to_str()
            .and_then(|p| p.strip_suffix(".lock"))
            .map(PathBuf::from);
        if path.is_file() && pipeline.is_some_and(|p| p.is_file()) {
            out.push(path);
        }
    }
    Ok(out)
}

/// Left-aligned columns, except those in `right` (numbers), two spaces apart.
fn table(headers: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| (*h).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let pad = w - cell.chars().count();
            if right.contains(&i) {
                line.extend(std::iter::repeat_n(' ', pad));
                line.push_str(cell);
            } else {
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn human_age(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86_400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

fn human_duration(ms: u64) -> String {
    match ms {
        0..1000 => format!("{ms} ms"),
        1000..60_000 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60),
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_naturally() {
        for (bytes, text) in [
            (0, "0 B"),
            (1023, "1023 B"),
            (1536, "1.5 KiB"),
            (100 << 20, "100.0 MiB"),
        ] {
            assert_eq!(human_size(bytes), text);
        }
        for (ms, text) in [(12, "12 ms"), (1500, "1.5 s"), (125_000, "2m05s")] {
            assert_eq!(human_duration(ms), text);
        }
    }

    /// A cache beside `sweep.rl` with one locked stage, one stage of the last run and one
    /// stage nothing references; returns their keys in that order.
    fn populated(dir: &Path) -> [Hash; 3] {
        let store = Store::open(&dir.join(".rooflaw")).unwrap();
        let pipeline = dir.join("sweep.rl");
        fs::write(&pipeline, "# pipeline").unwrap();
        let keys = ["locked", "recent", "orphan"].map(|stage| {
            let manifest = serde_json::json!({"key_schema": 1, "stage": stage});
            let key = rooflaw_cache::key_of(&manifest);
            let out = store.put(stage.as_bytes()).unwrap();
            let outputs = [("out".to_owned(), out)].into();
            store
                .put_entry(
                    &key,
                    &rooflaw_cache::Entry::new(stage, "t", manifest, outputs, 1),
                )
                .unwrap();
            (key, out)
        });
        let mut lock = LockFile::new("sweep.rl");
        let (key, out) = keys[0];
        let outputs = [("out".to_owned(), out)].into();
        lock.stages.insert(
            "locked".into(),
            rooflaw_cache::LockedStage {
                kind: "t".into(),
                key,
                outputs,
            },
        );
        lock.write(&LockFile::path_for(&pipeline)).unwrap();
        store.record_run(&pipeline, &[keys[1].0]).unwrap();
        keys.map(|(k, _)| k)
    }

    fn args(dir: &Path, command: Command) -> Args {
        Args {
            cache: Some(dir.join(".rooflaw")),
            command,
        }
    }

    fn verify_args(repair: bool) -> Command {
        Command::Verify {
            target: Target { pipeline: None },
            repair,
        }
    }

    fn gc_args(dry_run: bool) -> Command {
        Command::Gc(GcArgs {
            target: Target { pipeline: None },
            dry_run,
            keep_runs: 5,
            locks: Vec::new(),
        })
    }

    #[test]
    fn gc_keeps_lock_file_and_recent_run_roots() {
        let dir = tempfile::tempdir().unwrap();
        let [locked, recent, orphan] = populated(dir.path());
        let has = |k: &Hash| {
            dir.path()
                .join(format!(".rooflaw/entries/{k}.json"))
                .exists()
        };
        assert_eq!(
            run(&args(dir.path(), gc_args(true))).unwrap(),
            ExitCode::SUCCESS
        );
        assert!(
            has(&locked) && has(&recent) && has(&orphan),
            "dry run deleted"
        );
        assert_eq!(
            run(&args(dir.path(), gc_args(false))).unwrap(),
            ExitCode::SUCCESS
        );
        assert!(has(&locked) && has(&recent) && !has(&orphan));
    }

    #[test]
    fn verify_exits_1_on_corruption() {
        let dir = tempfile::tempdir().unwrap();
        populated(dir.path());
        assert_eq!(
            run(&args(dir.path(), verify_args(false))).unwrap(),
            ExitCode::SUCCESS
        );
        let object = dir.path().join(".rooflaw/objects");
        let sub = fs::read_dir(&object)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let file = fs::read_dir(sub).unwrap().next().unwrap().unwrap().path();
        fs::write(file, "tampered").unwrap();
        assert_eq!(
            run(&args(dir.path(), verify_args(false))).unwrap(),
            ExitCode::from(1)
        );
    }

    #[test]
    fn missing_cache_is_an_error_not_a_new_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = run(&args(dir.path(), Command::Ls(Target { pipeline: None }))).unwrap_err();
        assert!(err.to_string().contains("no cache at"), "{err}");
        assert!(!dir.path().join(".rooflaw").exists());
    }

    #[test]
    fn table_aligns_columns() {
        let rows = vec![
            vec!["a".to_owned(), "1".to_owned()],
            vec!["long".to_owned(), "100".to_owned()],
        ];
        assert_eq!(
            table(&["NAME", "N"], &rows, &[1]),
            "NAME    N\na       1\nlong  100\n"
        );
    }
}
