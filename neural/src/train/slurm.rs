//! The Slurm executor: each training job becomes an `sbatch` job that runs
//! `rooflaw train-job WORKDIR` on a node (which runs rooflaw's trainer or
//! the user's command, as the job file says). rooflaw polls `squeue`, shows
//! the node's progress, and collects `result.json`; the job's directory lives
//! in the cache on the shared filesystem.
//!
//! `slurm.json` in the job's directory records every submission, so a
//! rooflaw killed mid-run re-attaches to jobs still queued or running rather
//! than submitting them again; a job that ended without a result (failed,
//! timed out, preempted without requeue) is resubmitted up to `retries`
//! times and resumes from its checkpoint. Cancelling the run `scancel`s
//! every job it has with Slurm (see [`cancel`]) and marks their records, so
//! a rerun submits them again without counting a failure.
//! Where a job ran is not part of its key: a result trained on the cluster
//! is a cache hit locally, and the other way round.
use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::TrainError;
use super::job::{RESULT_FILE, TrainJob, TrainResult, read_json, write_json};
use super::trainer::Progress;

/// `executor: slurm { partition: "gpu", gpus: 1, time: 48 h, account: "x" }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlurmSettings {
    pub partition: Option<String>,
    pub account: Option<String>,
    /// GPUs per job (`--gres=gpu:N`).
    pub gpus: u32,
    /// CPUs per job (`--cpus-per-task`).
    pub cpus: Option<u32>,
    /// Wall-time limit per job, seconds.
    pub time_s: Option<u64>,
    /// Resubmissions of a job that ended without a result.
    pub retries: u32,
    /// Seconds between `squeue` polls.
    pub poll_s: f64,
}

impl Default for SlurmSettings {
    fn default() -> Self {
        Self {
            partition: None,
            account: None,
            gpus: 0,
            cpus: None,
            time_s: None,
            retries: 2,
            poll_s: 10.0,
        }
    }
}

/// What `slurm.json` remembers of a job's submissions.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Submissions {
    /// Every job id submitted for this directory, oldest first.
    pub ids: Vec<String>,
    /// Jobs that ended without a result and without progress: what
    /// `retries` bounds. One that checkpointed further (it hit the time
    /// limit mid-run) is not a failure, so a run may span many jobs.
    #[serde(default)]
    pub failures: u32,
    /// The node's step when the last job was submitted.
    #[serde(default)]
    pub step_at_submit: u64,
    /// rooflaw `scancel`led the last job because the user cancelled the
    /// run: it is neither re-attached to nor a failure, and a rerun
    /// submits it again (with the stage's other new jobs).
    #[serde(default)]
    pub cancelled: bool,
}

impl Submissions {
    fn load(path: &Path) -> Result<Self, TrainError> {
        if path.exists() {
            read_json(path)
        } else {
            Ok(Self::default())
        }
    }
}

pub const SUBMISSIONS_FILE: &str = "slurm.json";
pub const SCRIPT_FILE: &str = "slurm.sh";
pub const ARRAY_SCRIPT_FILE: &str = "slurm-array.sh";
/// Written by the node while it trains (see `rooflaw train-job`).
pub const PROGRESS_FILE: &str = "progress.json";

/// Told a job's id, its Slurm state, and the node's last progress report;
/// `Break` cancels the job.
pub type JobProgress<'a> = dyn FnMut(&str, &str, Option<&Progress>) -> ControlFlow<()> + 'a;

/// Whether `sbatch` is on `PATH`.
pub fn available() -> bool {
    Command::new("sbatch")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs `job` (already written to `workdir/job.json`) on Slurm and waits
/// for its result. `rooflaw` is the executable the node runs; `cwd` the
/// directory jobs start in (the pipeline's, for relative paths).
pub fn run(
    settings: &SlurmSettings,
    job: &TrainJob,
    workdir: &Path,
    rooflaw: &Path,
    cwd: &Path,
    progress: &mut JobProgress<'_>,
) -> Result<TrainResult, TrainError> {
    let key = job.key();
    let label = super::model::label(&job.arch);
    let record_path = workdir.join(SUBMISSIONS_FILE);
    let mut record = Submissions::load(&record_path)?;
    loop {
        if let Some(r) = finished(workdir, &key)? {
            return Ok(r);
        }
        // Re-attach to the last submission while Slurm still knows it.
        let live = match record.ids.last() {
            Some(id) if !record.cancelled => state(id)?.map(|s| (id.clone(), s)),
            _ => None,
        };
        let id = if let Some((id, _)) = live {
            id
        } else {
            let step = node_progress(workdir).map_or(0, |p| p.step);
            if !record.ids.is_empty() && !record.cancelled && step <= record.step_at_submit {
                record.failures += 1;
            }
            if record.failures > settings.retries {
                return Err(TrainError::Command(format!(
                    "{label}: Slurm jobs {} ended without a result or progress {} time(s) \
                     (remove {} to try again); the last log:\n{}",
                    record.ids.join(", "),
                    record.failures,
                    record_path.display(),
                    log_tail(workdir, record.ids.last().map(String::as_str))
                )));
            }
            let id = submit(settings, job, workdir, rooflaw, cwd)?;
            record.ids.push(id.clone());
            record.step_at_submit = step;
            record.cancelled = false;
            write_json(&record_path, &record)?;
            id
        };
        // Poll until the job leaves the queue, asking `progress` between
        // polls too: a cancellation is answered at once, not a poll later.
        let poll = Duration::from_secs_f64(settings.poll_s.max(0.2));
        while let Some(st) = state(&id)? {
            let p = node_progress(workdir);
            let polled = Instant::now();
            loop {
                if progress(&id, &st, p.as_ref()).is_break() {
                    cancel(&[workdir.to_path_buf()])?;
                    return Err(TrainError::Interrupted {
                        arch: label,
                        step: p.map_or(0, |p| p.step),
                    });
                }
                let left = poll.saturating_sub(polled.elapsed());
                if left.is_zero() {
                    break;
                }
                std::thread::sleep(left.min(CANCEL_CHECK));
            }
        }
    }
}

/// How often a poll's wait looks at the cancellation.
const CANCEL_CHECK: Duration = Duration::from_millis(200);
/// How long [`cancel`] waits for cancelled jobs to leave the queue.
const CANCEL_WAIT: Duration = Duration::from_secs(60);

/// Cancels the run's jobs in `dirs`: `scancel`s every one Slurm still lists
/// (array tasks by their own ids, so an array's other tasks are untouched
/// unless listed too), marks its record cancelled, and waits until Slurm
/// no longer lists them, so nothing of the run outlives rooflaw. Returns
/// the ids cancelled.
pub fn cancel(dirs: &[PathBuf]) -> Result<Vec<String>, TrainError> {
    // The last submission of every job without a result.
    let mut last = Vec::new();
    for dir in dirs {
        let path = dir.join(SUBMISSIONS_FILE);
        if !path.exists() || dir.join(RESULT_FILE).exists() {
            continue;
        }
        let record = Submissions::load(&path)?;
        if let (Some(id), false) = (record.ids.last(), record.cancelled) {
            last.push((id.clone(), path, record));
        }
    }
    let ids: Vec<String> = last.iter().map(|(id, _, _)| id.clone()).collect();
    let known = listed(&ids)?;
    let live: Vec<String> = ids.into_iter().filter(|id| known.contains(id)).collect();
    if live.is_empty() {
        return Ok(live);
    }
    let out = Command::new("scancel")
        .args(&live)
        .output()
        .map_err(|e| TrainError::Command(format!("cannot run scancel: {e}")))?;
    for (id, path, mut record) in last {
        if live.contains(&id) {
            record.cancelled = true;
            write_json(&path, &record)?;
        }
    }
    // A cancelled job lingers as COMPLETING while its processes are killed;
    // one that ended meanwhile makes scancel complain, harmlessly.
    let asked = Instant::now();
    loop {
        let still = listed(&live)?;
        if still.is_empty() {
            return Ok(live);
        }
        if asked.elapsed() > CANCEL_WAIT
            || (!out.status.success() && asked.elapsed() > CANCEL_CHECK * 10)
        {
            return Err(TrainError::Command(format!(
                "Slurm still lists jobs {} after `scancel`{}",
                still.into_iter().collect::<Vec<_>>().join(", "),
                if out.status.success() {
                    String::new()
                } else {
                    format!(": {}", String::from_utf8_lossy(&out.stderr).trim())
                }
            )));
        }
        std::thread::sleep(CANCEL_CHECK);
    }
}

/// Which of `ids` Slurm lists (pending, running or completing), in one
/// `squeue` call.
fn listed(ids: &[String]) -> Result<BTreeSet<String>, TrainError> {
    if ids.is_empty() {
        return Ok(BTreeSet::new());
    }
    let out = Command::new("squeue")
        .args(["-h", "-r", "-o", "%i", "-j", &ids.join(",")])
        .output()
        .map_err(|e| TrainError::Command(format!("cannot run squeue: {e}")))?;
    let err = String::from_utf8_lossy(&out.stderr);
    // Ids Slurm has forgotten are an error when no other id is known.
    if !out.status.success() && !err.contains("Invalid job id") {
        return Err(TrainError::Command(format!(
            "squeue failed: {}",
            err.trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Submit, as one array job, every job in `jobs` (its directory staged)
/// that has no result and was never submitted or was cancelled with its
/// run: a stage's jobs queue at once, whatever the local thread count.
/// Those that were submitted and ended otherwise are left to [`run`], which
/// re-attaches or resubmits them one by one.
pub fn submit_new(
    settings: &SlurmSettings,
    jobs: &[(TrainJob, PathBuf)],
    rooflaw: &Path,
    cwd: &Path,
) -> Result<(), TrainError> {
    let fresh: Vec<&(TrainJob, PathBuf)> = jobs
        .iter()
        .filter(|(j, dir)| {
            let path = dir.join(SUBMISSIONS_FILE);
            let resubmit = !path.exists() || Submissions::load(&path).is_ok_and(|r| r.cancelled);
            resubmit && !matches!(finished(dir, &j.key()), Ok(Some(_)))
        })
        .collect();
    match fresh.as_slice() {
        [] => Ok(()),
        [(job, dir)] => {
            let id = submit(settings, job, dir, rooflaw, cwd)?;
            record(dir, id)
        }
        many => {
            let dirs: Vec<&Path> = many.iter().map(|(_, d)| d.as_path()).collect();
            let path = dirs[0].join(ARRAY_SCRIPT_FILE);
            std::fs::write(&path, array_script(settings, &dirs, rooflaw, cwd))
                .map_err(TrainError::io(&path))?;
            let id = sbatch(&path)?;
            for (i, d) in dirs.iter().enumerate() {
                record(d, format!("{id}_{i}"))?;
            }
            Ok(())
        }
    }
}

fn record(dir: &Path, id: String) -> Result<(), TrainError> {
    let path = dir.join(SUBMISSIONS_FILE);
    let mut r = Submissions::load(&path)?;
    r.ids.push(id);
    r.step_at_submit = node_progress(dir).map_or(0, |p| p.step);
    r.cancelled = false;
    write_json(&path, &r)
}

/// An array job over `dirs`: task `i` runs `dirs[i]`, its log in that directory.
pub fn array_script(s: &SlurmSettings, dirs: &[&Path], rooflaw: &Path, cwd: &Path) -> String {
    let q = |p: &Path| shell_quote(&p.to_string_lossy());
    let mut lines = header(s, "rooflaw-train", cwd);
    lines.push(format!(
        "#SBATCH --array=0-{}",
        dirs.len().saturating_sub(1)
    ));
    lines.push("#SBATCH --output=/dev/null".into());
    lines.push(format!(
        "dirs=({})",
        dirs.iter().map(|d| q(d)).collect::<Vec<_>>().join(" ")
    ));
    lines.push("dir=${dirs[$SLURM_ARRAY_TASK_ID]}".into());
    lines.push(
        r#"exec > "$dir/slurm-${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}.log" 2>&1"#.into(),
    );
    lines.push(format!("exec {} train-job \"$dir\"", q(rooflaw)));
    lines.join("\n") + "\n"
}

fn finished(workdir: &Path, key: &str) -> Result<Option<TrainResult>, TrainError> {
    let path = workdir.join(RESULT_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let r: TrainResult = read_json(&path)?;
    Ok((r.job_key == key).then_some(r))
}

/// The job's state while Slurm lists it (`PENDING`, `RUNNING`, ...), `None`
/// once it has left the queue.
fn state(id: &str) -> Result<Option<String>, TrainError> {
    let out = Command::new("squeue")
        .args(["-h", "-j", id, "-o", "%T"])
        .output()
        .map_err(|e| TrainError::Command(format!("cannot run squeue: {e}")))?;
    // An id Slurm has forgotten is an error to squeue; either way it is gone.
    let s = String::from_utf8_lossy(&out.stdout).trim().to_string();
    Ok((out.status.success() && !s.is_empty()).then_some(s))
}

fn submit(
    settings: &SlurmSettings,
    job: &TrainJob,
    workdir: &Path,
    rooflaw: &Path,
    cwd: &Path,
) -> Result<String, TrainError> {
    let script = script(settings, job, workdir, rooflaw, cwd);
    let path = workdir.join(SCRIPT_FILE);
    std::fs::write(&path, script).map_err(TrainError::io(&path))?;
    sbatch(&path)
}

fn sbatch(path: &Path) -> Result<String, TrainError> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(path)
        .output()
        .map_err(|e| TrainError::Command(format!("cannot run sbatch: {e}")))?;
    if !out.status.success() {
        return Err(TrainError::Command(format!(
            "sbatch {} failed: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    // `--parsable` prints `id` or `id;cluster`.
    let id = text
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string();
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        return Err(TrainError::Command(format!(
            "sbatch printed `{}`, not a job id",
            text.trim()
        )));
    }
    Ok(id)
}

/// The batch script: Slurm's settings as `#SBATCH` lines, then the node's
/// command, arguments single-quoted.
pub fn script(
    s: &SlurmSettings,
    job: &TrainJob,
    workdir: &Path,
    rooflaw: &Path,
    cwd: &Path,
) -> String {
    let q = |p: &Path| shell_quote(&p.to_string_lossy());
    let name = format!(
        "rooflaw-{}",
        super::model::label(&job.arch)
            .replace(' ', "_")
            .replace('/', "-")
    );
    let mut lines = header(s, &name, cwd);
    lines.push(format!(
        "#SBATCH --output={}",
        q(&workdir.join("slurm-%j.log"))
    ));
    lines.push(format!("exec {} train-job {}", q(rooflaw), q(workdir)));
    lines.join("\n") + "\n"
}

/// `#SBATCH` lines every job of these settings carries.
fn header(s: &SlurmSettings, name: &str, cwd: &Path) -> Vec<String> {
    let mut lines = vec![
        "#!/bin/bash".to_string(),
        format!("#SBATCH --job-name={}", shell_quote(name)),
        format!("#SBATCH --chdir={}", shell_quote(&cwd.to_string_lossy())),
        "#SBATCH --nodes=1".into(),
        "#SBATCH --ntasks=1".into(),
        // A preempted job goes back to the queue and resumes from its checkpoint.
        "#SBATCH --requeue".into(),
    ];
    if let Some(p) = &s.partition {
        lines.push(format!("#SBATCH --partition={}", shell_quote(p)));
    }
    if let Some(a) = &s.account {
        lines.push(format!("#SBATCH --account={}", shell_quote(a)));
    }
    if s.gpus > 0 {
        lines.push(format!("#SBATCH --gres=gpu:{}", s.gpus));
    }
    if let Some(c) = s.cpus {
        lines.push(format!("#SBATCH --cpus-per-task={c}"));
    }
    if let Some(t) = s.time_s {
        // Slurm's minutes, rounded up.
        lines.push(format!("#SBATCH --time={}", t.div_ceil(60).max(1)));
    }
    lines
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// What the node last reported.
fn node_progress(workdir: &Path) -> Option<Progress> {
    let v: serde_json::Value = read_json(&workdir.join(PROGRESS_FILE)).ok()?;
    Some(Progress {
        step: v["step"].as_u64()?,
        steps: v["steps"].as_u64()?,
        tokens: v["tokens"].as_u64().unwrap_or(0),
        loss: v["loss"].as_f64().unwrap_or(f64::NAN),
        lr: 0.0,
        tokens_per_s: v["tokens_per_s"].as_f64().unwrap_or(0.0),
        val_loss: None,
    })
}

/// Writes what the node reports, for [`node_progress`] on the submitting side.
pub fn write_progress(workdir: &Path, p: &Progress) {
    let v = serde_json::json!({
        "step": p.step, "steps": p.steps, "tokens": p.tokens,
        "loss": if p.loss.is_finite() { Some(p.loss) } else { None },
        "tokens_per_s": p.tokens_per_s,
    });
    let _ = super::store::write_atomic(&workdir.join(PROGRESS_FILE), v.to_string().as_bytes());
}

fn log_tail(workdir: &Path, id: Option<&str>) -> String {
    let Some(id) = id else { return String::new() };
    let path: PathBuf = workdir.join(format!("slurm-{id}.log"));
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    format!(
        "{}\n({})",
        lines[lines.len().saturating_sub(15)..].join("\n"),
        path.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::{CorpusRef, Recipe};
    use rooflaw_stdlib::arch::Architecture;

    #[test]
    fn script_carries_the_settings_and_quotes_paths() {
        let job = TrainJob {
            arch: Architecture::dense(2, 64, 4, 2, 128),
            recipe: Recipe::small(1 << 16, 0),
            corpus: CorpusRef {
                name: "sotu".into(),
                hash: "h".into(),
            },
            trainer: None,
        };
        let s = SlurmSettings {
            partition: Some("gpu".into()),
            account: Some("lab".into()),
            gpus: 1,
            time_s: Some(48 * 3600),
            ..SlurmSettings::default()
        };
        let text = script(
            &s,
            &job,
            Path::new("/c/it's"),
            Path::new("/bin/rooflaw"),
            Path::new("/p"),
        );
        let array = array_script(
            &s,
            &[Path::new("/a"), Path::new("/b")],
            Path::new("/bin/rooflaw"),
            Path::new("/p"),
        );
        assert!(
            array.contains("#SBATCH --array=0-1\n") && array.contains("dirs=('/a' '/b')"),
            "{array}"
        );
        for line in [
            "#SBATCH --partition='gpu'",
            "#SBATCH --account='lab'",
            "#SBATCH --gres=gpu:1",
            "#SBATCH --time=2880",
            "#SBATCH --chdir='/p'",
            r"exec '/bin/rooflaw' train-job '/c/it'\''s'",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from\n{text}"
            );
        }
    }
}
