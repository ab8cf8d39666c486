//! `enumerate(space)`: the search space's candidates, streamed. The output
//! is the compiled space itself plus its count, so downstream stages stream
//! the candidates in parallel chunks instead of loading a huge table.
use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Code, Diagnostic, Param, ParamType, Signature};
use rooflaw_engine::{Artifact, Inputs, RunCtx, StageError, StageKind};
use serde_json::{Value, json};

use super::{args, candidates};
use crate::space::CompiledSpace;

pub(crate) struct Enumerate(Signature);

impl Enumerate {
    pub(crate) fn new() -> Self {
        Self(Signature {
            kind: "enumerate",
            doc: "Every architecture of a search space, with derived fields and `require` constraints applied.",
            params: vec![Param::input(
                "space",
                ParamType::Space,
                "the space to enumerate",
            )],
        })
    }
}

impl StageKind for Enumerate {
    fn signature(&self) -> &Signature {
        &self.0
    }

    fn version(&self) -> u32 {
        1
    }

    fn resolve(&self, stage: &Stage, spec: &Spec) -> Result<Value, Vec<Diagnostic>> {
        let space = args::space(stage, spec, "space")?;
        // Counted before anything is enumerated: a space whose size is known
        // up front and too large is a located error at `check` time.
        let name = args::reference(stage, "space", rooflaw_dsl::spec::RefKind::Space)
            .and_then(|n| spec.space(n));
        if let Some(s) = name {
            let compiled = CompiledSpace::compile(s)?;
            let limit = crate::space::max_candidates().map_err(|e| {
                vec![Diagnostic::error(Code::Limit, e).at(args::span(stage, "space"), "this space")]
            })?;
            if let Some(n) = compiled.size_bound().filter(|n| *n > u128::from(limit)) {
                let (msg, help) = crate::space::too_many(compiled.name(), &format!("{n}"), limit);
                return Err(vec![
                    Diagnostic::error(Code::Limit, msg)
                        .at(args::span(stage, "space"), format!("{n} candidates"))
                        .help(help),
                ]);
            }
        }
        Ok(json!({ "space": space }))
    }

    fn run(&self, ctx: &RunCtx, params: &Value, _: &Inputs) -> Result<Artifact, StageError> {
        use rayon::prelude::*;
        let space: rooflaw_dsl::spec::Space = serde_json::from_value(params["space"].clone())
            .map_err(|e| StageError::new(e.to_string()))?;
        let compiled = CompiledSpace::compile(&space).map_err(|d| {
            StageError::new(d.first().map_or_else(String::new, |d| d.message.clone()))
        })?;
        ctx.progress.message("counting candidates");
        let limit = crate::space::max_candidates().map_err(StageError::new)?;
        // Stops as soon as the limit is passed, so a huge space whose fields
        // depend on each other fails in seconds, not hours.
        let seen = std::sync::atomic::AtomicU64::new(0);
        let (count, drops) = compiled
            .chunks(rayon::current_num_threads() * 8)
            .into_par_iter()
            .map(|mut e| {
                let mut n = 0u64;
                for _ in &mut e {
                    n += 1;
                    if seen.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= limit {
                        break;
                    }
                }
                (n, e.drops().clone())
            })
            .reduce(
                || (0, crate::space::Drops::default()),
                |(a, mut da), (b, db)| {
                    da.merge(&db);
                    (a + b, da)
                },
            );
        if count > limit {
            let (msg, help) =
                crate::space::too_many(compiled.name(), &format!("more than {limit}"), limit);
            return Err(StageError::new(format!("{msg}; {help}")));
        }
        if count == 0 {
            return Err(StageError::new(format!(
                "space `{}` has no valid candidate: {} invalid, {} rejected by `require`",
                compiled.name(),
                drops.total_invalid(),
                drops.total_required()
            )));
        }
        Ok(candidates::lazy(&params["space"], count, &drops))
    }
}
