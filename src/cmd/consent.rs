//! Consent to run the commands a pipeline names (`train(..., command: ...)`):
//! `rooflaw run --allow-commands`, or `allow_commands = true` in the user's
//! config file, `$XDG_CONFIG_HOME/rooflaw/config.toml` (else
//! `~/.config/rooflaw/config.toml`). `check` and `plan` list the commands.
use std::fmt::Write as _;
use std::path::PathBuf;

use rooflaw_dsl::Spec;
use rooflaw_dsl::spec::ArgValue;

/// Each stage's command, as written: what a run would execute.
pub fn commands(spec: &Spec) -> Vec<(String, String)> {
    spec.stages
        .iter()
        .filter_map(|s| match s.arg("command").map(|a| &a.value.node) {
            Some(ArgValue::Str(c)) => Some((s.name.node.clone(), c.clone())),
            _ => None,
        })
        .collect()
}

/// The user's config file, where there is a home for it.
pub fn config_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("rooflaw").join("config.toml"))
}

/// Whether the config file says `allow_commands = true`. It holds TOML
/// `key = value` lines; this is its only key so far, and a line that is
/// not one is an error rather than a silent "no".
pub fn allowed_by_config() -> anyhow::Result<bool> {
    let Some(path) = config_path() else {
        return Ok(false);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => anyhow::bail!("cannot read {}: {e}", path.display()),
    };
    let mut allowed = false;
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let bad = || {
            anyhow::anyhow!(
                "{} line {}: expected `allow_commands = true` or `allow_commands = false`, found `{line}`",
                path.display(),
                i + 1
            )
        };
        let (k, v) = line.split_once('=').ok_or_else(bad)?;
        match (k.trim(), v.trim()) {
            ("allow_commands", "true") => allowed = true,
            ("allow_commands", "false") => allowed = false,
            _ => return Err(bad()),
        }
    }
    Ok(allowed)
}

/// Sets the stdlib's consent for this process; `false` (and the message
/// printed) when the pipeline runs commands and the user did not consent.
pub fn grant(spec: &Spec, flag: bool) -> anyhow::Result<bool> {
    let allowed = flag || allowed_by_config()?;
    rooflaw_neural::train::command::allow_commands(allowed);
    if !allowed && let Some(list) = describe(spec) {
        eprint!(
            "error: {}\n{list}",
            rooflaw_neural::train::command::CONSENT_HINT
        );
        return Ok(false);
    }
    Ok(true)
}

/// The lines `check` and `plan` print about a pipeline's commands.
pub fn describe(spec: &Spec) -> Option<String> {
    let cmds = commands(spec);
    if cmds.is_empty() {
        return None;
    }
    let mut out =
        String::from("commands this pipeline runs (each training job, placeholders filled in):\n");
    for (stage, c) in &cmds {
        let _ = writeln!(out, "  {stage}: {c}");
    }
    out.push_str(
        "they run only with `rooflaw run --allow-commands` (or `allow_commands = true` in ",
    );
    out.push_str(&config_path().map_or_else(
        || "the config file".to_string(),
        |p| p.display().to_string(),
    ));
    out.push_str(")\n");
    Some(out)
}
