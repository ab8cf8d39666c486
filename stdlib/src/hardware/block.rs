//! A pipeline's `hardware` block: an optional preset plus field overrides,
//! resolved into a [`Hardware`] with diagnostics that point at the source.
use std::path::Path;

use rooflaw_dsl::spec::{Block, Value};
use rooflaw_dsl::{Code, Diagnostic, Span, Spanned};

use super::{
    DEFAULT_EFFICIENCY_COMPUTE, DEFAULT_EFFICIENCY_MEMORY, DEFAULT_LAUNCH, FieldKind, Hardware,
    MemoryTechnology, names, peak_dtype, preset,
};

/// Resolve `hardware NAME [from "preset"] { field = value ... }`.
///
/// With a preset, fields override its values; without one, `bandwidth`,
/// `memory` and at least one `peak.<dtype>` are required and efficiencies
/// and launch overhead take the documented `DEFAULT_*` values. The result's
/// id is the block's name. Every problem is reported, not just the first.
///
/// `from "file.yaml"` reads a user file in the preset schema instead, relative
/// to the working directory; [`from_block_in`] takes the pipeline's directory.
pub fn from_block(block: &Block) -> Result<Hardware, Vec<Diagnostic>> {
    from_block_in(block, Path::new(""))
}

/// [`from_block`], with a `from "file.yaml"` path relative to `dir` (the
/// directory of the pipeline file that declares the block).
pub fn from_block_in(block: &Block, dir: &Path) -> Result<Hardware, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let base = block.preset.as_ref().and_then(|p| {
        if block.preset_file().is_some() {
            return super::load(&dir.join(&p.node))
                .map(|f| f.hardware)
                .map_err(|e| diags.push(unreadable_file(p, &e)))
                .ok();
        }
        let hw = preset(&p.node);
        if hw.is_none() {
            diags.push(unknown_preset(p));
        }
        hw
    });
    let mut hw = base.unwrap_or_else(|| Hardware {
        id: String::new(),
        name: block.name.node.clone(),
        peak: std::collections::BTreeMap::new(),
        bandwidth: f64::NAN,
        memory: f64::NAN,
        efficiency_compute: DEFAULT_EFFICIENCY_COMPUTE,
        efficiency_memory: DEFAULT_EFFICIENCY_MEMORY,
        efficiency_vector: None,
        launch: DEFAULT_LAUNCH,
        memory_technology: None,
    });
    hw.id.clone_from(&block.name.node);

    for f in &block.fields {
        let path = f.path.node.as_str();
        let span = f.value.span;
        if let Some(result) = set_word(&mut hw, path, &f.value.node) {
            if let Err(m) = result {
                diags.push(bad(span, m));
            }
            continue;
        }
        let (kind, slot): (FieldKind, Option<&mut f64>) = if let Some(key) =
            path.strip_prefix("peak.")
        {
            match peak_dtype(key) {
                Ok(Some(d)) => (FieldKind::Peak, Some(hw.peak.entry(d).or_insert(f64::NAN))),
                // fp64 is valid in the language but never used by inference.
                Ok(None) => (FieldKind::Peak, None),
                Err(m) => {
                    diags.push(
                        Diagnostic::error(Code::UnknownField, m)
                            .at(f.path.span, "unknown datatype"),
                    );
                    continue;
                }
            }
        } else {
            match path {
                "bandwidth" => (FieldKind::Bandwidth, Some(&mut hw.bandwidth)),
                "memory" => (FieldKind::Memory, Some(&mut hw.memory)),
                "efficiency.compute" => (FieldKind::Efficiency, Some(&mut hw.efficiency_compute)),
                "efficiency.memory" => (FieldKind::Efficiency, Some(&mut hw.efficiency_memory)),
                "efficiency.vector" => (
                    FieldKind::Efficiency,
                    Some(hw.efficiency_vector.insert(f64::NAN)),
                ),
                "launch" => (FieldKind::Launch, Some(&mut hw.launch)),
                _ => {
                    let known = rooflaw_dsl::schema::HARDWARE_FIELDS.iter().map(|s| s.path);
                    let mut d = Diagnostic::error(
                        Code::UnknownField,
                        format!("unknown hardware field `{path}`"),
                    )
                    .at(f.path.span, "not a hardware field");
                    if let Some(s) = rooflaw_dsl::did_you_mean(path, known) {
                        d = d.help(format!("did you mean `{s}`?"));
                    }
                    diags.push(d);
                    continue;
                }
            }
        };
        match number(&f.value.node, kind) {
            Ok(v) => {
                if let Some(slot) = slot {
                    *slot = v;
                }
            }
            Err(m) => {
                diags.push(bad(span, format!("`{path}`: {m}")));
                // Keep the field from also being reported as missing.
                if let Some(slot) = slot {
                    *slot = 1.0;
                }
            }
        }
    }

    // With an unknown preset the error above already covers the block.
    if block.preset.is_none() {
        diags.extend(missing_fields(block, &hw));
    }

    if diags.is_empty() { Ok(hw) } else { Err(diags) }
}

/// What a block without a preset must give and did not.
fn missing_fields(block: &Block, hw: &Hardware) -> Option<Diagnostic> {
    let mut missing = Vec::new();
    if hw.peak.is_empty() {
        missing.push("peak.<dtype> (e.g. `peak.fp16 = 42.5 TFLOPS`)");
    }
    if hw.bandwidth.is_nan() {
        missing.push("bandwidth");
    }
    if hw.memory.is_nan() {
        missing.push("memory");
    }
    (!missing.is_empty()).then(|| {
        Diagnostic::error(
            Code::MissingField,
            format!("hardware `{}` is missing {}", block.name.node, missing.join(", ")),
        )
        .at(block.name.span, "declared here without a preset")
        .help("give the fields, or start from a preset: `hardware NAME from \"jetson-agx-orin-64gb\" { ... }`")
    })
}

fn unknown_preset(p: &Spanned<String>) -> Diagnostic {
    let d = Diagnostic::error(
        Code::UnknownPreset,
        format!("unknown hardware preset `{}`", p.node),
    )
    .at(p.span, "no hardware preset has this id");
    match rooflaw_dsl::did_you_mean(&p.node, names()) {
        Some(s) => d.help(format!("did you mean `{s}`?")),
        None => d.help("`rooflaw presets hardware` lists the presets"),
    }
}

fn unreadable_file(p: &Spanned<String>, e: &super::HardwareError) -> Diagnostic {
    Diagnostic::error(Code::UnreadableFile, format!("cannot use hardware file `{}`", p.node))
        .at(p.span, e.to_string())
        .help("a hardware file has the schema of the bundled presets (id, peak, bandwidth, memory...); `rooflaw hardware probe -o FILE.yaml` writes one for this machine")
}

/// Set one of the fields whose value is text rather than a number (`name`,
/// `memory_technology`); `None` when `path` is not one of them.
fn set_word(hw: &mut Hardware, path: &str, v: &Value) -> Option<Result<(), String>> {
    match (path, v) {
        ("name", Value::Str(s)) => hw.name.clone_from(s),
        ("name", _) => {
            return Some(Err(
                "`name` takes a string, e.g. `name = \"my board\"`".into()
            ));
        }
        // The lowering gives a word of the schema's choices; a string is
        // accepted too, for blocks built by hand.
        ("memory_technology", Value::Word(w) | Value::Str(w))
            if MemoryTechnology::parse(w).is_some() =>
        {
            hw.memory_technology = MemoryTechnology::parse(w);
        }
        ("memory_technology", _) => {
            let names: Vec<&str> = MemoryTechnology::ALL.iter().map(|m| m.name()).collect();
            return Some(Err(format!(
                "`memory_technology` takes one of {}",
                names.join(", ")
            )));
        }
        _ => return None,
    }
    Some(Ok(()))
}

fn bad(span: Span, message: impl Into<String>) -> Diagnostic {
    let message = message.into();
    Diagnostic::error(Code::InvalidValue, message.clone()).at(span, message)
}

/// The SI value of a field, checked against its dimension and range. The
/// lowering has already checked dimensions; checking again keeps this usable
/// on specs built by hand.
fn number(v: &Value, kind: FieldKind) -> Result<f64, String> {
    let dim = kind.dim();
    let Value::Quantity(q) = v else {
        return Err(format!(
            "expected {} ({})",
            dim.describe(),
            dim.example_units()
        ));
    };
    if q.dim != dim {
        return Err(format!(
            "expected {}, found {}",
            dim.describe(),
            q.dim.describe()
        ));
    }
    kind.check(q.value)?;
    Ok(q.value)
}
