//! A trainer of the user's own: `train(..., command: "python train.py
//! --config {config} --out {result}")`. Each job's architecture is written
//! as a Hugging Face `config.json` (and the recipe and corpus as JSON), the
//! command runs with the placeholders filled in — no shell: the command is
//! split into words once and each word substituted — and it leaves a small
//! result JSON, which becomes the job's cached result like rooflaw's own runs.
//!
//! Running programs named in a pipeline needs the user's consent
//! ([`allow_commands`]), so running someone else's pipeline file never
//! executes anything unexpected.
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::TrainError;
use super::declared::CorpusSpec;
use super::job::{TrainJob, TrainResult, write_json};
use super::trainer::{Progress, steps_for};

static ALLOWED: AtomicBool = AtomicBool::new(false);

/// The user's consent to run pipelines' commands (`--allow-commands`).
pub fn allow_commands(yes: bool) {
    ALLOWED.store(yes, Ordering::Relaxed);
}

pub fn commands_allowed() -> bool {
    ALLOWED.load(Ordering::Relaxed)
}

/// What `rooflaw run` says when a pipeline would run a command unasked.
pub const CONSENT_HINT: &str = "this pipeline runs commands of its own; run it with `rooflaw run --allow-commands`, \
     or set `allow_commands = true` in $XDG_CONFIG_HOME/rooflaw/config.toml";

/// Placeholders a command may use.
pub const PLACEHOLDERS: &[&str] = &["config", "recipe", "corpus", "result", "workdir"];

/// The command of a `train` stage, as it enters each job's key: its words,
/// and the content hash of every word that names a file (the training
/// script), so editing the script retrains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalTrainer {
    pub argv: Vec<String>,
    pub files: BTreeMap<String, String>,
    /// Where it runs (the pipeline's directory); not part of the key. A
    /// Slurm node runs it in the job's `--chdir`.
    #[serde(skip)]
    pub cwd: Option<PathBuf>,
}

impl ExternalTrainer {
    /// Split `command` into words (double and single quotes group, a
    /// backslash escapes) and check its placeholders; `base` is where the
    /// command runs, for the file hashes.
    pub fn parse(command: &str, base: &Path) -> Result<Self, String> {
        let argv = split_words(command)?;
        if argv.is_empty() {
            return Err("the command is empty".into());
        }
        for w in &argv {
            for name in placeholders(w) {
                if !PLACEHOLDERS.contains(&name) {
                    return Err(format!(
                        "unknown placeholder `{{{name}}}`; known: {}",
                        PLACEHOLDERS
                            .iter()
                            .map(|p| format!("{{{p}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        if !argv.iter().any(|w| w.contains("{result}")) {
            return Err(
                "the command must be told where to write its result: pass `{result}`".into(),
            );
        }
        let mut files = BTreeMap::new();
        for w in argv.iter().filter(|w| !w.contains('{')) {
            let p = base.join(w);
            if p.is_file() {
                let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                files.insert(w.clone(), blake3::hash(&bytes).to_hex().to_string());
            }
        }
        Ok(Self {
            argv,
            files,
            cwd: Some(base.to_path_buf()),
        })
    }

    /// The command line as the user reads it.
    pub fn display(&self) -> String {
        self.argv.join(" ")
    }
}

fn placeholders(word: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = word;
    while let Some(i) = rest.find('{') {
        let Some(j) = rest[i..].find('}') else { break };
        out.push(&rest[i + 1..i + j]);
        rest = &rest[i + j + 1..];
    }
    out
}

fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"') | None, '\\') => {
                cur.push(chars.next().ok_or("the command ends in a backslash")?);
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("the command has an unclosed quote".into());
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// What the command writes to `{result}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandResult {
    /// Final validation loss, nats per token.
    pub val_loss: f64,
    /// Tokens trained on.
    pub tokens: u64,
    /// Wall time of the run, seconds.
    pub wall_s: f64,
    #[serde(default)]
    pub train_loss: Option<f64>,
    /// Parameters trained (default: rooflaw's count for the architecture).
    #[serde(default)]
    pub params: Option<u64>,
    /// `[step, validation loss]` pairs.
    #[serde(default)]
    pub evals: Vec<(u64, f64)>,
}

pub const CONFIG_FILE: &str = "config.json";
pub const RECIPE_FILE: &str = "recipe.json";
pub const COMMAND_RESULT_FILE: &str = "command-result.json";
pub const LOG_FILE: &str = "command.log";

/// Runs `ext` for `job` in `cwd`, its files in `workdir`; `progress`
/// returning `Break` kills it (the command may resume from its own
/// checkpoints in `{workdir}` when run again).
pub fn run(
    ext: &ExternalTrainer,
    job: &TrainJob,
    corpus: Option<&CorpusSpec>,
    vocab: usize,
    workdir: &Path,
    cwd: &Path,
    progress: &mut dyn FnMut(&Progress) -> ControlFlow<()>,
) -> Result<TrainResult, TrainError> {
    let label = super::model::label(&job.arch);
    std::fs::create_dir_all(workdir).map_err(TrainError::io(workdir))?;
    let paths = prepare(job, corpus, vocab, workdir)?;
    let argv: Vec<String> = ext
        .argv
        .iter()
        .map(|w| {
            PLACEHOLDERS
                .iter()
                .zip(&paths)
                .fold(w.clone(), |w, (name, p)| {
                    w.replace(&format!("{{{name}}}"), &p.to_string_lossy())
                })
        })
        .collect();
    let result_path = &paths[3];
    let _ = std::fs::remove_file(result_path);
    let log_path = workdir.join(LOG_FILE);
    let log = std::fs::File::create(&log_path).map_err(TrainError::io(&log_path))?;
    let err_log = log.try_clone().map_err(TrainError::io(&log_path))?;
    let mut child = Command::new(&argv[0])
        .args(&argv[1..])
        .current_dir(cwd)
        .env("ROOFLAW_WORKDIR", workdir)
        .env("ROOFLAW_JOB_KEY", job.key())
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(err_log)
        .spawn()
        .map_err(|e| TrainError::Corpus(format!("{label}: cannot start `{}`: {e}", argv[0])))?;
    let steps = steps_for(&job.recipe).unwrap_or(1);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().map_err(TrainError::io(&log_path))? {
            break s;
        }
        let flow = progress(&Progress {
            step: 0,
            steps,
            tokens: 0,
            loss: f64::NAN,
            lr: 0.0,
            tokens_per_s: 0.0,
            val_loss: None,
        });
        if flow.is_break() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TrainError::Interrupted {
                arch: label,
                step: 0,
            });
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    if !status.success() {
        return Err(TrainError::Command(format!(
            "{label}: `{}` failed ({status}); its output is in {}:\n{}",
            ext.display(),
            log_path.display(),
            tail(&log_path)
        )));
    }
    let mut arch = job.arch.clone();
    arch.vocab = vocab32(vocab);
    let r = read_result(result_path, job, workdir, started.elapsed().as_secs_f64())?;
    Ok(TrainResult {
        params: if r.params == 0 {
            arch.params_total()
        } else {
            r.params
        },
        ..r
    })
}

fn vocab32(vocab: usize) -> u32 {
    u32::try_from(vocab).unwrap_or(u32::MAX)
}

/// Writes the job's files; their paths in [`PLACEHOLDERS`] order.
fn prepare(
    job: &TrainJob,
    corpus: Option<&CorpusSpec>,
    vocab: usize,
    workdir: &Path,
) -> Result<Vec<PathBuf>, TrainError> {
    let config = workdir.join(CONFIG_FILE);
    let seq_len = u32::try_from(job.recipe.seq_len).unwrap_or(u32::MAX);
    write_json(
        &config,
        &rooflaw_stdlib::hf::to_config(&job.arch, vocab32(vocab), seq_len),
    )?;
    let recipe = workdir.join(RECIPE_FILE);
    write_json(
        &recipe,
        &serde_json::json!({ "recipe": job.recipe, "corpus": job.corpus, "vocab": vocab, "job_key": job.key() }),
    )?;
    let corpus_path = workdir.join(super::job::CORPUS_FILE);
    match corpus {
        Some(c) => write_json(&corpus_path, c)?,
        None => write_json(
            &corpus_path,
            &serde_json::json!({ "name": job.corpus.name, "bundled": true }),
        )?,
    }
    Ok(vec![
        config,
        recipe,
        corpus_path,
        workdir.join(COMMAND_RESULT_FILE),
        workdir.to_path_buf(),
    ])
}

fn read_result(
    path: &Path,
    job: &TrainJob,
    workdir: &Path,
    wall: f64,
) -> Result<TrainResult, TrainError> {
    let bad = |why: String| {
        TrainError::Command(format!(
            "{}: the command exited successfully but {why}; see the result schema in README \"Train on your cluster\"",
            path.display()
        ))
    };
    let bytes = std::fs::read(path).map_err(|e| bad(format!("left no result ({e})")))?;
    let r: CommandResult =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("its result is not valid: {e}")))?;
    if !r.val_loss.is_finite() || r.val_loss <= 0.0 {
        return Err(bad(format!("val_loss is {}", r.val_loss)));
    }
    if !(r.wall_s.is_finite() && r.wall_s >= 0.0) {
        return Err(bad(format!("wall_s is {}", r.wall_s)));
    }
    // 0 stands for "not reported" until the caller fills in its own count.
    let params = r.params.unwrap_or(0);
    Ok(TrainResult {
        arch: super::model::label(&job.arch),
        params,
        tokens: r.tokens,
        steps: steps_for(&job.recipe).unwrap_or(0),
        final_train_loss: r.train_loss.unwrap_or(f64::NAN),
        val_loss: r.val_loss,
        val_ppl: r.val_loss.exp(),
        wall_s: r.wall_s,
        tokens_per_s: r.tokens as f64
            / if r.wall_s > 0.0 {
                r.wall_s
            } else {
                wall.max(1e-9)
            },
        evals: r.evals,
        // An external trainer's resumes are its own business.
        resumed_at: Vec::new(),
        model_path: workdir.to_path_buf(),
        model_hash: blake3::hash(&bytes).to_hex().to_string(),
        job_key: job.key(),
    })
}

/// The last lines of a log, for the error message.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_split_like_a_shell_without_one() {
        assert_eq!(
            split_words(r#"python "my script.py" --x 'a b' c\ d"#).unwrap(),
            ["python", "my script.py", "--x", "a b", "c d"]
        );
        assert!(split_words("a 'b").unwrap_err().contains("unclosed"));
    }

    #[test]
    fn placeholders_are_checked() {
        let base = Path::new("/nonexistent");
        let e = ExternalTrainer::parse("t --cfg {conf} --out {result}", base).unwrap_err();
        assert!(e.contains("{conf}") && e.contains("{config}"), "{e}");
        let e = ExternalTrainer::parse("t --cfg {config}", base).unwrap_err();
        assert!(e.contains("{result}"), "{e}");
        let t = ExternalTrainer::parse("t --cfg={config} {result}", base).unwrap();
        assert_eq!(t.argv, ["t", "--cfg={config}", "{result}"]);
    }
}
