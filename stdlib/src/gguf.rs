//! A GGUF file's header as a model: the architecture from its metadata and
//! tensor shapes, and every tensor's real type and size, so a prediction
//! reads exactly the bytes in the file. Only the header is read (metadata
//! and tensor infos, a few MB even for a tokenizer of 150k entries); the
//! weights, many GB, are never touched.
//!
//! rooflaw reads the header itself rather than through candle's
//! `gguf_file`, which rejects every tensor type it cannot compute with
//! (the I-quants, TQ and MXFP4 of most published files); the tests check
//! the two readers agree on files candle writes.
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::arch::{ArchError, Architecture, Norm};
use crate::format::{Class, FileBytes, GgmlType, Mix};
use crate::precision::Precision;

/// Bounds that keep a corrupt header from asking for absurd allocations
/// (llama.cpp's own `GGUF_MAX_*` limits are of the same order).
const MAX_STRING: u64 = 1 << 26;
const MAX_COUNT: u64 = 1 << 24;
const MAX_DEPTH: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("{path}: cannot read: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: not a GGUF file (it does not start with `GGUF`)")]
    Magic { path: String },
    #[error("{path}: GGUF version {version} is not supported (versions 2 and 3 are)")]
    Version { path: String, version: u32 },
    #[error("{path}: the header is cut short or corrupt: {what}")]
    Corrupt { path: String, what: String },
    #[error("{path}: tensor `{tensor}` has ggml type id {id}, which rooflaw does not know")]
    UnknownType {
        path: String,
        tensor: String,
        id: u32,
    },
    #[error("{path}: metadata has no `{key}`")]
    Missing { path: String, key: String },
    #[error("{path}: {what}")]
    Unsupported { path: String, what: String },
    #[error("{path}: architecture: {source}")]
    Invalid {
        path: String,
        #[source]
        source: ArchError,
    },
}

/// One tensor info of the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the row length.
    pub dims: Vec<u64>,
    pub ty: GgmlType,
}

impl TensorInfo {
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }

    pub fn bytes(&self) -> u64 {
        self.ty.bytes(self.elements())
    }
}

/// A scalar metadata value (arrays are kept as their length).
#[derive(Clone, Debug, PartialEq)]
pub enum Meta {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    Array(u64),
}

/// The parsed header.
#[derive(Clone, Debug, Default)]
pub struct Header {
    pub version: u32,
    pub metadata: HashMap<String, Meta>,
    pub tensors: Vec<TensorInfo>,
}

/// What a GGUF file gives the roofline.
#[derive(Clone, Debug)]
pub struct GgufModel {
    /// `general.name`, or the file name.
    pub name: String,
    /// `general.architecture`: `llama`, `qwen2`, ...
    pub family: String,
    pub arch: Architecture,
    /// The file's own tensor types, summed per class.
    pub bytes: FileBytes,
}

impl GgufModel {
    /// The precision of the file: its tensor types, llama.cpp's f16 cache.
    pub fn precision(&self) -> Precision {
        Precision::of_file(self.bytes)
    }
}

/// Reads the header of `path` and the model it describes.
pub fn read(path: &Path) -> Result<GgufModel, GgufError> {
    let shown = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|source| GgufError::Io {
        path: shown.clone(),
        source,
    })?;
    let header = read_header(BufReader::new(file), &shown)?;
    let fallback = path
        .file_stem()
        .map_or_else(|| shown.clone(), |s| s.to_string_lossy().into_owned());
    model(&header, &shown, &fallback)
}

struct Cursor<'a, R> {
    r: R,
    path: &'a str,
}

impl<R: BufRead> Cursor<'_, R> {
    fn corrupt(&self, what: impl Into<String>) -> GgufError {
        GgufError::Corrupt {
            path: self.path.to_owned(),
            what: what.into(),
        }
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        let mut b = [0; N];
        self.r.read_exact(&mut b).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => self.corrupt("unexpected end of file"),
            _ => GgufError::Io {
                path: self.path.to_owned(),
                source: e,
            },
        })?;
        Ok(b)
    }

    fn u32(&mut self) -> Result<u32, GgufError> {
        self.bytes().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, GgufError> {
        self.bytes().map(u64::from_le_bytes)
    }

    fn count(&mut self, what: &str) -> Result<u64, GgufError> {
        let n = self.u64()?;
        if n > MAX_COUNT {
            return Err(self.corrupt(format!("{what} count {n} is implausible")));
        }
        Ok(n)
    }

    fn skip(&mut self, mut n: u64) -> Result<(), GgufError> {
        while n > 0 {
            let buf = self.r.fill_buf().map_err(|source| GgufError::Io {
                path: self.path.to_owned(),
                source,
            })?;
            if buf.is_empty() {
                return Err(self.corrupt("unexpected end of file"));
            }
            let k = buf.len().min(usize::try_from(n).unwrap_or(usize::MAX));
            self.r.consume(k);
            n -= k as u64;
        }
        Ok(())
    }

    fn string(&mut self) -> Result<String, GgufError> {
        let n = self.u64()?;
        if n > MAX_STRING {
            return Err(self.corrupt(format!("a string of {n} bytes")));
        }
        let mut buf = vec![0; n as usize];
        self.r
            .read_exact(&mut buf)
            .map_err(|_| self.corrupt("unexpected end of file in a string"))?;
        String::from_utf8(buf).map_err(|_| self.corrupt("a string is not UTF-8"))
    }

    /// A value of GGUF type `ty`; arrays are skipped and kept as their length.
    fn value(&mut self, ty: u32, depth: usize) -> Result<Meta, GgufError> {
        Ok(match ty {
            0 => Meta::Int(i64::from(self.bytes::<1>()?[0])),
            1 => Meta::Int(i64::from(i8::from_le_bytes(self.bytes()?))),
            2 => Meta::Int(i64::from(u16::from_le_bytes(self.bytes()?))),
            3 => Meta::Int(i64::from(i16::from_le_bytes(self.bytes()?))),
            4 => Meta::Int(i64::from(self.u32()?)),
            5 => Meta::Int(i64::from(i32::from_le_bytes(self.bytes()?))),
            6 => Meta::Float(f64::from(f32::from_le_bytes(self.bytes()?))),
            7 => Meta::Bool(self.bytes::<1>()?[0] != 0),
            8 => Meta::Str(self.string()?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(self.corrupt("arrays nested too deep"));
                }
                let elem = self.u32()?;
                let n = self.count("array")?;
                match elem_size(elem) {
                    Some(size) => self.skip(n * size)?,
                    None => {
                        for _ in 0..n {
                            self.value(elem, depth + 1)?;
                        }
                    }
                }
                Meta::Array(n)
            }
            10 => Meta::Int(i64::try_from(self.u64()?).unwrap_or(i64::MAX)),
            11 => Meta::Int(i64::from_le_bytes(self.bytes()?)),
            12 => Meta::Float(f64::from_le_bytes(self.bytes()?)),
            _ => return Err(self.corrupt(format!("unknown metadata value type {ty}"))),
        })
    }
}

/// Bytes of one array element of a fixed-size GGUF type.
fn elem_size(ty: u32) -> Option<u64> {
    match ty {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

/// Parses the header of a GGUF stream (`path` names it in errors).
pub fn read_header(r: impl BufRead, path: &str) -> Result<Header, GgufError> {
    let mut c = Cursor { r, path };
    if &c.bytes::<4>().map_err(|_| GgufError::Magic {
        path: path.to_owned(),
    })? != b"GGUF"
    {
        return Err(GgufError::Magic {
            path: path.to_owned(),
        });
    }
    let version = c.u32()?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::Version {
            path: path.to_owned(),
            version,
        });
    }
    let n_tensors = c.count("tensor")?;
    let n_kv = c.count("metadata")?;
    let mut metadata = HashMap::new();
    for _ in 0..n_kv {
        let key = c.string()?;
        let ty = c.u32()?;
        let v = c.value(ty, 0)?;
        metadata.insert(key, v);
    }
    let mut tensors = Vec::with_capacity(n_tensors as usize);
    for _ in 0..n_tensors {
        let name = c.string()?;
        let n_dims = c.u32()?;
        if n_dims == 0 || n_dims > 4 {
            return Err(c.corrupt(format!("tensor `{name}` has {n_dims} dimensions")));
        }
        let dims = (0..n_dims)
            .map(|_| c.u64())
            .collect::<Result<Vec<_>, _>>()?;
        let id = c.u32()?;
        let _offset = c.u64()?;
        let ty = GgmlType::from_id(id).ok_or_else(|| GgufError::UnknownType {
            path: path.to_owned(),
            tensor: name.clone(),
            id,
        })?;
        tensors.push(TensorInfo { name, dims, ty });
    }
    Ok(Header {
        version,
        metadata,
        tensors,
    })
}

impl Header {
    fn int(&self, key: &str) -> Option<u64> {
        match self.metadata.get(key)? {
            Meta::Int(v) => u64::try_from(*v).ok(),
            _ => None,
        }
    }

    fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
}

fn u32_of(v: u64, path: &str, what: &str) -> Result<u32, GgufError> {
    u32::try_from(v).map_err(|_| GgufError::Unsupported {
        path: path.to_owned(),
        what: format!("{what} = {v} is out of range"),
    })
}

/// The architecture and the per-class bytes of a parsed header.
#[allow(clippy::too_many_lines)] // one reading of the header, key by key
pub fn model(h: &Header, path: &str, fallback_name: &str) -> Result<GgufModel, GgufError> {
    let unsupported = |what: String| GgufError::Unsupported {
        path: path.to_owned(),
        what,
    };
    let family = match h.metadata.get("general.architecture") {
        Some(Meta::Str(s)) => s.clone(),
        _ => {
            return Err(GgufError::Missing {
                path: path.to_owned(),
                key: "general.architecture".into(),
            });
        }
    };
    let key = |k: &str| format!("{family}.{k}");
    let need = |k: &str| -> Result<u64, GgufError> {
        let full = key(k);
        match h.metadata.get(&full) {
            Some(Meta::Int(v)) if *v >= 0 => Ok(*v as u64),
            Some(Meta::Array(_)) => Err(unsupported(format!(
                "`{full}` varies per layer, which rooflaw does not model"
            ))),
            _ => Err(GgufError::Missing {
                path: path.to_owned(),
                key: full,
            }),
        }
    };
    let shape = |name: &str| h.tensor(name).map(|t| t.dims.clone());
    let embd = shape("token_embd.weight").ok_or_else(|| GgufError::Missing {
        path: path.to_owned(),
        key: "tensor token_embd.weight".into(),
    })?;
    let width = need("embedding_length")?;
    let vocab = embd.get(1).copied().unwrap_or(0);
    let layers = need("block_count")?;
    let heads = need("attention.head_count")?;
    let kv_heads = h.int(&key("attention.head_count_kv")).unwrap_or(heads);
    let q_dim = match shape("blk.0.attn_q.weight") {
        Some(d) => d.get(1).copied().unwrap_or(0),
        None if h.tensor("blk.0.attn_qkv.weight").is_some() => {
            return Err(unsupported(format!(
                "`{family}` stores Q, K and V fused in one tensor (attn_qkv), which rooflaw does \
                 not split; use the model's config.json"
            )));
        }
        None => {
            return Err(unsupported(format!(
                "`{family}` has no blk.0.attn_q.weight: its attention layout is not modelled"
            )));
        }
    };
    let head_dim = h
        .int(&key("attention.key_length"))
        .unwrap_or_else(|| q_dim.checked_div(heads).unwrap_or(0));
    let experts = h.int(&key("expert_count")).unwrap_or(0).max(1);
    let top_k = if experts > 1 {
        need("expert_used_count")?
    } else {
        1
    };
    let (ffn, gated) = if experts > 1 {
        let up = shape("blk.0.ffn_up_exps.weight").ok_or_else(|| {
            unsupported("a mixture of experts without blk.0.ffn_up_exps.weight (experts stored one tensor each) is not modelled".into())
        })?;
        (up[1], h.tensor("blk.0.ffn_gate_exps.weight").is_some())
    } else {
        let up = shape("blk.0.ffn_up.weight").ok_or_else(|| {
            unsupported(format!(
                "`{family}` has no blk.0.ffn_up.weight: its FFN layout is not modelled"
            ))
        })?;
        (up[1], h.tensor("blk.0.ffn_gate.weight").is_some())
    };
    let shared_ffn = shape("blk.0.ffn_up_shexp.weight").map_or(0, |d| d[1]);
    let qk_norm = shape("blk.0.attn_q_norm.weight");
    let norms_per_layer = h
        .tensors
        .iter()
        .filter(|t| {
            t.name.starts_with("blk.0.")
                && t.name.ends_with("_norm.weight")
                && !t.name.contains("attn_q_norm")
                && !t.name.contains("attn_k_norm")
        })
        .count() as u64;
    let arch = Architecture {
        layers: u32_of(layers, path, "block_count")?,
        width: u32_of(width, path, "embedding_length")?,
        heads: u32_of(heads, path, "head_count")?,
        kv_heads: u32_of(kv_heads, path, "head_count_kv")?,
        head_dim: u32_of(head_dim, path, "key_length")?,
        ffn: u32_of(ffn, path, "feed_forward_length")?,
        gated,
        experts: u32_of(experts, path, "expert_count")?,
        top_k: u32_of(top_k, path, "expert_used_count")?,
        shared_experts: u32::from(shared_ffn > 0),
        shared_ffn: u32_of(shared_ffn, path, "expert_shared_feed_forward_length")?,
        vocab: u32_of(vocab, path, "vocab")?,
        tied_embeddings: h.tensor("output.weight").is_none(),
        qkv_bias: h.tensor("blk.0.attn_q.bias").is_some(),
        qk_norm: qk_norm.is_some(),
        qk_norm_full: qk_norm.is_some_and(|d| d[0] != head_dim),
        shared_expert_gate: h.tensor("blk.0.ffn_gate_inp_shexp.weight").is_some(),
        norm: if h.tensor("blk.0.attn_norm.bias").is_some() {
            Norm::Layer
        } else {
            Norm::Rms
        },
        norms_per_layer: u32_of(norms_per_layer.max(1), path, "norms per layer")?,
        max_context: h
            .int(&key("context_length"))
            .and_then(|v| u32::try_from(v).ok()),
    };
    arch.validate().map_err(|source| GgufError::Invalid {
        path: path.to_owned(),
        source,
    })?;

    let mut bytes = FileBytes {
        mix: h
            .int("general.file_type")
            .and_then(|v| u32::try_from(v).ok())
            .and_then(Mix::from_file_type),
        ..FileBytes::default()
    };
    let mut modelled = 0_u64;
    for t in &h.tensors {
        // The shared experts' gate is a vector of `width`, counted with the
        // norms; rope frequency tables and the like are not weights.
        let class = if t.name.contains("ffn_gate_inp_shexp") {
            Some(Class::Vector)
        } else {
            Class::of_gguf_name(&t.name)
        };
        if let Some(class) = class {
            bytes.add(class, t.bytes(), t.elements());
            modelled += t.elements();
        }
    }
    // The architecture read from the metadata must hold exactly the file's
    // weights, or the layout is one rooflaw does not model.
    if modelled != arch.params_total() {
        return Err(unsupported(format!(
            "the file's tensors hold {modelled} weights but the `{family}` architecture read from \
             its metadata has {}: this layout is not modelled",
            arch.params_total()
        )));
    }
    let name = match h.metadata.get("general.name") {
        Some(Meta::Str(s)) if !s.is_empty() => s.clone(),
        _ => fallback_name.to_owned(),
    };
    Ok(GgufModel {
        name,
        family,
        arch,
        bytes,
    })
}

#[cfg(test)]
mod tests;
