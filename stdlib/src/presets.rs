//! The preset files compiled into the binary. Each kind is a hand-kept table
//! of `include_str!` entries rather than a build script, so adding a preset
//! is one line here; `stdlib/tests/presets.rs` checks the tables against the
//! files on disk so none is forgotten.

/// One embedded preset file: its id (the file stem) and its YAML text.
pub(crate) struct Embedded {
    pub(crate) id: &'static str,
    pub(crate) text: &'static str,
}

/// Whether a `--hardware`/`--runtime` argument names a file rather than a
/// preset: a `.yaml`/`.yml` name, or any existing path.
pub(crate) fn names_a_file(arg: &str) -> bool {
    let path = std::path::Path::new(arg);
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
        || path.is_file()
}

/// Every file of `table` parsed; `id` reads back the id the file states,
/// which must be its stem. Embedded files are checked by the tests, so a
/// failure here means those were skipped.
pub(crate) fn parse_all<T, E: std::fmt::Display>(
    table: &[Embedded],
    kind: &str,
    parse: fn(&str) -> Result<T, E>,
    id: fn(&T) -> &str,
) -> Vec<T> {
    table
        .iter()
        .map(|e| {
            let p = parse(e.text)
                .unwrap_or_else(|err| panic!("embedded {kind} preset {} is invalid: {err}", e.id));
            assert_eq!(id(&p), e.id, "embedded {kind} preset id mismatch");
            p
        })
        .collect()
}

macro_rules! embed {
    ($dir:literal; $($id:literal),* $(,)?) => {
        &[$(Embedded {
            id: $id,
            text: include_str!(concat!("../presets/", $dir, "/", $id, ".yaml")),
        }),*]
    };
}

/// Listing order: Jetson modules, NVIDIA discrete GPUs, Apple silicon, then
/// phones, laptops and boards.
pub(crate) const HARDWARE: &[Embedded] = embed!("hardware";
    "jetson-agx-orin-64gb",
    "jetson-agx-orin-64gb-50w",
    "jetson-agx-orin-64gb-30w",
    "jetson-agx-orin-64gb-15w",
    "jetson-agx-orin-32gb",
    "jetson-agx-orin-32gb-40w",
    "jetson-agx-orin-32gb-30w",
    "jetson-agx-orin-32gb-15w",
    "jetson-orin-nx-16gb-super",
    "jetson-orin-nx-16gb",
    "jetson-orin-nx-16gb-25w",
    "jetson-orin-nx-16gb-15w",
    "jetson-orin-nx-16gb-10w",
    "jetson-orin-nx-8gb",
    "jetson-orin-nx-8gb-20w",
    "jetson-orin-nx-8gb-15w",
    "jetson-orin-nx-8gb-10w",
    "jetson-orin-nano-super",
    "jetson-orin-nano-super-25w",
    "jetson-orin-nano-super-15w",
    "jetson-orin-nano-8gb",
    "jetson-orin-nano-8gb-7w",
    "jetson-orin-nano-4gb",
    "jetson-orin-nano-4gb-7w",
    "jetson-thor",
    "a100-40gb",
    "a100-80gb",
    "a100-pcie-40gb",
    "a100-pcie-80gb",
    "h100-sxm",
    "h100-pcie",
    "h200",
    "b200",
    "l40s",
    "l4",
    "a10",
    "dgx-spark",
    "rtx-a4000",
    "rtx-a5000",
    "rtx-a6000",
    "rtx-4000-ada",
    "rtx-5000-ada",
    "rtx-6000-ada",
    "rtx-3060",
    "rtx-3070",
    "rtx-3080",
    "rtx-3090",
    "rtx-4060",
    "rtx-4070",
    "rtx-4080",
    "rtx-4090",
    "rtx-5070",
    "rtx-5080",
    "rtx-5090",
    "mi300x",
    "apple-m1",
    "apple-m1-7c",
    "apple-m1-pro",
    "apple-m1-pro-14c",
    "apple-m1-max",
    "apple-m1-max-24c",
    "apple-m1-ultra",
    "apple-m1-ultra-48c",
    "apple-m2",
    "apple-m2-8c",
    "apple-m2-pro",
    "apple-m2-pro-16c",
    "apple-m2-max",
    "apple-m2-max-30c",
    "apple-m2-ultra",
    "apple-m2-ultra-60c",
    "apple-m3",
    "apple-m3-8c",
    "apple-m3-pro",
    "apple-m3-pro-14c",
    "apple-m3-max",
    "apple-m3-max-30c",
    "apple-m3-ultra",
    "apple-m3-ultra-60c",
    "apple-m4",
    "apple-m4-8c",
    "apple-m4-pro",
    "apple-m4-pro-16c",
    "apple-m4-max",
    "apple-m4-max-32c",
    "snapdragon-8-gen-3",
    "snapdragon-8-gen-3-npu",
    "snapdragon-8-elite-npu",
    "snapdragon-x-elite-gpu",
    "snapdragon-x-elite-npu",
    "core-ultra-7-155h-gpu",
    "core-ultra-7-258v-gpu",
    "ryzen-ai-9-hx-370-npu",
    "raspberry-pi-5",
);

/// Second names for hardware presets, `(alias, id)`: the power mode a Jetson
/// module's base preset models (`jetson-agx-orin-64gb-maxn`), the GPU-core
/// count of a chip's full-GPU variant (`apple-m2-10c` is `apple-m2`), and the
/// unit a phone preset models where a chip has several (`snapdragon-8-gen-3`
/// is its Adreno GPU). Ids never change, so pipelines that name one keep
/// working.
pub(crate) const HARDWARE_ALIASES: &[(&str, &str)] = &[
    ("jetson-agx-orin-64gb-maxn", "jetson-agx-orin-64gb"),
    ("jetson-agx-orin-32gb-maxn", "jetson-agx-orin-32gb"),
    ("jetson-orin-nx-16gb-maxn", "jetson-orin-nx-16gb"),
    ("jetson-orin-nx-8gb-maxn", "jetson-orin-nx-8gb"),
    ("jetson-orin-nano-super-maxn", "jetson-orin-nano-super"),
    ("jetson-orin-nano-8gb-super", "jetson-orin-nano-super"),
    ("jetson-orin-nano-8gb-15w", "jetson-orin-nano-8gb"),
    ("jetson-orin-nano-4gb-10w", "jetson-orin-nano-4gb"),
    ("apple-m1-8c", "apple-m1"),
    ("apple-m1-pro-16c", "apple-m1-pro"),
    ("apple-m1-max-32c", "apple-m1-max"),
    ("apple-m1-ultra-64c", "apple-m1-ultra"),
    ("apple-m2-10c", "apple-m2"),
    ("apple-m2-pro-19c", "apple-m2-pro"),
    ("apple-m2-max-38c", "apple-m2-max"),
    ("apple-m2-ultra-76c", "apple-m2-ultra"),
    ("apple-m3-10c", "apple-m3"),
    ("apple-m3-pro-18c", "apple-m3-pro"),
    ("apple-m3-max-40c", "apple-m3-max"),
    ("apple-m4-10c", "apple-m4"),
    ("apple-m4-pro-20c", "apple-m4-pro"),
    ("apple-m4-max-40c", "apple-m4-max"),
    ("apple-m3-ultra-80c", "apple-m3-ultra"),
    ("snapdragon-8-gen-3-gpu", "snapdragon-8-gen-3"),
];

/// Listing order: by family, smallest first.
pub(crate) const MODELS: &[Embedded] = embed!("models";
    "qwen2.5-0.5b",
    "qwen2.5-1.5b",
    "qwen2.5-3b",
    "qwen3-0.6b",
    "qwen3-1.7b",
    "qwen3-4b",
    "llama-3.2-1b",
    "llama-3.2-3b",
    "llama-3.1-8b",
    "llama-2-7b",
    "llama-2-13b",
    "smollm2-135m",
    "smollm2-360m",
    "smollm2-1.7b",
    "mobilellm-125m",
    "mobilellm-350m",
    "phi-3-mini-4k",
    "gemma-2-2b",
    "olmoe-1b-7b",
    "qwen3-30b-a3b",
);

/// Listing order: `ideal` first, then by where they run (desktop and
/// server GPUs, Apple, edge and phone NPUs).
pub(crate) const RUNTIMES: &[Embedded] = embed!("runtimes";
    "ideal",
    "llama.cpp",
    "vllm",
    "tensorrt-llm",
    "tinychat",
    "mlc",
    "mlx",
    "executorch",
    "qnn",
    "candle",
    "transformers",
);
