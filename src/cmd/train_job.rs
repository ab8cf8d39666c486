//! `rooflaw train-job DIR`: run one training job directory — what a Slurm
//! node runs for the Slurm executor. The directory holds `job.json` (and
//! `corpus.json` for a declared corpus); the run checkpoints there, resumes
//! from a checkpoint it finds, reports progress in `progress.json` and ends
//! by writing `result.json`.
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use rooflaw_neural::train::{command, job, slurm, store};

#[derive(clap::Args)]
pub struct Args {
    /// The job's directory (in the cache of the pipeline that submitted it).
    pub dir: PathBuf,
    /// Where corpus bookkeeping lives (file hashes, tokenized text)
    /// [default: the corpora directory of the cache holding DIR]
    #[arg(long, value_name = "DIR")]
    pub corpora: Option<PathBuf>,
}

pub fn run(args: &Args) -> ExitCode {
    // The pipeline's run consented to its commands when it submitted the job.
    command::allow_commands(true);
    if let Some(dir) = args.corpora.clone().or_else(|| cache_root(&args.dir)) {
        store::set_data_dir(dir);
    }
    let mut last = Instant::now();
    let mut progress = |p: &rooflaw_neural::train::Progress| {
        // Every few seconds: the submitting rooflaw polls this file.
        if last.elapsed().as_secs_f64() >= 2.0 || p.step == p.steps {
            slurm::write_progress(&args.dir, p);
            last = Instant::now();
        }
        ControlFlow::Continue(())
    };
    match job::run_job_dir(&args.dir, &mut progress) {
        Ok(r) => {
            println!(
                "{}: val loss {:.4} after {} tokens in {:.1} s",
                r.arch, r.val_loss, r.tokens, r.wall_s
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", args.dir.display());
            ExitCode::from(1)
        }
    }
}

/// The cache a job directory lives in: the nearest ancestor holding the
/// store's `objects` directory.
fn cache_root(dir: &std::path::Path) -> Option<PathBuf> {
    let abs = std::fs::canonicalize(dir).ok()?;
    abs.ancestors()
        .find(|d| d.join("objects").is_dir())
        .map(|d| d.join("corpora"))
}
