//! `train(..., executor: slurm { partition: "gpu", gpus: 1, time: 48 h })`:
//! where a training stage's jobs run. `local` (the default) trains in this
//! process; `slurm` submits each job to the cluster.
use rooflaw_dsl::spec::{ArgValue, Stage};
use rooflaw_dsl::{Code, Diagnostic, Span, Spanned};

use crate::train::slurm::SlurmSettings;
use rooflaw_stdlib::stages::args;

const KEYS: &[&str] = &[
    "kind",
    "partition",
    "account",
    "gpus",
    "cpus",
    "time",
    "retries",
    "poll",
];

/// The Slurm settings, or `None` for the local executor.
pub(crate) fn resolve(stage: &Stage) -> Result<Option<SlurmSettings>, Vec<Diagnostic>> {
    let Some(ArgValue::Map(entries)) = args::value(stage, "executor") else {
        return Ok(None);
    };
    let span = args::span(stage, "executor");
    let get = |k: &str| entries.iter().find(|(n, _)| n.node == k).map(|(_, v)| v);
    let kind = match get("kind").map(|v| &v.node) {
        Some(ArgValue::Enum(k) | ArgValue::Str(k)) => k.as_str(),
        _ => {
            return Err(vec![
                Diagnostic::error(
                    Code::Executor,
                    "which executor? write `slurm { ... }` or `local {}`",
                )
                .at(span, "no executor kind"),
            ]);
        }
    };
    let mut diags = Vec::new();
    for (k, _) in entries {
        if !KEYS.contains(&k.node.as_str()) {
            diags.push(
                Diagnostic::error(
                    Code::Executor,
                    format!("unknown executor setting `{}`", k.node),
                )
                .at(k.span, "not a setting")
                .help(format!("settings: {}", KEYS[1..].join(", "))),
            );
        }
    }
    let settings = match kind {
        "local" => None,
        "slurm" => Some(slurm(&get, &mut diags)),
        other => {
            diags.push(
                Diagnostic::error(Code::Executor, format!("unknown executor `{other}`"))
                    .at(get("kind").map_or(span, |v| v.span), "not an executor")
                    .help("executors: local, slurm"),
            );
            None
        }
    };
    if diags.is_empty() {
        Ok(settings)
    } else {
        Err(diags)
    }
}

fn slurm<'a>(
    get: &dyn Fn(&str) -> Option<&'a Spanned<ArgValue>>,
    diags: &mut Vec<Diagnostic>,
) -> SlurmSettings {
    let mut s = SlurmSettings::default();
    let text = |k: &str, diags: &mut Vec<Diagnostic>| match get(k) {
        None => None,
        Some(Spanned {
            node: ArgValue::Str(v) | ArgValue::Enum(v),
            ..
        }) => Some(v.clone()),
        Some(v) => {
            diags.push(wrong(k, v.span, "a string"));
            None
        }
    };
    let count = |k: &str, diags: &mut Vec<Diagnostic>| match get(k) {
        None => None,
        Some(Spanned {
            node: ArgValue::Quantity(q),
            ..
        }) if q.value >= 0.0 && q.value.fract() == 0.0 && q.value < 1e6 => Some(q.value as u32),
        Some(v) => {
            diags.push(wrong(k, v.span, "a whole number"));
            None
        }
    };
    let seconds = |k: &str, diags: &mut Vec<Diagnostic>| match get(k) {
        None => None,
        Some(Spanned {
            node: ArgValue::Quantity(q),
            ..
        }) if q.dim == rooflaw_dsl::Dim::TIME && q.value > 0.0 => Some(q.value),
        Some(v) => {
            diags.push(wrong(k, v.span, "a duration such as `48 h` or `2 s`"));
            None
        }
    };
    s.partition = text("partition", diags);
    s.account = text("account", diags);
    s.gpus = count("gpus", diags).unwrap_or(0);
    s.cpus = count("cpus", diags);
    s.time_s = seconds("time", diags).map(|t| t.ceil() as u64);
    s.retries = count("retries", diags).unwrap_or(s.retries);
    s.poll_s = seconds("poll", diags).unwrap_or(s.poll_s);
    s
}

fn wrong(key: &str, span: Span, want: &str) -> Diagnostic {
    Diagnostic::error(Code::Executor, format!("`{key}` expects {want}"))
        .at(span, format!("expected {want}"))
}
