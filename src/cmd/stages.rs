//! `rooflaw stages [KIND]`: every stage kind a pipeline can call, with its
//! parameters and documentation, read from the registry the checker uses.
use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::bail;
use rooflaw_dsl::{Registry as _, Signature};
use serde_json::{Value, json};

use super::TextOrJson;

#[derive(clap::Args)]
pub struct Args {
    /// One stage kind to describe (all of them when omitted).
    pub kind: Option<String>,
    /// Output format: text for people, json for programs.
    #[arg(long, value_enum, default_value_t)]
    pub format: TextOrJson,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let registry = rooflaw_neural::registry();
    let sigs: Vec<&Signature> = match &args.kind {
        None => registry
            .kinds()
            .into_iter()
            .filter_map(|k| registry.signature(k))
            .collect(),
        Some(k) if registry.signature(k).is_some() => registry.signature(k).into_iter().collect(),
        Some(k) => match rooflaw_dsl::did_you_mean(k, registry.kinds()) {
            Some(s) => bail!("unknown stage kind `{k}`; did you mean `{s}`?"),
            None => bail!("unknown stage kind `{k}` (`rooflaw stages` lists them)"),
        },
    };
    match args.format {
        TextOrJson::Text => print!("{}", text(&sigs, args.kind.is_some())),
        TextOrJson::Json => {
            let v: Vec<Value> = sigs.iter().map(|s| to_json(s)).collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `fit(runs, form:, coefs:, ...)`: inputs by position, the rest by name,
/// optional ones in brackets.
fn call(sig: &Signature) -> String {
    let params: Vec<String> = sig
        .params
        .iter()
        .map(|p| match (p.positional, p.required) {
            (true, true) => p.name.to_owned(),
            (_, true) => format!("{}:", p.name),
            (_, false) => format!("[{}:]", p.name),
        })
        .collect();
    format!("{}({})", sig.kind, params.join(", "))
}

fn text(sigs: &[&Signature], detailed: bool) -> String {
    let mut out = String::new();
    for sig in sigs {
        if !detailed {
            let _ = writeln!(out, "{:<14} {}", sig.kind, sig.doc);
            continue;
        }
        let _ = writeln!(out, "{}\n\n{}\n", call(sig), sig.doc);
        let width = sig.params.iter().map(|p| p.name.len()).max().unwrap_or(0);
        for p in &sig.params {
            let how = match (p.positional, p.required) {
                (true, _) => "input, may be given first without its name",
                (false, true) => "required",
                (false, false) => "optional",
            };
            let _ = writeln!(out, "  {:<width$}  {} ({how})", p.name, p.ty.describe());
            let _ = writeln!(out, "  {:<width$}  {}", "", p.doc);
        }
    }
    if !detailed {
        let _ = writeln!(out, "\n`rooflaw stages KIND` shows a kind's parameters.");
    }
    out
}

fn to_json(sig: &Signature) -> Value {
    json!({
        "kind": sig.kind,
        "doc": sig.doc,
        "params": sig.params.iter().map(|p| json!({
            "name": p.name,
            "type": p.ty.describe(),
            "required": p.required,
            "positional": p.positional,
            "doc": p.doc,
        })).collect::<Vec<_>>(),
    })
}
