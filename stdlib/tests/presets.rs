//! Hardware and model presets: every file is embedded, loads, is complete and
//! sourced, and every model's parameter count equals its published one.
use std::collections::BTreeSet;
use std::path::Path;

use rooflaw_dsl::spec::{Block, Field, Value};
use rooflaw_dsl::{Code, Dim, FileId, Quantity, Span, Spanned};
use rooflaw_stdlib::hardware::{self, HardwareError};
use rooflaw_stdlib::{Dtype, models};

fn files_on_disk(kind: &str) -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("presets")
        .join(kind);
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn every_preset_file_is_embedded() {
    let hw: BTreeSet<String> = hardware::ids().into_iter().map(String::from).collect();
    assert_eq!(hw, files_on_disk("hardware"));
    assert_eq!(
        hardware::ids().len(),
        94,
        "issue #3's 25 hardware presets and issue #12's devices and power modes"
    );
    let ms: BTreeSet<String> = models::ids().into_iter().map(String::from).collect();
    assert_eq!(ms, files_on_disk("models"));
    assert_eq!(models::ids().len(), 20, "issue #3 lists 20 model presets");
}

#[test]
fn model_parameter_counts_equal_published_counts() {
    let mut wrong = Vec::new();
    for p in models::presets() {
        let n = p.arch.params_total();
        if !p.params.matches(n) {
            wrong.push(format!(
                "{}: computed {n}, published {} (off by {})",
                p.id,
                p.params.total,
                i128::from(n) - i128::from(p.params.total)
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn only_models_without_an_exact_published_count_are_compared_truncated() {
    let rounded: Vec<String> = models::presets()
        .into_iter()
        .filter(|p| p.params.truncated_to != 0)
        .map(|p| p.id)
        .collect();
    assert_eq!(rounded, ["mobilellm-350m"]);
}

#[test]
fn model_presets_carry_repo_and_sources() {
    for p in models::presets() {
        assert!(p.hf_repo.contains('/'), "{}: hf_repo `{}`", p.id, p.hf_repo);
        assert!(
            p.config_source.contains(&p.hf_repo),
            "{}: config source",
            p.id
        );
        assert!(!p.params.source.is_empty(), "{}: count source", p.id);
    }
    assert_eq!(models::preset("qwen3-30b-a3b").unwrap().experts, 128);
    assert!(models::preset("qwen3-30b").is_none());
}

#[test]
fn qk_norm_over_the_whole_projection_counts_q_and_k_dims() {
    // OLMoE-1B-7B: q_norm and k_norm have 2048 weights each, not 128.
    let olmoe = models::preset("olmoe-1b-7b").unwrap();
    let mut per_head = olmoe.clone();
    per_head.qk_norm_full = false;
    let per_layer = (2048 + 2048) - 2 * 128;
    assert_eq!(
        olmoe.params_total() - per_head.params_total(),
        16 * per_layer
    );
    assert_eq!(olmoe.params_total(), 6_919_161_856);
}

#[test]
fn every_hardware_preset_is_complete_and_sourced() {
    for p in hardware::presets() {
        let hw = &p.hardware;
        assert!(!hw.peak.is_empty(), "{}: no peak", hw.id);
        assert!(hw.peak.values().all(|v| *v > 0.0), "{}: peak", hw.id);
        assert!(hw.bandwidth > 0.0 && hw.memory > 0.0, "{}", hw.id);
        for e in [hw.efficiency_compute, hw.efficiency_memory] {
            assert!(e > 0.0 && e <= 1.0, "{}: efficiency {e}", hw.id);
        }
        assert!(hw.launch >= 0.0, "{}", hw.id);
        assert_eq!(
            p.sources.missing(hw),
            Vec::<String>::new(),
            "{}: unsourced fields",
            hw.id
        );
        let all = p.sources.peak.values().chain(
            [
                &p.sources.bandwidth,
                &p.sources.memory,
                &p.sources.efficiency_compute,
                &p.sources.efficiency_memory,
                &p.sources.launch,
                &p.sources.memory_technology,
            ]
            .into_iter()
            .flatten(),
        );
        for s in all {
            assert!(!s.source.trim().is_empty(), "{}: empty source", hw.id);
            assert!(
                !s.derived || s.note.is_some(),
                "{}: derived value without a note",
                hw.id
            );
        }
    }
}

#[test]
fn hardware_preset_values_match_their_datasheets() {
    let cases: &[(&str, Dtype, f64, f64, f64)] = &[
        // id, dtype, peak, bandwidth, memory
        ("a100-80gb", Dtype::Fp16, 312e12, 2039e9, 80e9),
        ("a100-40gb", Dtype::Int8, 624e12, 1555e9, 40e9),
        ("h100-sxm", Dtype::Bf16, 989.5e12, 3.35e12, 80e9),
        ("h100-pcie", Dtype::Fp8, 1513e12, 2e12, 80e9),
        ("h200", Dtype::Fp16, 989.5e12, 4.8e12, 141e9),
        ("rtx-4090", Dtype::Fp16, 165.2e12, 1008e9, 24e9),
        ("jetson-agx-orin-64gb", Dtype::Fp16, 42.6e12, 204.8e9, 64e9),
        ("jetson-orin-nano-super", Dtype::Int8, 33.4e12, 102e9, 8e9),
        ("apple-m4-max", Dtype::Fp32, 15.1e12, 546e9, 128e9),
        ("raspberry-pi-5", Dtype::Fp32, 153.6e9, 17.1e9, 16e9),
        ("rtx-3090", Dtype::Fp16, 71e12, 936e9, 24e9),
        ("rtx-a6000", Dtype::Fp16, 154.8e12, 768e9, 48e9),
        ("rtx-6000-ada", Dtype::Fp8, 728.5e12, 960e9, 48e9),
        ("apple-m1", Dtype::Fp32, 2.6e12, 68.25e9, 16e9),
        ("apple-m1-max-24c", Dtype::Fp16, 7.8e12, 400e9, 64e9),
        ("apple-m2-ultra", Dtype::Bf16, 27.2e12, 800e9, 192e9),
        ("snapdragon-x-elite-npu", Dtype::Int8, 45e12, 135e9, 64e9),
        ("a10", Dtype::Fp16, 125e12, 600e9, 24e9),
        ("l4", Dtype::Fp8, 242.5e12, 300e9, 24e9),
        ("a100-pcie-80gb", Dtype::Bf16, 312e12, 1935e9, 80e9),
        ("mi300x", Dtype::Fp16, 1307.4e12, 5.3e12, 192e9),
        ("b200", Dtype::Fp8, 4.5e15, 8e12, 180e9),
        ("rtx-5090", Dtype::Fp16, 209.5e12, 1792e9, 32e9),
        ("rtx-a4000", Dtype::Fp16, 76.7e12, 448e9, 16e9),
        // Power modes: the mode's TPCs and clocks. AGX Orin 64GB at 15 W runs
        // 3 of 8 TPCs (24 Tensor Cores) at 408 MHz with EMC at 2133 MHz.
        (
            "jetson-agx-orin-64gb-15w",
            Dtype::Fp16,
            5.01e12,
            136.5e9,
            64e9,
        ),
        (
            "jetson-orin-nano-super-25w",
            Dtype::Int8,
            30.1e12,
            102.4e9,
            8e9,
        ),
        ("jetson-orin-nano-4gb", Dtype::Fp32, 640e9, 34.13e9, 4e9),
    ];
    for &(id, dtype, peak, bw, mem) in cases {
        let hw = hardware::preset(id).unwrap();
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-9 * b;
        assert!(
            close(hw.peak[&dtype], peak),
            "{id} {dtype:?}: {}",
            hw.peak[&dtype]
        );
        assert!(close(hw.bandwidth, bw), "{id} bandwidth {}", hw.bandwidth);
        assert!(close(hw.memory, mem), "{id} memory {}", hw.memory);
    }
}

#[test]
fn every_hardware_preset_names_its_memory_technology_with_a_source() {
    use rooflaw_stdlib::hardware::MemoryClass;
    for p in hardware::presets() {
        let id = p.hardware.id.as_str();
        let tech = p
            .hardware
            .memory_technology
            .unwrap_or_else(|| panic!("{id}: no memory_technology"));
        assert!(p.sources.memory_technology.is_some(), "{id}: unsourced");
        // Unified-memory SoCs and boards use (LP)DDR, datacentre parts HBM,
        // and discrete RTX/L-series cards GDDR.
        let expected = if [
            "apple-",
            "jetson-",
            "snapdragon-",
            "raspberry-",
            "core-ultra-",
            "ryzen-",
            "dgx-spark",
        ]
        .iter()
        .any(|f| id.starts_with(f))
        {
            MemoryClass::Lpddr
        } else if ["a100-", "h100-", "h200", "b200", "mi300x"]
            .iter()
            .any(|f| id.starts_with(f))
        {
            MemoryClass::Hbm
        } else {
            MemoryClass::Gddr
        };
        assert_eq!(tech.class(), expected, "{id}: {tech:?}");
    }
}

#[test]
fn aliases_name_existing_presets_and_resolve_to_them() {
    let ids = hardware::ids();
    for (alias, id) in hardware::aliases() {
        assert!(ids.contains(id), "alias {alias} names no preset {id}");
        assert!(!ids.contains(alias), "alias {alias} shadows a preset id");
        assert_eq!(hardware::resolve(alias).unwrap().id, *id);
    }
    let gpu = hardware::preset("snapdragon-8-gen-3-gpu").unwrap();
    assert_eq!(gpu, hardware::preset("snapdragon-8-gen-3").unwrap());
    assert!(gpu.name.contains("Adreno"), "{}", gpu.name);
    assert!(
        hardware::preset("snapdragon-8-gen-3-npu")
            .unwrap()
            .name
            .contains("Hexagon")
    );
}

/// `CALIBRATION-IDS.md` maps the public-latency calibration set's hardware
/// keys to preset names; each must resolve, and the GPU-core variants of a
/// chip must differ in compute but not in bandwidth.
#[test]
fn calibration_devices_have_presets() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("presets/hardware/CALIBRATION-IDS.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let rows: Vec<(String, String)> = text
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            (cells.len() > 3 && cells[1].starts_with('`')).then(|| {
                (
                    cells[1].trim_matches('`').to_string(),
                    cells[2].trim_matches('`').to_string(),
                )
            })
        })
        .collect();
    assert_eq!(rows.len(), 24, "the calibration set names 24 devices");
    for (key, name) in &rows {
        assert!(
            hardware::preset(name).is_some(),
            "{key}: no preset `{name}`"
        );
    }
    let m1_7 = hardware::preset("apple-m1-7c").unwrap();
    let m1_8 = hardware::preset("apple-m1-8c").unwrap();
    assert!(m1_7.peak[&Dtype::Fp16] < m1_8.peak[&Dtype::Fp16]);
    assert!((m1_7.bandwidth - m1_8.bandwidth).abs() < 1.0);
}

/// A power mode caps clocks and powers TPCs down, so its preset never
/// exceeds its module's full-power preset, and the caps come from NVIDIA's
/// nvpmodel tables with the method stated.
#[test]
fn jetson_power_modes_stay_within_their_module() {
    let mut modes = 0;
    for p in hardware::presets() {
        let id = p.hardware.id.as_str();
        let Some((module, mode)) = id.rsplit_once('-') else {
            continue;
        };
        if !id.starts_with("jetson-") || !mode.ends_with('w') {
            continue;
        }
        modes += 1;
        let full = hardware::preset(module).unwrap_or_else(|| panic!("{id}: no module {module}"));
        for (d, v) in &p.hardware.peak {
            assert!(
                *v <= full.peak[d] * 1.000_001,
                "{id} {d:?}: {v} > {}",
                full.peak[d]
            );
        }
        // Data sheets round (the Orin Nano Super's 102 GB/s is 102.4).
        assert!(p.hardware.bandwidth <= full.bandwidth * 1.005, "{id}");
        assert!((p.hardware.memory - full.memory).abs() < 1.0, "{id}");
        let s = &p.sources.peak[&Dtype::Fp16];
        assert!(s.derived && s.source.contains("nvpmodel"), "{id}: {s:?}");
        assert!(s.note.as_deref().unwrap().contains("TPC"), "{id}");
    }
    assert_eq!(modes, 16);
}

#[test]
fn sparse_marketing_numbers_are_halved_and_marked() {
    let p = hardware::presets()
        .into_iter()
        .find(|p| p.hardware.id == "h100-sxm")
        .unwrap();
    let s = &p.sources.peak[&Dtype::Fp16];
    assert!(s.derived);
    assert!(s.note.as_deref().unwrap().contains("1979 TFLOPS"));
}

#[test]
fn a_user_file_may_give_bare_values_and_gets_documented_defaults() {
    let p = hardware::from_yaml(
        "id: board\npeak:\n  fp16: 10 TFLOPS\n  fp64: 1 TFLOPS\nbandwidth: 100 GB/s\nmemory: 8 GiB\n",
    )
    .unwrap();
    let hw = p.hardware;
    assert_eq!(hw.name, "board");
    assert_eq!(hw.peak.len(), 1, "fp64 is accepted but not modelled");
    assert!((hw.peak[&Dtype::Fp16] - 10e12).abs() < 1.0);
    assert!((hw.bandwidth - 100e9).abs() < 1.0);
    assert!((hw.memory - 8.0 * 1024f64.powi(3)).abs() < 1.0);
    assert!((hw.efficiency_compute - hardware::DEFAULT_EFFICIENCY_COMPUTE).abs() < f64::EPSILON);
    assert!((hw.efficiency_memory - hardware::DEFAULT_EFFICIENCY_MEMORY).abs() < f64::EPSILON);
    assert!((hw.launch - hardware::DEFAULT_LAUNCH).abs() < f64::EPSILON);
    assert_eq!(p.sources.missing(&hw).len(), 6);
}

#[test]
fn bad_hardware_files_get_clear_errors() {
    let base = "id: b\npeak: {fp16: 10 TFLOPS}\nbandwidth: 100 GB/s\nmemory: 8 GB\n";
    let cases: &[(&str, &str)] = &[
        (
            "id: b\npeak: {fp16: 10 TFLOPS}\nmemory: 8 GB\n",
            "bandwidth: missing",
        ),
        (
            "id: b\npeak: {fp16: 10 GB/s}\nbandwidth: 100 GB/s\nmemory: 8 GB\n",
            "peak.fp16: `GB/s` is a bandwidth, but this field is a compute rate",
        ),
        (
            "id: b\npeak: {fp116: 10 TFLOPS}\nbandwidth: 100 GB/s\nmemory: 8 GB\n",
            "peak.fp116: unknown datatype `fp116`; did you mean `fp16`?",
        ),
        (
            "id: b\npeak: {fp16: 10 TFLOPS}\nbandwidth: 100 GBs\nmemory: 8 GB\n",
            "bandwidth: unknown unit `GBs`",
        ),
        (
            "id: b\npeak: {fp16: 10 TFLOPS}\nbandwith: 100 GB/s\nmemory: 8 GB\n",
            "bandwith: unknown field; did you mean `bandwidth`?",
        ),
        (
            "id: b\npeak: {fp16: 10 TFLOPS}\nbandwidth: -1\nmemory: 8 GB\n",
            "bandwidth: must be positive",
        ),
        (
            "id: b\npeak: {fp16: {value: 10 TFLOPS}}\nbandwidth: 100 GB/s\nmemory: 8 GB\n",
            "peak.fp16: a value written as a mapping needs `source`",
        ),
        (
            "id: b\npeak: {}\nbandwidth: 100 GB/s\nmemory: 8 GB\n",
            "peak: no usable datatype",
        ),
        ("id: [b\n", "invalid YAML"),
    ];
    for (text, expected) in cases {
        let e = hardware::from_yaml(text).unwrap_err().to_string();
        assert!(
            e.contains(expected),
            "{text:?}\n  got:      {e}\n  expected: {expected}"
        );
    }
    let eff = format!("{base}efficiency: {{compute: 1.5}}\n");
    let e = hardware::from_yaml(&eff).unwrap_err().to_string();
    assert_eq!(
        e,
        "efficiency.compute: an efficiency is a fraction in (0, 1], got 1.5"
    );
}

#[test]
fn resolve_takes_a_preset_id_or_a_yaml_file() {
    assert_eq!(hardware::resolve("h200").unwrap().id, "h200");
    match hardware::resolve("jetson-agx-orin-64g") {
        Err(HardwareError::UnknownPreset { suggestion, .. }) => {
            assert_eq!(suggestion.as_deref(), Some("jetson-agx-orin-64gb"));
        }
        other => panic!("expected an unknown-preset error, got {other:?}"),
    }
    let dir = std::env::temp_dir().join(format!("rooflaw-presets-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("board.yaml");
    std::fs::write(
        &file,
        "id: board\npeak: {int8: 1 TOPS}\nbandwidth: 10 GB/s\nmemory: 1 GB\n",
    )
    .unwrap();
    let hw = hardware::resolve(file.to_str().unwrap()).unwrap();
    assert!((hw.peak[&Dtype::Int8] - 1e12).abs() < 1.0);
    let missing = dir.join("nope.yaml");
    let e = hardware::resolve(missing.to_str().unwrap())
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("cannot read"), "{e}");
    std::fs::remove_dir_all(&dir).unwrap();
}

// --- pipeline `hardware` blocks -------------------------------------------

fn sp(start: usize, end: usize) -> Span {
    Span::new(FileId(0), start, end)
}

fn q(value: f64, dim: Dim) -> Value {
    Value::Quantity(Quantity::new(value, dim))
}

fn block(preset: Option<&str>, fields: Vec<(&str, Value)>) -> Block {
    Block {
        name: Spanned::new("orin".into(), sp(9, 13)),
        preset: preset.map(|p| Spanned::new(p.to_string(), sp(20, 20 + p.len()))),
        fields: fields
            .into_iter()
            .enumerate()
            .map(|(i, (path, value))| Field {
                path: Spanned::new(
                    path.to_string(),
                    sp(100 * (i + 1), 100 * (i + 1) + path.len()),
                ),
                value: Spanned::new(value, sp(100 * (i + 1) + 50, 100 * (i + 1) + 60)),
            })
            .collect(),
        span: sp(0, 1000),
    }
}

#[test]
fn a_block_overrides_its_preset() {
    let b = block(
        Some("jetson-agx-orin-64gb"),
        vec![
            ("peak.fp16", q(40e12, Dim::COMPUTE)),
            ("efficiency.memory", q(0.6, Dim::NONE)),
            ("name", Value::Str("my orin".into())),
        ],
    );
    let hw = hardware::from_block(&b).unwrap();
    let preset = hardware::preset("jetson-agx-orin-64gb").unwrap();
    assert_eq!(hw.id, "orin");
    assert_eq!(hw.name, "my orin");
    assert!((hw.peak[&Dtype::Fp16] - 40e12).abs() < 1.0);
    assert!((hw.peak[&Dtype::Int8] - preset.peak[&Dtype::Int8]).abs() < 1.0);
    assert!((hw.efficiency_memory - 0.6).abs() < f64::EPSILON);
    assert!((hw.bandwidth - preset.bandwidth).abs() < 1.0);
}

#[test]
fn a_block_sets_the_memory_technology() {
    use rooflaw_stdlib::hardware::MemoryTechnology;
    let word = |w: &str| Value::Word(w.to_string());
    let hw = hardware::from_block(&block(
        Some("rtx-4090"),
        vec![("memory_technology", word("gddr7"))],
    ))
    .unwrap();
    assert_eq!(hw.memory_technology, Some(MemoryTechnology::Gddr7));
    let kept = hardware::from_block(&block(Some("h200"), vec![])).unwrap();
    assert_eq!(kept.memory_technology, Some(MemoryTechnology::Hbm3e));

    let d = hardware::from_block(&block(
        Some("rtx-4090"),
        vec![("memory_technology", word("hbm4"))],
    ))
    .unwrap_err();
    assert_eq!(d[0].code, Code::InvalidValue);
    assert!(d[0].message.contains("lpddr5x"), "{}", d[0].message);
    assert_eq!(d[0].labels[0].span, sp(150, 160));
}

#[test]
fn the_language_offers_every_memory_technology() {
    use rooflaw_stdlib::hardware::MemoryTechnology;
    let names: Vec<&str> = MemoryTechnology::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(rooflaw_dsl::schema::MEMORY_TECHNOLOGIES, names.as_slice());
}

#[test]
fn a_block_without_preset_needs_the_required_fields() {
    let b = block(
        None,
        vec![
            ("peak.int8", q(10e12, Dim::COMPUTE)),
            ("bandwidth", q(50e9, Dim::BANDWIDTH)),
            ("memory", q(4e9, Dim::BYTES)),
        ],
    );
    let hw = hardware::from_block(&b).unwrap();
    assert_eq!(hw.name, "orin");
    assert!((hw.launch - hardware::DEFAULT_LAUNCH).abs() < f64::EPSILON);

    let d = hardware::from_block(&block(None, vec![("bandwidth", q(50e9, Dim::BANDWIDTH))]))
        .unwrap_err();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].code, Code::MissingField);
    assert_eq!(
        d[0].message,
        "hardware `orin` is missing peak.<dtype> (e.g. `peak.fp16 = 42.5 TFLOPS`), memory"
    );
    assert_eq!(d[0].labels[0].span, sp(9, 13));
}

#[test]
fn block_errors_point_at_what_is_wrong() {
    let d = hardware::from_block(&block(Some("jetson-agx-orin-64g"), vec![])).unwrap_err();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].code, Code::UnknownPreset);
    assert_eq!(d[0].labels[0].span, sp(20, 39));
    assert_eq!(
        d[0].help.as_deref(),
        Some("did you mean `jetson-agx-orin-64gb`?")
    );

    let d = hardware::from_block(&block(
        Some("h100-sxm"),
        vec![
            ("efficiency.compute", q(1.2, Dim::NONE)),
            ("peak.fp116", q(1e12, Dim::COMPUTE)),
            ("memory", q(1e9, Dim::TIME)),
            ("bandwith", q(1e9, Dim::BANDWIDTH)),
        ],
    ))
    .unwrap_err();
    let got: Vec<(Code, &str, Span)> = d
        .iter()
        .map(|d| (d.code, d.message.as_str(), d.labels[0].span))
        .collect();
    assert_eq!(
        got,
        [
            (
                Code::InvalidValue,
                "`efficiency.compute`: an efficiency is a fraction in (0, 1], got 1.2",
                sp(150, 160)
            ),
            (
                Code::UnknownField,
                "unknown datatype `fp116`; did you mean `fp16`?",
                sp(200, 210)
            ),
            (
                Code::InvalidValue,
                "`memory`: expected a size in bytes, found a time",
                sp(350, 360)
            ),
            (
                Code::UnknownField,
                "unknown hardware field `bandwith`",
                sp(400, 408)
            ),
        ]
    );
    assert_eq!(d[3].help.as_deref(), Some("did you mean `bandwidth`?"));
}

/// A model preset is held to the one definition of a valid architecture.
#[test]
fn a_model_preset_must_be_a_valid_architecture() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("presets/models/gemma-2-2b.yaml");
    let text = std::fs::read_to_string(path).unwrap();
    assert!(models::from_yaml(&text).is_ok());
    let bad = text.replacen("  kv_heads: 4\n", "  kv_heads: 3\n", 1);
    assert_ne!(bad, text);
    let e = models::from_yaml(&bad).unwrap_err().to_string();
    assert_eq!(
        e,
        "invalid model preset: gemma-2-2b: arch: heads (8) must be a multiple of kv_heads (3)"
    );
}
