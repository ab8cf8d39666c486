//! Candidate architectures as stages pass them: either a lazy space (what
//! `enumerate` emits, so ten million candidates never sit in memory) or a
//! table with one row per architecture (what `sample` emits).
use rooflaw_dsl::spec::Space;
use rooflaw_engine::{Artifact, Column, StageError, Table};
use serde_json::{Value, json};

use crate::arch::{Architecture, Norm};
use crate::space::CompiledSpace;

/// The kind of a lazy candidates artifact.
pub const LAZY: &str = "candidates.space";
/// The kind of a materialised candidates table.
pub const TABLE: &str = "candidates";

/// Integer architecture columns, in table order.
const INT_COLS: &[&str] = &[
    "layers",
    "width",
    "heads",
    "kv_heads",
    "head_dim",
    "ffn",
    "experts",
    "top_k",
    "shared_experts",
    "shared_ffn",
    "vocab",
    "tied",
    "gated",
    "qk_norm",
    "qkv_bias",
];

fn int_fields(a: &Architecture) -> [i64; 15] {
    [
        a.layers.into(),
        a.width.into(),
        a.heads.into(),
        a.kv_heads.into(),
        a.head_dim.into(),
        a.ffn.into(),
        a.experts.into(),
        a.top_k.into(),
        a.shared_experts.into(),
        a.shared_ffn.into(),
        a.vocab.into(),
        a.tied_embeddings.into(),
        a.gated.into(),
        a.qk_norm.into(),
        a.qkv_bias.into(),
    ]
}

/// Column builders for architectures plus their derived figures.
#[derive(Default)]
pub struct ArchColumns {
    ints: Vec<Vec<i32>>,
    ffn_ratio: Vec<f64>,
    params: Vec<i64>,
    params_active: Vec<i64>,
}

impl ArchColumns {
    pub fn with_capacity(n: usize) -> Self {
        Self {
            ints: (0..INT_COLS.len()).map(|_| Vec::with_capacity(n)).collect(),
            ffn_ratio: Vec::with_capacity(n),
            params: Vec::with_capacity(n),
            params_active: Vec::with_capacity(n),
        }
    }

    pub fn push(&mut self, a: &Architecture) {
        if self.ints.is_empty() {
            self.ints = vec![Vec::new(); INT_COLS.len()];
        }
        for (col, v) in self.ints.iter_mut().zip(int_fields(a)) {
            col.push(v as i32);
        }
        self.ffn_ratio.push(a.ffn_ratio());
        // Parameter counts are far below 2^63.
        self.params.push(a.params_total().cast_signed());
        self.params_active.push(a.params_active().cast_signed());
    }

    pub fn append(&mut self, other: ArchColumns) {
        if self.ints.is_empty() {
            *self = other;
            return;
        }
        for (a, b) in self.ints.iter_mut().zip(other.ints) {
            a.extend(b);
        }
        self.ffn_ratio.extend(other.ffn_ratio);
        self.params.extend(other.params);
        self.params_active.extend(other.params_active);
    }

    pub fn into_columns(self, table: &mut Table) {
        let ints = if self.ints.is_empty() {
            vec![Vec::new(); INT_COLS.len()]
        } else {
            self.ints
        };
        for (name, col) in INT_COLS.iter().zip(ints) {
            table.push(*name, Column::I32(col));
        }
        table.push("ffn_ratio", Column::F64(self.ffn_ratio));
        table.push("params", Column::I64(self.params));
        table.push("params_active", Column::I64(self.params_active));
    }
}

/// The architecture in row `i` of a table with [`ArchColumns`].
pub fn arch_at(t: &Table, i: usize) -> Result<Architecture, StageError> {
    let get = |name: &str| -> Result<u32, StageError> {
        let col = t
            .column(name)
            .ok_or_else(|| StageError::new(format!("input table has no `{name}` column")))?;
        Ok(col.f64_at(i) as u32)
    };
    Ok(Architecture {
        layers: get("layers")?,
        width: get("width")?,
        heads: get("heads")?,
        kv_heads: get("kv_heads")?,
        head_dim: get("head_dim")?,
        ffn: get("ffn")?,
        gated: get("gated")? != 0,
        experts: get("experts")?,
        top_k: get("top_k")?,
        shared_experts: get("shared_experts")?,
        shared_ffn: get("shared_ffn")?,
        vocab: get("vocab")?,
        tied_embeddings: get("tied")? != 0,
        // Tables written before the column existed (and measurement CSVs)
        // may lack it: no bias, the default of every space.
        qkv_bias: t.column("qkv_bias").is_some_and(|c| c.f64_at(i) != 0.0),
        qk_norm: get("qk_norm")? != 0,
        norm: Norm::Rms,
        norms_per_layer: 2,
        qk_norm_full: false,
        shared_expert_gate: false,
        max_context: None,
    })
}

/// A short name of an architecture for plots and tables:
/// `L4 d256 kv2 r3 E8k2`.
pub(crate) fn label(a: &Architecture) -> String {
    let moe = if a.is_moe() {
        format!(" E{}k{}", a.experts, a.top_k)
    } else {
        String::new()
    };
    format!(
        "L{} d{} kv{} r{}{moe}",
        a.layers,
        a.width,
        a.kv_heads,
        crate::report::plain(a.ffn_ratio())
    )
}

/// A lazy candidates artifact: the span-free space, its count and drops.
pub(crate) fn lazy(space: &Value, count: u64, drops: &crate::space::Drops) -> Artifact {
    Artifact::json(
        LAZY,
        json!({
            "space": space,
            "count": count,
            "dropped_invalid": drops.invalid,
            "dropped_by_require": drops.required,
        }),
    )
}

/// Recompile the space a lazy artifact carries.
pub(crate) fn compile_lazy(a: &Artifact) -> Result<CompiledSpace, StageError> {
    let v = a
        .as_json()
        .ok_or_else(|| StageError::new("expected a candidates artifact"))?;
    let space: Space = serde_json::from_value(v["space"].clone())
        .map_err(|e| StageError::new(format!("corrupt candidates artifact: {e}")))?;
    CompiledSpace::compile(&space).map_err(|d| {
        StageError::new(d.first().map_or_else(
            || "the space does not compile".into(),
            |d| d.message.clone(),
        ))
    })
}

/// Apply `f` to every candidate, in parallel chunks, concatenating the
/// per-chunk results in enumeration order.
pub(crate) fn map_chunks<R: Send>(
    a: &Artifact,
    f: impl Fn(&mut dyn Iterator<Item = Architecture>) -> R + Sync,
) -> Result<Vec<R>, StageError> {
    use rayon::prelude::*;
    if a.kind == LAZY {
        let space = compile_lazy(a)?;
        let chunks = space.chunks(rayon::current_num_threads() * 8);
        return Ok(chunks
            .into_par_iter()
            .map(|mut e| f(&mut (&mut e).map(|c| c.arch)))
            .collect());
    }
    let t = a
        .as_table()
        .ok_or_else(|| StageError::new("expected a table of candidates"))?;
    let archs: Vec<Architecture> = (0..t.rows())
        .map(|i| arch_at(t, i))
        .collect::<Result<_, _>>()?;
    let n = rayon::current_num_threads() * 8;
    let size = archs.len().div_ceil(n).max(1);
    Ok(archs
        .par_chunks(size)
        .map(|c| f(&mut c.iter().cloned()))
        .collect())
}

/// The designs a stage that acts on architectures (train, measure) takes:
/// every candidate, or a search's chosen ones (its baseline and best).
pub fn designs(a: &Artifact) -> Result<Vec<Architecture>, StageError> {
    if a.kind == super::search::KIND {
        Ok(super::search::chosen(a)?
            .into_iter()
            .map(|c| c.arch)
            .collect())
    } else {
        all(a)
    }
}

/// Every candidate, materialised (for samples and small spaces).
pub(crate) fn all(a: &Artifact) -> Result<Vec<Architecture>, StageError> {
    Ok(map_chunks(a, |it| it.collect::<Vec<_>>())?
        .into_iter()
        .flatten()
        .collect())
}
