//! Reading a lowered stage call's arguments. The lowering has already
//! checked names and types against the signature, so these only extract.
use rooflaw_dsl::spec::{ArgValue, RefKind, Spec, Stage};
use rooflaw_dsl::{Code, Diagnostic, Span};

pub fn value<'a>(stage: &'a Stage, param: &str) -> Option<&'a ArgValue> {
    stage.arg(param).map(|a| &a.value.node)
}

pub fn span(stage: &Stage, param: &str) -> Span {
    stage.arg(param).map_or(stage.span, |a| a.value.span)
}

pub fn number(stage: &Stage, param: &str) -> Option<f64> {
    match value(stage, param)? {
        ArgValue::Quantity(q) => Some(q.value),
        _ => None,
    }
}

pub fn integer(stage: &Stage, param: &str, default: u64) -> Result<u64, Diagnostic> {
    match number(stage, param) {
        None => Ok(default),
        Some(v) if v >= 0.0 && v.fract() == 0.0 && v < 9.0e15 => Ok(v as u64),
        Some(v) => Err(Diagnostic::error(
            Code::InvalidValue,
            format!("`{param}` must be a whole number ≥ 0, got {v}"),
        )
        .at(span(stage, param), "not a whole number")),
    }
}

pub fn string<'a>(stage: &'a Stage, param: &str) -> Option<&'a str> {
    match value(stage, param)? {
        ArgValue::Str(s) | ArgValue::Enum(s) => Some(s),
        _ => None,
    }
}

pub fn boolean(stage: &Stage, param: &str, default: bool) -> bool {
    match value(stage, param) {
        Some(ArgValue::Bool(b)) => *b,
        _ => default,
    }
}

/// The declaration a reference argument names.
pub fn reference<'a>(stage: &'a Stage, param: &str, kind: RefKind) -> Option<&'a str> {
    match value(stage, param)? {
        ArgValue::Ref(k, name) if *k == kind => Some(&name.node),
        _ => None,
    }
}

pub fn missing(stage: &Stage, param: &str) -> Diagnostic {
    Diagnostic::error(
        Code::MissingArgument,
        format!("`{}` needs `{param}`", stage.kind.node),
    )
    .at(stage.span, format!("add `{param}: ...`"))
}

/// Stage kinds whose output is a hardware description
/// ([`super::hardware_io`]), so `hardware:` may name them.
pub const HARDWARE_STAGES: &[&str] = &["probe", "calibrate"];

/// What a `hardware:` parameter usually says of itself.
pub const THE_CHIP: &str = "the chip: a hardware block, or a probe or calibrate stage";

/// A stage's required `hardware:` parameter: a `hardware` block, or a stage
/// whose output is a hardware description (`probe`, `calibrate`).
pub fn hardware_param(doc: &'static str) -> rooflaw_dsl::Param {
    use rooflaw_dsl::ParamType;
    rooflaw_dsl::Param::required(
        "hardware",
        ParamType::Either(vec![ParamType::Hardware, ParamType::Stage]),
        doc,
    )
}

/// What a `hardware:` argument names, once resolved.
pub enum HardwareArg {
    /// A `hardware` block, resolved (preset or file, plus overrides).
    Block(crate::Hardware),
    /// A stage producing hardware: known only when it has run, and keyed by
    /// its output hash as an input, so nothing of it enters the parameters.
    Stage,
}

impl HardwareArg {
    /// Put the argument into a stage's parameters under `param`: a block's
    /// hardware goes in; a stage's stays out (its output hash keys the cache).
    pub fn insert(&self, params: &mut serde_json::Value, param: &str) {
        if let HardwareArg::Block(hw) = self {
            params[param] = json(hw);
        }
    }
}

/// Resolve a `hardware:` argument: a block reference is resolved now (a
/// `from "file.yaml"` relative to the pipeline that declares the block); a
/// stage reference is checked to be a kind that produces hardware.
pub fn hardware(stage: &Stage, spec: &Spec, param: &str) -> Result<HardwareArg, Vec<Diagnostic>> {
    match value(stage, param) {
        Some(ArgValue::Ref(RefKind::Hardware, name)) => {
            let block = spec
                .hardware(&name.node)
                .ok_or_else(|| vec![missing(stage, param)])?;
            let dir = pipeline_dir(spec, block.span.file);
            if let Some(file) = block.preset_file() {
                project_path(spec, &dir, file)?;
            }
            crate::hardware::from_block_in(block, &dir).map(HardwareArg::Block)
        }
        Some(ArgValue::Ref(RefKind::Stage, name)) => match spec.stage(&name.node) {
            Some(s) if !HARDWARE_STAGES.contains(&s.kind.node.as_str()) => Err(vec![
                Diagnostic::error(
                    Code::Type,
                    format!(
                        "`{}` is a stage of kind `{}`, whose output is not a hardware description",
                        name.node, s.kind.node
                    ),
                )
                .at(name.span, "not hardware")
                .also(s.kind.span, "declared here")
                .help(format!(
                    "`{param}:` takes a `hardware` block or a stage of kind {}",
                    HARDWARE_STAGES
                        .iter()
                        .map(|k| format!("`{k}`"))
                        .collect::<Vec<_>>()
                        .join(" or ")
                )),
            ]),
            _ => Ok(HardwareArg::Stage),
        },
        _ => Err(vec![missing(stage, param)]),
    }
}

/// The hardware a stage runs with: from its parameters when a block gave
/// it, else from the hardware artifact of the stage passed as `param`.
pub fn hardware_of(
    params: &serde_json::Value,
    inputs: &rooflaw_engine::Inputs,
    param: &str,
) -> Result<crate::Hardware, rooflaw_engine::StageError> {
    match params.get(param) {
        Some(v) if !v.is_null() => serde_json::from_value(v.clone())
            .map_err(|e| rooflaw_engine::StageError::new(format!("corrupt `{param}`: {e}"))),
        _ => {
            let a = inputs.require(param)?;
            super::hardware_io::from_artifact(a)
                .map(|p| p.hardware)
                .map_err(|e| rooflaw_engine::StageError::new(format!("`{param}`: {}", e.0)))
        }
    }
}

/// A `space` reference as parameters (the engine strips its spans), compiled
/// first so its errors surface at `check`/`plan` time, with spans.
pub fn space(
    stage: &Stage,
    spec: &Spec,
    param: &str,
) -> Result<serde_json::Value, Vec<Diagnostic>> {
    let name =
        reference(stage, param, RefKind::Space).ok_or_else(|| vec![missing(stage, param)])?;
    let space = spec
        .space(name)
        .ok_or_else(|| vec![missing(stage, param)])?;
    crate::space::CompiledSpace::compile(space)?;
    Ok(json(space))
}

/// Look up a `workload` reference: one workload per precision it lists.
pub fn workloads(
    stage: &Stage,
    spec: &Spec,
    param: &str,
) -> Result<Vec<crate::Workload>, Vec<Diagnostic>> {
    let name =
        reference(stage, param, RefKind::Workload).ok_or_else(|| vec![missing(stage, param)])?;
    let block = spec
        .workload(name)
        .ok_or_else(|| vec![missing(stage, param)])?;
    // A runtime profile file is relative to the pipeline that names it, and
    // inside the project.
    let dir = pipeline_dir(spec, block.span.file);
    super::workload::from_block(block, &|file| project_path(spec, &dir, file))
}

/// The directory of the pipeline file a declaration is in.
fn pipeline_dir(spec: &Spec, file: rooflaw_dsl::FileId) -> std::path::PathBuf {
    std::path::Path::new(&spec.sources.get(file).name)
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default()
}

pub fn budget(
    stage: &Stage,
    spec: &Spec,
    param: &str,
) -> Result<Option<crate::budget::Budget>, Vec<Diagnostic>> {
    let Some(name) = reference(stage, param, RefKind::Budget) else {
        return Ok(None);
    };
    let block = spec
        .budget(name)
        .ok_or_else(|| vec![missing(stage, param)])?;
    crate::budget::Budget::from_spec(block).map(Some)
}

/// Serialize for a manifest; our own types cannot fail to serialize.
pub fn json<T: serde::Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("stage parameters serialize")
}

/// A budget as manifest parameters: one leaf per limit, keyed by metric, so a
/// change reads as "`budget.latency.total` changed from `<= 1.5 s` to `<= 1.2 s`".
pub fn budget_params(b: &crate::budget::Budget) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("name".into(), serde_json::json!(b.name));
    for l in &b.limits {
        let q = rooflaw_dsl::Quantity::new(l.bound, l.metric.dim());
        let mut leaf = rooflaw_engine::reason::quantity(q);
        leaf["op"] = serde_json::json!(l.op.symbol());
        m.insert(l.metric.name().to_string(), leaf);
    }
    if let Some(c) = b.confidence {
        m.insert("confidence".into(), serde_json::json!(c));
    }
    serde_json::Value::Object(m)
}

/// The inverse of [`budget_params`].
pub fn budget_from_params(v: &serde_json::Value) -> Option<crate::budget::Budget> {
    use rooflaw_dsl::spec::CmpOp;
    let m = v.as_object()?;
    let mut limits = Vec::new();
    for (k, leaf) in m {
        let Some(metric) = crate::budget::Metric::from_name(k) else {
            continue;
        };
        let op = [
            CmpOp::Lt,
            CmpOp::Le,
            CmpOp::Gt,
            CmpOp::Ge,
            CmpOp::Eq,
            CmpOp::Ne,
        ]
        .into_iter()
        .find(|o| Some(o.symbol()) == leaf["op"].as_str())?;
        limits.push(crate::budget::Limit {
            metric,
            op,
            bound: leaf["si"].as_f64()?,
        });
    }
    // Keep the language's metric order, not the map's alphabetical one.
    limits.sort_by_key(|l| l.metric as usize);
    Some(crate::budget::Budget {
        name: m.get("name")?.as_str()?.to_string(),
        limits,
        confidence: m.get("confidence").and_then(serde_json::Value::as_f64),
        spread: None,
    })
}

/// `file`, written in a pipeline file in `dir`, once it is known to stay
/// inside the project (unless the user allowed more): otherwise a located
/// error, before anything is read.
pub fn project_path(
    spec: &Spec,
    dir: &std::path::Path,
    file: &rooflaw_dsl::Spanned<String>,
) -> Result<std::path::PathBuf, Vec<Diagnostic>> {
    match spec.project.confining_root() {
        None => Ok(dir.join(&file.node)),
        Some(root) => rooflaw_cache::boundary::resolve_inside(root, dir, &file.node).map_err(|e| {
            vec![
                Diagnostic::error(Code::OutsideProject, e.to_string())
                    .at(file.span, "outside the project")
                    .help(rooflaw_engine::export::OUTSIDE_HELP),
            ]
        }),
    }
}
