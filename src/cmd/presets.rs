//! `rooflaw presets KIND [ID] [--format text|json|yaml]`: list the presets
//! compiled into the binary, or show one with the source of every number;
//! `--format yaml` writes a hardware preset as a file to start from.
use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::ValueEnum;
use rooflaw_dsl::units::fmt_num;
use rooflaw_dsl::{Dim, Quantity};
use rooflaw_stdlib::hardware::{self, Source};
use rooflaw_stdlib::{Dtype, HardwarePreset, ModelPreset, models, runtime};

mod runtimes;
use serde::Serialize;

#[derive(clap::Args)]
pub struct Args {
    /// Which presets to list.
    #[arg(value_enum)]
    pub kind: Kind,
    /// Show this preset (or hardware YAML file) in full, with the source of
    /// every number.
    pub id: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// A kind of preset. Budgets and laws join as their presets land: each kind
/// needs only a listing and a single-preset view below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    Hardware,
    Models,
    /// Runtime profiles: fitted or guessed, their error bands and data.
    Runtimes,
}

/// How a listing or a preset is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
    /// One hardware preset or runtime profile in the schema --hardware or
    /// --runtime FILE.yaml reads.
    Yaml,
}

pub fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let out = render(args.kind, args.id.as_deref(), args.format)?;
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

fn render(kind: Kind, id: Option<&str>, format: Format) -> anyhow::Result<String> {
    match (kind, id) {
        (Kind::Hardware, None) => {
            let all = hardware::presets();
            match format {
                Format::Text => Ok(hardware_table(&all)),
                Format::Json => json(&all),
                Format::Yaml => Err(yaml_needs_one_preset()),
            }
        }
        (Kind::Hardware, Some(id)) => {
            let p = hardware::resolve_preset(id)?;
            match format {
                Format::Text => Ok(hardware_detail(&p)),
                Format::Json => json(&p),
                Format::Yaml => Ok(hardware_yaml(&p)),
            }
        }
        (Kind::Models, None) => {
            let presets = models::presets();
            let all: Vec<ModelRow> = presets.iter().map(ModelRow::from).collect();
            match format {
                Format::Text => Ok(model_table(&all)),
                Format::Json => json(&all),
                Format::Yaml => Err(no_model_yaml()),
            }
        }
        (Kind::Runtimes, None) => {
            let all = runtime::presets();
            match format {
                Format::Text => Ok(runtimes::table(&all)),
                Format::Json => json(&all.iter().map(runtimes::Row::from).collect::<Vec<_>>()),
                Format::Yaml => Err(anyhow!(
                    "--format yaml writes one runtime profile; name it: \
                     `rooflaw presets runtimes ID --format yaml > my-runtime.yaml`"
                )),
            }
        }
        (Kind::Runtimes, Some(id)) => {
            let p = runtime::resolve(id)?;
            match format {
                Format::Text => Ok(runtimes::detail(&p)),
                Format::Json => json(&runtimes::Row::from(&p)),
                Format::Yaml => Ok(runtime::to_yaml(&p)),
            }
        }
        (Kind::Models, Some(id)) => {
            let p = models::find(id).ok_or_else(|| unknown("model", id, models::ids()))?;
            let row = ModelRow::from(&p);
            match format {
                Format::Text => Ok(model_detail(&row)),
                Format::Json => json(&row),
                Format::Yaml => Err(no_model_yaml()),
            }
        }
    }
}

fn yaml_needs_one_preset() -> anyhow::Error {
    anyhow!(
        "--format yaml writes one hardware preset as a file to start from; name it: \
         `rooflaw presets hardware ID --format yaml > my-board.yaml`"
    )
}

fn no_model_yaml() -> anyhow::Error {
    anyhow!("--format yaml writes a hardware preset; for models use --format json")
}

/// The preset in the file schema, headed by how to use it. Every value keeps
/// its source, so an edited copy shows which numbers were changed.
fn hardware_yaml(p: &HardwarePreset) -> String {
    format!(
        "# Hardware preset `{}`, written by `rooflaw presets hardware {} --format yaml`.\n\
         # Edit the values (and their sources), then pass the file: --hardware FILE.yaml,\n\
         # or `hardware NAME from \"FILE.yaml\"` in a pipeline.\n{}",
        p.hardware.id,
        p.hardware.id,
        hardware::to_yaml(p)
    )
}

fn unknown(kind: &str, id: &str, ids: Vec<&str>) -> anyhow::Error {
    let hint = rooflaw_dsl::did_you_mean(id, ids).map_or_else(
        || {
            format!(
                "`rooflaw presets {}` lists them",
                if kind == "model" { "models" } else { kind }
            )
        },
        |s| format!("did you mean `{s}`?"),
    );
    anyhow!("unknown {kind} preset `{id}`; {hint}")
}

fn json<T: Serialize + ?Sized>(v: &T) -> anyhow::Result<String> {
    let mut s = serde_json::to_string_pretty(v).context("serialising presets")?;
    s.push('\n');
    Ok(s)
}

/// `12.3` or `12.3*` when the figure is derived rather than quoted.
fn cell(value: f64, scale: f64, source: Option<&Source>) -> String {
    let mark = if source.is_some_and(|s| s.derived) {
        "*"
    } else {
        ""
    };
    format!("{}{mark}", fmt_num((value / scale * 10.0).round() / 10.0))
}

/// Left-aligned text columns, right-aligned numbers, two spaces apart.
fn table(header: &[&str], rows: &[Vec<String>], numeric: &[bool]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| (*h).to_string()).collect();
    for r in std::iter::once(&header).chain(rows) {
        let cells: Vec<String> = r
            .iter()
            .zip(&widths)
            .zip(numeric)
            .map(|((c, w), num)| {
                if *num {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

fn hardware_table(all: &[HardwarePreset]) -> String {
    let rows: Vec<Vec<String>> = all
        .iter()
        .map(|p| {
            let (hw, src) = (&p.hardware, &p.sources);
            let peak = |d: Dtype| {
                hw.peak
                    .get(&d)
                    .map_or_else(|| "-".to_string(), |v| cell(*v, 1e12, src.peak.get(&d)))
            };
            vec![
                hw.id.clone(),
                hw.name.clone(),
                peak(Dtype::Fp16),
                peak(Dtype::Int8),
                cell(hw.bandwidth, 1e9, src.bandwidth.as_ref()),
                cell(hw.memory, 1e9, src.memory.as_ref()),
                hw.memory_technology
                    .map_or_else(|| "-".to_string(), |m| m.name().to_string()),
                format!(
                    "{}/{}",
                    fmt_num(hw.efficiency_compute),
                    fmt_num(hw.efficiency_memory)
                ),
                fmt_num(hw.launch * 1e6),
            ]
        })
        .collect();
    let mut out = table(
        &[
            "ID",
            "NAME",
            "FP16 TFLOPS",
            "INT8 TOPS",
            "BW GB/s",
            "MEM GB",
            "DRAM",
            "EFF C/M",
            "LAUNCH us",
        ],
        &rows,
        &[false, false, true, true, true, true, false, true, true],
    );
    out.push_str(
        "\n* derived, not quoted from a datasheet. Peaks are dense (no structured sparsity).\n\
         `rooflaw presets hardware ID` shows every value with its source.\n",
    );
    out
}

fn hardware_detail(p: &HardwarePreset) -> String {
    let (hw, src) = (&p.hardware, &p.sources);
    let mut out = format!("{} ({})\n", hw.name, hw.id);
    let mut line = |field: &str, value: String, source: Option<&Source>| {
        let tag = match source {
            Some(s) if s.derived => "  [derived]",
            Some(_) => "",
            None => "  [no source]",
        };
        let _ = writeln!(out, "  {field:<20}{value}{tag}");
        if let Some(s) = source {
            let _ = writeln!(out, "      source: {}", s.source);
            if let Some(n) = &s.note {
                let _ = writeln!(out, "      note:   {n}");
            }
        }
    };
    for (d, v) in &hw.peak {
        let unit = if matches!(d, Dtype::Int8 | Dtype::Int4) {
            "TOPS"
        } else {
            "TFLOPS"
        };
        line(
            &format!("peak.{}", d.name()),
            format!("{} {unit}", fmt_num(v / 1e12)),
            src.peak.get(d),
        );
    }
    line(
        "bandwidth",
        Quantity::new(hw.bandwidth, Dim::BANDWIDTH).to_string(),
        src.bandwidth.as_ref(),
    );
    line(
        "memory",
        Quantity::new(hw.memory, Dim::BYTES).to_string(),
        src.memory.as_ref(),
    );
    line(
        "efficiency.compute",
        fmt_num(hw.efficiency_compute),
        src.efficiency_compute.as_ref(),
    );
    line(
        "efficiency.memory",
        fmt_num(hw.efficiency_memory),
        src.efficiency_memory.as_ref(),
    );
    if let Some(v) = hw.efficiency_vector {
        line(
            "efficiency.vector",
            fmt_num(v),
            src.efficiency_vector.as_ref(),
        );
    }
    line(
        "launch",
        Quantity::new(hw.launch, Dim::TIME).to_string(),
        src.launch.as_ref(),
    );
    if let Some(m) = hw.memory_technology {
        line(
            "memory_technology",
            m.name().to_string(),
            src.memory_technology.as_ref(),
        );
    }
    out
}

/// A model preset with the counts computed from its shape, as listings and
/// `--format json` show it.
#[derive(Serialize)]
struct ModelRow<'a> {
    id: &'a str,
    name: &'a str,
    hf_repo: &'a str,
    config_source: &'a str,
    params_total: u64,
    params_active: u64,
    params_non_embedding: u64,
    published: &'a models::PublishedCount,
    arch: &'a rooflaw_stdlib::Architecture,
}

impl<'a> From<&'a ModelPreset> for ModelRow<'a> {
    fn from(p: &'a ModelPreset) -> Self {
        ModelRow {
            id: &p.id,
            name: &p.name,
            hf_repo: &p.hf_repo,
            config_source: &p.config_source,
            params_total: p.arch.params_total(),
            params_active: p.arch.params_active(),
            params_non_embedding: p.arch.params_non_embedding(),
            published: &p.params,
            arch: &p.arch,
        }
    }
}

/// `494.0M`, `6.74B`: three significant digits, enough to tell models apart.
fn count(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.2}B", n / 1e9)
    } else {
        format!("{:.1}M", n / 1e6)
    }
}

fn model_table(rows: &[ModelRow]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                r.name.to_string(),
                count(r.params_total),
                count(r.params_active),
                count(r.params_non_embedding),
                r.hf_repo.to_string(),
            ]
        })
        .collect();
    table(
        &["ID", "NAME", "PARAMS", "ACTIVE", "NON-EMB", "HF REPO"],
        &cells,
        &[false, false, true, true, true, false],
    )
}

fn model_detail(r: &ModelRow) -> String {
    let a = r.arch;
    let mut out = format!("{} ({})\n", r.name, r.id);
    let _ = writeln!(out, "  hf repo            {}", r.hf_repo);
    let _ = writeln!(out, "  shape from         {}", r.config_source);
    let _ = writeln!(
        out,
        "  params total       {} (published {}{})",
        r.params_total,
        r.published.total,
        if r.published.truncated_to == 0 {
            String::new()
        } else {
            format!(", truncated to {}", r.published.truncated_to)
        }
    );
    let _ = writeln!(out, "      source: {}", r.published.source);
    if let Some(n) = &r.published.note {
        let _ = writeln!(out, "      note:   {n}");
    }
    let _ = writeln!(out, "  params active      {}", r.params_active);
    let _ = writeln!(out, "  params non-emb     {}", r.params_non_embedding);
    let _ = writeln!(
        out,
        "  shape              layers {} width {} heads {}/{} kv head_dim {} ffn {}{}",
        a.layers,
        a.width,
        a.heads,
        a.kv_heads,
        a.head_dim,
        a.ffn,
        if a.is_moe() {
            format!(" experts {} top-{}", a.experts, a.top_k)
        } else {
            String::new()
        }
    );
    let _ = writeln!(
        out,
        "  vocab              {}{}",
        a.vocab,
        if a.tied_embeddings { " (tied)" } else { "" }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardware_listing_has_every_preset_and_marks_derived_values() {
        let out = render(Kind::Hardware, None, Format::Text).unwrap();
        for id in hardware::ids() {
            assert!(
                out.lines().any(|l| l.starts_with(&format!("{id} "))),
                "{id} not listed"
            );
        }
        let a100 = out.lines().find(|l| l.starts_with("a100-80gb")).unwrap();
        let cols: Vec<&str> = a100
            .split("  ")
            .filter(|c| !c.is_empty())
            .map(str::trim)
            .collect();
        assert_eq!(
            cols,
            [
                "a100-80gb",
                "NVIDIA A100 80GB SXM",
                "312",
                "624",
                "2039",
                "80",
                "hbm2e",
                "0.7/0.76",
                "5"
            ]
        );
        let orin = out
            .lines()
            .find(|l| l.starts_with("jetson-agx-orin-64gb"))
            .unwrap();
        assert!(orin.contains("42.6*"), "{orin}");
    }

    #[test]
    fn hardware_detail_shows_sources() {
        let out = render(Kind::Hardware, Some("h100-sxm"), Format::Text).unwrap();
        assert!(
            out.contains("peak.fp16           989.5 TFLOPS  [derived]"),
            "{out}"
        );
        assert!(
            out.contains("source: NVIDIA H100 Tensor Core GPU data sheet"),
            "{out}"
        );
    }

    #[test]
    fn json_lists_values_in_si_units_with_sources() {
        let out = render(Kind::Hardware, None, Format::Json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let h200 = v
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["id"] == "h200")
            .unwrap();
        assert_eq!(h200["bandwidth"], 4.8e12);
        assert_eq!(h200["sources"]["peak"]["fp16"]["derived"], true);

        let out = render(Kind::Models, None, Format::Json).unwrap();
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let llama = v
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["id"] == "llama-2-7b")
            .unwrap();
        assert_eq!(llama["params_total"], 6_738_415_616_u64);
        assert_eq!(llama["hf_repo"], "meta-llama/Llama-2-7b-hf");
    }

    #[test]
    fn yaml_writes_a_preset_that_loads_back_unchanged() {
        for id in ["rtx-3090", "apple-m2-10c", "snapdragon-x-elite-npu"] {
            let out = render(Kind::Hardware, Some(id), Format::Yaml).unwrap();
            assert!(out.starts_with("# Hardware preset `"), "{out}");
            let back = hardware::from_yaml(&out).unwrap();
            let original = hardware::resolve_preset(id).unwrap();
            assert_eq!(back.hardware.id, original.hardware.id);
            assert_eq!(back.sources, original.sources, "{id}");
            assert_eq!(
                back.hardware.memory_technology,
                original.hardware.memory_technology
            );
            assert_eq!(back.hardware.peak.len(), original.hardware.peak.len());
        }
        let out = render(Kind::Hardware, Some("apple-m2-10c"), Format::Yaml).unwrap();
        assert!(out.contains("\nid: apple-m2\n"), "{out}");
        assert!(out.contains("memory_technology:"), "{out}");
    }

    #[test]
    fn yaml_without_one_hardware_preset_says_what_to_give() {
        let e = render(Kind::Hardware, None, Format::Yaml)
            .unwrap_err()
            .to_string();
        assert!(e.contains("name it"), "{e}");
        let e = render(Kind::Models, Some("llama-2-7b"), Format::Yaml)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--format json"), "{e}");
    }

    #[test]
    fn model_listing_shows_counts() {
        let out = render(Kind::Models, None, Format::Text).unwrap();
        let row = out
            .lines()
            .find(|l| l.starts_with("qwen3-30b-a3b"))
            .unwrap();
        assert!(
            row.contains("30.53B") && row.contains("Qwen/Qwen3-30B-A3B"),
            "{row}"
        );
        assert_eq!(out.lines().count(), 21);
    }

    #[test]
    fn unknown_ids_suggest_the_nearest() {
        let e = render(Kind::Models, Some("llama-2-7"), Format::Text)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "unknown model preset `llama-2-7`; did you mean `llama-2-7b`?"
        );
        let e = render(Kind::Hardware, Some("tpu"), Format::Text)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "unknown hardware preset `tpu` (`rooflaw presets hardware` lists them)"
        );
    }
}
