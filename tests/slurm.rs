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

#[test]
fn slurm_jobs_survive_a_killed_rooflaw_and_run_once() {
    if !slurm_available() {
        eprintln!(
            "skipping the Slurm end-to-end test: no Slurm here (`sinfo` failed); \
             `sudo .ci/slurm-up.sh` starts a one-node cluster"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("s.pipeline"),
        r#"
space s { layers = [1, 2, 3]  width = 32  heads = 2  vocab = 256 }
stage c = enumerate(s)
stage d = sample(c, n: 3)
stage t = train(d, tokens: 64k, seq_len: 32, batch: 8,
                executor: slurm { gpus: 0, cpus: 1, time: 10 min, poll: 0.5 s })
report t to "out"
"#,
    )
    .unwrap();
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
    assert_eq!(csv.lines().count(), 4, "{csv}");

    // Each job was submitted once, as one array job, and trained once.
    let records = submissions(&cache);
    assert_eq!(records.len(), 3);
    let mut arrays = std::collections::BTreeSet::new();
    for r in &records {
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(r).unwrap()).unwrap();
        let ids = v["ids"].as_array().unwrap();
        assert_eq!(
            ids.len(),
            1,
            "{} was submitted {} times",
            r.display(),
            ids.len()
        );
        arrays.insert(
            ids[0]
                .as_str()
                .unwrap()
                .split('_')
                .next()
                .unwrap()
                .to_string(),
        );
        let job_dir = r.parent().unwrap();
        let logs: Vec<_> = std::fs::read_dir(job_dir)
            .unwrap()
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().starts_with("slurm-"))
            .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
            .collect();
        assert_eq!(logs.len(), 1, "{}", job_dir.display());
        let text = std::fs::read_to_string(logs[0].path()).unwrap();
        assert_eq!(text.matches("val loss").count(), 1, "{text}");
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
