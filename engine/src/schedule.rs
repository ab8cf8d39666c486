//! The run: a ready queue over the stage graph. A stage starts as soon as
//! its own inputs are finished, so a slow stage never holds back unrelated
//! ones; exclusive stages (timings) start only when nothing else runs and
//! keep the machine to themselves.
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, mpsc};

use rooflaw_cache::Hash;
use rooflaw_dsl::{Code, Diagnostic, Span};
use serde::Serialize;

use crate::execute::Finished;
use crate::plan::{Action, Options};
use crate::progress::Bars;
use crate::reason::Reason;
use crate::session::Session;
use crate::stage::StageError;

/// What one stage did in a run.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub stage: String,
    pub kind: String,
    pub action: Action,
    pub reasons: Vec<Reason>,
    pub key: String,
    pub output: String,
    pub seconds: f64,
    /// For map stages: items computed / reused.
    pub items_run: usize,
    pub items_cached: usize,
    /// Cache keys of a map stage's items, kept as gc roots with the run.
    #[serde(skip)]
    pub item_keys: Vec<Hash>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("stage `{stage}` failed: {error}")]
    Stage {
        stage: String,
        /// The stage's declaration.
        span: Span,
        error: StageError,
    },
    #[error("cache: {0}")]
    Cache(String),
    #[error("interrupted")]
    Cancelled,
}

impl RunError {
    // By value, to be passed to `map_err` as is.
    #[allow(clippy::needless_pass_by_value)]
    pub(crate) fn cache(e: rooflaw_cache::Error) -> Self {
        RunError::Cache(e.to_string())
    }
}

/// A run that did not finish: why, and what finished before it stopped
/// (committed to the cache; the next run reuses it).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct RunFailure {
    pub error: RunError,
    pub finished: Vec<Outcome>,
}

impl RunFailure {
    pub fn cancelled(&self) -> bool {
        matches!(self.error, RunError::Cancelled)
    }

    fn finished_note(&self) -> String {
        if self.finished.is_empty() {
            "no stage finished".into()
        } else {
            let names: Vec<String> = self
                .finished
                .iter()
                .map(|o| format!("`{}`", o.stage))
                .collect();
            format!("finished (kept in the cache): {}", names.join(", "))
        }
    }

    /// The failure as a diagnostic pointing at the failed stage's
    /// declaration, saying which stages finished.
    pub fn diagnostic(&self) -> Diagnostic {
        match &self.error {
            RunError::Stage { stage, span, error } => Diagnostic::error(
                Code::StageFailed,
                format!("stage `{stage}` failed: {error}"),
            )
            .at(*span, "this stage")
            .help(self.finished_note()),
            RunError::Cache(e) => {
                Diagnostic::error(Code::Cache, format!("cache: {e}")).help(self.finished_note())
            }
            RunError::Cancelled => {
                Diagnostic::error(Code::Cancelled, "interrupted").help(self.finished_note())
            }
        }
    }
}

impl Session<'_> {
    /// Run the pipeline: each stage's key is computed from its inputs'
    /// actual output hashes, so a rerun that reproduces its output leaves
    /// dependants cached. Setting `cancel` stops the run: running stages are
    /// asked to stop, nothing new starts, finished work stays committed.
    pub fn run(
        &self,
        opts: &Options,
        bars: &Bars,
        cancel: &Arc<AtomicBool>,
    ) -> Result<Vec<Outcome>, RunFailure> {
        let wanted = self.wanted(opts);
        let order: Vec<&String> = self
            .dag
            .order
            .iter()
            .filter(|s| wanted.contains(*s))
            .collect();
        let done: Finished = Mutex::new(BTreeMap::new());
        let (mut outcomes, error) = self.drive(&order, opts, bars, cancel, &done);
        let pos: BTreeMap<&String, usize> =
            order.iter().enumerate().map(|(i, s)| (*s, i)).collect();
        outcomes.sort_by_key(|o| pos.get(&o.stage).copied().unwrap_or(usize::MAX));
        // Item entries are roots too: gc must not drop trained models that
        // the stage's combined entry was built from.
        let keys: Vec<Hash> = outcomes
            .iter()
            .filter_map(|o| o.key.parse().ok())
            .chain(outcomes.iter().flat_map(|o| o.item_keys.iter().copied()))
            .collect();
        let status = match &error {
            None => "finished",
            Some(RunError::Cancelled) => "cancelled",
            Some(_) => "failed",
        };
        let recorded = self
            .store
            .record_run_status(&self.run_record_path(), &keys, status)
            .map_err(RunError::cache);
        match (error, recorded) {
            (Some(error), _) | (None, Err(error)) => Err(RunFailure {
                error,
                finished: outcomes,
            }),
            (None, Ok(())) => Ok(outcomes),
        }
    }

    /// The ready queue. Returns what finished and the first error, after
    /// every started stage has returned.
    fn drive(
        &self,
        order: &[&String],
        opts: &Options,
        bars: &Bars,
        cancel: &Arc<AtomicBool>,
        done: &Finished,
    ) -> (Vec<Outcome>, Option<RunError>) {
        let members: BTreeSet<&str> = order.iter().map(|s| s.as_str()).collect();
        let mut waiting: BTreeMap<&str, usize> = BTreeMap::new();
        let mut dependants: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for s in order {
            let upstream = self.dag.upstream(s);
            let mut n = 0;
            for u in &upstream {
                if let Some(u) = members.get(u.as_str()) {
                    dependants.entry(u).or_default().push(s.as_str());
                    n += 1;
                }
            }
            waiting.insert(s.as_str(), n);
        }
        let mut ready: VecDeque<&str> = order
            .iter()
            .map(|s| s.as_str())
            .filter(|s| waiting[s] == 0)
            .collect();
        let mut outcomes = Vec::new();
        let mut error: Option<RunError> = None;
        // Each running stage has its own thread (graphs are narrow); their
        // parallel loops share one pool as wide as the caller's.
        let pool = match rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .build()
        {
            Ok(p) => p,
            Err(e) => {
                return (
                    outcomes,
                    Some(RunError::Cache(format!("no worker threads: {e}"))),
                );
            }
        };
        let (tx, rx) = mpsc::channel::<(&str, Result<Outcome, RunError>)>();
        std::thread::scope(|scope| {
            let mut running = 0usize;
            let mut exclusive_running = false;
            loop {
                if error.is_none() && cancel.load(Ordering::Relaxed) {
                    error = Some(RunError::Cancelled);
                }
                while error.is_none() && !exclusive_running {
                    // An exclusive stage waits until nothing else runs; the
                    // others go first so it does not hold them back.
                    let pick = ready
                        .iter()
                        .position(|s| !self.resolved[*s].kind.exclusive())
                        .or_else(|| (running == 0 && !ready.is_empty()).then_some(0));
                    let Some(i) = pick else { break };
                    let stage = ready.remove(i).expect("picked from the queue");
                    exclusive_running = self.resolved[stage].kind.exclusive();
                    running += 1;
                    let tx = tx.clone();
                    let pool = &pool;
                    scope.spawn(move || {
                        let result =
                            pool.install(|| self.run_stage(stage, opts, bars, cancel, done));
                        let _ = tx.send((stage, result));
                    });
                }
                if running == 0 {
                    break;
                }
                let Ok((stage, result)) = rx.recv() else {
                    break;
                };
                running -= 1;
                exclusive_running = false;
                match result {
                    Ok(outcome) => {
                        outcomes.push(outcome);
                        for d in dependants.get(stage).into_iter().flatten() {
                            let n = waiting.get_mut(d).expect("member");
                            *n -= 1;
                            if *n == 0 {
                                ready.push_back(d);
                            }
                        }
                    }
                    // A stage's own failure says more than the cancellation
                    // it may have caused elsewhere.
                    Err(e) => {
                        if error.is_none() || matches!(error, Some(RunError::Cancelled)) {
                            error = Some(e);
                        }
                    }
                }
            }
        });
        (outcomes, error)
    }
}
