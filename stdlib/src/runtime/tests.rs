// Figures are copied from presets and hardware, not computed: exact
// equality is the point.
#![allow(clippy::float_cmp)]
use super::*;
use crate::hardware::{self, MemoryTechnology};

#[test]
fn every_preset_parses_has_sources_and_round_trips() {
    for p in presets() {
        assert!(
            p.missing_sources().is_empty(),
            "{}: figures without a source: {:?}",
            p.runtime.id,
            p.missing_sources()
        );
        let back = from_yaml(&to_yaml(&p)).unwrap();
        assert_eq!(back, p, "{} does not round-trip", p.runtime.id);
    }
}

#[test]
fn ideal_takes_everything_from_the_hardware() {
    let ideal = preset("ideal").unwrap().runtime;
    assert!(ideal.is_ideal());
    let hw = hardware::preset("rtx-4090").unwrap();
    let f = ideal.figures(&hw);
    assert_eq!(f.compute, hw.efficiency_compute);
    assert_eq!(f.memory, hw.efficiency_memory);
    assert_eq!(f.vector, hw.vector_efficiency());
    assert_eq!(f.launch, hw.launch);
    assert_eq!(f.per_token, 0.0);
}

#[test]
fn figures_go_by_memory_class_then_default_then_hardware() {
    let mut rt = Runtime::ideal();
    rt.efficiency.memory.gddr = Some(0.9);
    rt.efficiency.memory.default = Some(0.6);
    let mut hw = hardware::preset("rtx-4090").unwrap();
    hw.memory_technology = Some(MemoryTechnology::Gddr6x);
    assert_eq!(rt.figures(&hw).memory, 0.9);
    assert_eq!(rt.figures(&hw).vector, 0.9);
    hw.memory_technology = Some(MemoryTechnology::Hbm3);
    assert_eq!(rt.figures(&hw).memory, 0.6);
    rt.efficiency.memory.default = None;
    assert_eq!(rt.figures(&hw).memory, hw.efficiency_memory);
    hw.memory_technology = None;
    assert_eq!(rt.figures(&hw).compute, hw.efficiency_compute);
}

#[test]
fn names_are_forgiving_and_unknown_ones_suggest() {
    for n in ["llama.cpp", "llama_cpp", "LlamaCpp", "llamacpp"] {
        assert_eq!(resolve(n).unwrap().runtime.id, "llama.cpp", "{n}");
    }
    assert_eq!(resolve("tensorrt_llm").unwrap().runtime.id, "tensorrt-llm");
    let e = resolve("vlm").unwrap_err().to_string();
    assert_eq!(e, "unknown runtime `vlm`; did you mean `vllm`?");
    let e = resolve("/nonexistent/profile.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("cannot read /nonexistent/profile.yaml"),
        "{e}"
    );
}

#[test]
fn bad_figures_name_their_field() {
    let e = from_yaml("id: x\nefficiency:\n  memory:\n    gddr: 1.5\n")
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "efficiency.memory.gddr: an efficiency is a fraction in (0, 1], got 1.5"
    );
    let e = from_yaml("id: x\nper_token: 3 GB\n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("per_token: `GB` is"), "{e}");
    let e = from_yaml("id: x\nspeed: 3\n").unwrap_err().to_string();
    assert!(e.contains("unknown field `speed`"), "{e}");
    let e = from_yaml(
        "id: x\nbands:\n- {phase: decode, lo: 2, hi: 1, median_error: 0.1, rows: 3, devices: 1}\n",
    )
    .unwrap_err()
    .to_string();
    assert_eq!(e, "bands[0]: needs 0 < lo <= hi, got lo 2 and hi 1");
}

#[test]
fn handles_intern_by_content() {
    let a = RuntimeRef::new(preset("vllm").unwrap().runtime);
    let b = RuntimeRef::new(preset("vllm").unwrap().runtime);
    assert!(std::ptr::eq(a.get(), b.get()));
    assert!(RuntimeRef::default().is_ideal());
    let json = serde_json::to_string(&a).unwrap();
    let back: RuntimeRef = serde_json::from_str(&json).unwrap();
    assert_eq!(back, a);
}

#[test]
fn every_file_in_the_presets_folder_is_embedded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("presets/runtimes");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            name.strip_suffix(".yaml").map(str::to_string)
        })
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = ids().into_iter().map(str::to_string).collect();
    embedded.sort();
    assert_eq!(on_disk, embedded);
}
