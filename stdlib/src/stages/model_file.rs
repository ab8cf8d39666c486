//! A model given as a file where a model preset id goes (`baseline:
//! "config.json"`, `baseline: "model.gguf"`), read when the pipeline is
//! resolved, relative to the pipeline file: its architecture then sits in
//! the stage's parameters, so the cache keys on the file's content.
use std::path::Path;

use rooflaw_dsl::spec::{Spec, Stage};
use rooflaw_dsl::{Code, Diagnostic, Span};
use serde_json::{Value, json};

use super::args;

/// `{ id, name, arch }` of the model in `file`.
pub(crate) fn read(
    file: &str,
    stage: &Stage,
    spec: &Spec,
    span: Span,
) -> Result<Value, Vec<Diagnostic>> {
    let dir = Path::new(&spec.sources.get(stage.span.file).name)
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let path = dir.join(file);
    let bad = |msg: String| {
        vec![
            Diagnostic::error(Code::UnreadableFile, msg)
                .at(span, "this model file")
                .help("a model file is a Hugging Face config.json or a GGUF file, relative to the pipeline"),
        ]
    };
    let gguf = Path::new(file)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"));
    let (name, arch) = if gguf {
        let m = crate::gguf::read(&path).map_err(|e| bad(e.to_string()))?;
        (m.name, m.arch)
    } else {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
        let arch =
            crate::hf::from_json(&text).map_err(|e| bad(format!("{}: {e}", path.display())))?;
        (file.to_owned(), arch)
    };
    Ok(json!({ "id": file, "name": name, "arch": args::json(&arch) }))
}
