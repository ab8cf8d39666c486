//! The Slurm executor against a real Slurm (CI starts a one-node cluster
//! with `.ci/slurm-up.sh`): three tiny models trained through `sbatch`,
//! rooflaw killed while they are queued or running and started again; it
//! re-attaches to the jobs, and nothing is trained twice.
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn slurm_available() -> bool {
    Command::new("sinfo")
        .arg("-h")
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}

/// `slurm.json` of every Slurm job directory in the cache.
fn submissions(cache: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(cache.join("work")) else {
        return Vec::new();
    };
    rd.filter_map(Result::ok)
        .map(|e| e.path().join("slurm.json"))
        .filter(|p| p.exists())
        .collect()
}

/// A project training `models` tiny models of `tokens` tokens each on
/// Slurm, one CPU per job; `None` (the `test` skipped, saying so) without
/// Slurm.
fn project(test: &str, models: usize, tokens: &str) -> Option<tempfile::TempDir> {
    if !slurm_available() {
        eprintln!(
            "skipping the Slurm {test} test: no Slurm here (`sinfo` failed); \
             `sudo .ci/slurm-up.sh` starts a one-node cluster"
        );
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let layers: Vec<String> = (1..=models).map(|l| l.to_string()).collect();
    std::fs::write(
        dir.path().join("s.pipeline"),
        format!(
            r#"
space s {{ layers = [{}]  width = 32  heads = 2  vocab = 256 }}
stage c = enumerate(s)
stage d = sample(c, n: {models})
stage t = train(d, tokens: {tokens}, seq_len: 32, batch: 8,
                executor: slurm {{ gpus: 0, cpus: 1, time: 10 min, poll: 0.5 s }})
report t to "out"
"#,
            layers.join(", ")
        ),
    )
    .unwrap();
    Some(dir)
}

/// `rooflaw run s.pipeline` in `d`, which must succeed with `models` runs.
fn run_to_the_end(d: &Path, models: usize) {
    let out = common::command(d)
        .args(["run", "s.pipeline"])
        .output()
        .unwrap();
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{log}");
    let csv = std::fs::read_to_string(d.join("out/data/t.csv")).unwrap();
    assert_eq!(csv.lines().count(), models + 1, "{csv}");
}

#[test]
fn slurm_jobs_survive_a_killed_rooflaw_and_run_once() {
    let Some(dir) = project("end-to-end", 3, "64k") else {
        return;
    };
    let d = dir.path();
    let run = || {
        common::command(d)
            .args(["run", "s.pipeline", "--quiet"])
            .spawn()
            .expect("rooflaw starts")
    };
    let cache = d.join(".rooflaw");

    // First run: killed once its jobs are with Slurm.
    let mut first = run();
    let started = Instant::now();
    while submissions(&cache).len() < 3 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the jobs were not submitted within a minute"
        );
        if let Some(status) = first.try_wait().unwrap() {
            panic!("rooflaw ended ({status}) before being killed");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    first.kill().unwrap();
    first.wait().unwrap();

    // Second run: re-attaches and collects.
    run_to_the_end(d, 3);

    // Each job was submitted once, as one array job, and trained once.
    let records = submissions(&cache);
    assert_eq!(records.len(), 3);
    let mut arrays = std::collections::BTreeSet::new();
    for r in &records {
        let ids = ids(r);
        assert_eq!(ids.len(), 1, "{} was submitted {ids:?}", r.display());
        arrays.insert(ids[0].split('_').next().unwrap().to_string());
        let job_dir = r.parent().unwrap();
        assert_eq!(trainings(job_dir), 1, "{}", job_dir.display());
    }
    assert_eq!(arrays.len(), 1, "{arrays:?}");

    // Where it ran is not part of the key: the same runs locally are cached.
    let local = std::fs::read_to_string(d.join("s.pipeline"))
        .unwrap()
        .replace(
            "executor: slurm { gpus: 0, cpus: 1, time: 10 min, poll: 0.5 s }",
            "executor: local {}",
        );
    std::fs::write(d.join("s.pipeline"), local).unwrap();
    let out = common::command(d)
        .args(["run", "s.pipeline"])
        .output()
        .unwrap();
    let log =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && log.contains("[0 run, 3 cached]"),
        "{log}"
    );
}

/// The `ids` of a `slurm.json`.
fn ids(record: &Path) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap();
    v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect()
}

/// How many times a job directory's Slurm logs say a training finished.
fn trainings(job_dir: &Path) -> usize {
    std::fs::read_dir(job_dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "log")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("slurm-"))
        })
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .matches("val loss")
                .count()
        })
        .sum()
}

#[test]
fn ctrl_c_cancels_every_slurm_job_of_the_run_and_a_rerun_finishes_them() {
    // Five jobs, one CPU each: the one-node cluster runs a few at a time and
    // queues the rest, so Ctrl-C finds jobs finished, running and pending.
    let Some(dir) = project("cancellation", 5, "256k") else {
        return;
    };
    let d = dir.path();
    let cache = d.join(".rooflaw");
    // One thread: one job polled at a time, so the others are cancelled
    // without any thread waiting on them.
    let mut first = common::command(d)
        .args(["run", "s.pipeline", "--quiet", "--jobs", "1"])
        .spawn()
        .expect("rooflaw starts");
    let done = |r: &PathBuf| r.parent().unwrap().join("result.json").exists();
    let started = Instant::now();
    loop {
        let records = submissions(&cache);
        let finished = records.iter().filter(|r| done(r)).count();
        if records.len() == 5 && finished >= 1 {
            assert!(finished < 5, "every job finished before Ctrl-C");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no job finished within five minutes"
        );
        if let Some(status) = first.try_wait().unwrap() {
            panic!("rooflaw ended ({status}) before Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let finished_before: Vec<PathBuf> = submissions(&cache).into_iter().filter(done).collect();
    let status = Command::new("kill")
        .args(["-INT", &first.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(s) = first.try_wait().unwrap() {
            break s;
        }
        if stopping.elapsed() > Duration::from_secs(120) {
            first.kill().unwrap();
            panic!("rooflaw did not stop within two minutes of Ctrl-C");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(status.code(), Some(130), "{status}");

    // Slurm lists none of the run's jobs, and every one without a result
    // is recorded as cancelled.
    let records = submissions(&cache);
    let all: Vec<String> = records.iter().flat_map(|r| ids(r)).collect();
    let out = Command::new("squeue")
        .args(["-h", "-r", "-o", "%i %T", "-j", &all.join(",")])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.trim().is_empty(), "still queued:\n{listed}");
    let cancelled: Vec<&PathBuf> = records.iter().filter(|r| !done(r)).collect();
    assert!(!cancelled.is_empty());
    for r in &cancelled {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(r).unwrap()).unwrap();
        assert_eq!(v["cancelled"], true, "{}: {v}", r.display());
        assert_eq!(v["failures"], 0, "{}: {v}", r.display());
    }

    // The rerun submits the cancelled jobs again, together, and trains
    // each job once: the finished ones are not submitted again.
    run_to_the_end(d, 5);
    let mut resubmitted = std::collections::BTreeSet::new();
    for r in submissions(&cache) {
        let job_dir = r.parent().unwrap();
        assert_eq!(trainings(job_dir), 1, "{}", job_dir.display());
        let ids = ids(&r);
        if finished_before.contains(&r) {
            assert_eq!(ids.len(), 1, "{} was submitted again", r.display());
        } else {
            assert_eq!(ids.len(), 2, "{}: {ids:?}", r.display());
            resubmitted.insert(ids[1].split('_').next().unwrap().to_string());
        }
    }
    assert_eq!(resubmitted.len(), 1, "not one array: {resubmitted:?}");
}
