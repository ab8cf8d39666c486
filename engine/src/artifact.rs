//! What stages produce and consume: columnar tables and JSON documents, with
//! a compact binary encoding so a million-row table loads in milliseconds.
use std::io::Write;

use serde::{Deserialize, Serialize};

/// A stage output. `kind` names what it holds (`candidates`, `latency`,
/// `law`, ...) so stages can check their inputs.
#[derive(Clone, Debug, PartialEq)]
pub struct Artifact {
    pub kind: String,
    pub body: Body,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Body {
    Table(Table),
    Json(serde_json::Value),
}

impl Artifact {
    pub fn table(kind: impl Into<String>, table: Table) -> Self {
        Self {
            kind: kind.into(),
            body: Body::Table(table),
        }
    }

    pub fn json(kind: impl Into<String>, value: serde_json::Value) -> Self {
        Self {
            kind: kind.into(),
            body: Body::Json(value),
        }
    }

    pub fn as_table(&self) -> Option<&Table> {
        match &self.body {
            Body::Table(t) => Some(t),
            Body::Json(_) => None,
        }
    }

    pub fn as_json(&self) -> Option<&serde_json::Value> {
        match &self.body {
            Body::Json(v) => Some(v),
            Body::Table(_) => None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Column {
    F64(Vec<f64>),
    F32(Vec<f32>),
    I64(Vec<i64>),
    /// Architecture fields: half the bytes of i64 on million-row tables.
    I32(Vec<i32>),
    Str(Vec<String>),
}

impl Column {
    pub fn len(&self) -> usize {
        match self {
            Column::F64(v) => v.len(),
            Column::F32(v) => v.len(),
            Column::I64(v) => v.len(),
            Column::I32(v) => v.len(),
            Column::Str(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of this column's body in [`Artifact::encode`].
    fn encoded_len(&self) -> usize {
        match self {
            Column::F64(v) => v.len() * 8,
            Column::F32(v) => v.len() * 4,
            Column::I64(v) => v.len() * 8,
            Column::I32(v) => v.len() * 4,
            Column::Str(v) => v.iter().map(|s| 4 + s.len()).sum(),
        }
    }

    fn type_name(&self) -> &'static str {
        match self {
            Column::F64(_) => "f64",
            Column::F32(_) => "f32",
            Column::I64(_) => "i64",
            Column::I32(_) => "i32",
            Column::Str(_) => "str",
        }
    }

    /// Numeric value of row `i` (strings are NaN).
    pub fn f64_at(&self, i: usize) -> f64 {
        match self {
            Column::F64(v) => v[i],
            Column::F32(v) => f64::from(v[i]),
            Column::I64(v) => v[i] as f64,
            Column::I32(v) => f64::from(v[i]),
            Column::Str(_) => f64::NAN,
        }
    }

    fn write_cell(&self, i: usize, out: &mut String) {
        use std::fmt::Write as _;
        match self {
            Column::F64(v) => {
                let _ = write!(out, "{}", v[i]);
            }
            Column::F32(v) => {
                let _ = write!(out, "{}", v[i]);
            }
            Column::I64(v) => {
                let _ = write!(out, "{}", v[i]);
            }
            Column::I32(v) => {
                let _ = write!(out, "{}", v[i]);
            }
            Column::Str(v) => out.push_str(&v[i]),
        }
    }
}

/// Named columns of equal length.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub columns: Vec<(String, Column)>,
    /// Free-form facts about the table (units, how many candidates were
    /// dropped and why) that travel with it.
    pub meta: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("not a rooflaw artifact (bad magic)")]
    Magic,
    #[error("truncated artifact")]
    Truncated,
    #[error("bad artifact header: {0}")]
    Header(String),
}

impl Table {
    pub fn new() -> Self {
        Self::default()
    }

    #[must_use]
    pub fn with(mut self, name: impl Into<String>, col: Column) -> Self {
        self.push(name, col);
        self
    }

    pub fn push(&mut self, name: impl Into<String>, col: Column) {
        debug_assert!(self.columns.is_empty() || self.columns[0].1.len() == col.len());
        self.columns.push((name.into(), col));
    }

    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |(_, c)| c.len())
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|(n, _)| n == name).map(|(_, c)| c)
    }

    pub fn f64s(&self, name: &str) -> Option<&[f64]> {
        match self.column(name)? {
            Column::F64(v) => Some(v),
            _ => None,
        }
    }

    pub fn i64s(&self, name: &str) -> Option<&[i64]> {
        match self.column(name)? {
            Column::I64(v) => Some(v),
            _ => None,
        }
    }

    pub fn i32s(&self, name: &str) -> Option<&[i32]> {
        match self.column(name)? {
            Column::I32(v) => Some(v),
            _ => None,
        }
    }

    pub fn strs(&self, name: &str) -> Option<&[String]> {
        match self.column(name)? {
            Column::Str(v) => Some(v),
            _ => None,
        }
    }

    /// The rows at `idx`, in that order.
    #[must_use]
    pub fn select(&self, idx: &[usize]) -> Table {
        let columns = self
            .columns
            .iter()
            .map(|(n, c)| {
                let c = match c {
                    Column::F64(v) => Column::F64(idx.iter().map(|&i| v[i]).collect()),
                    Column::F32(v) => Column::F32(idx.iter().map(|&i| v[i]).collect()),
                    Column::I64(v) => Column::I64(idx.iter().map(|&i| v[i]).collect()),
                    Column::I32(v) => Column::I32(idx.iter().map(|&i| v[i]).collect()),
                    Column::Str(v) => Column::Str(idx.iter().map(|&i| v[i].clone()).collect()),
                };
                (n.clone(), c)
            })
            .collect();
        Table {
            columns,
            meta: self.meta.clone(),
        }
    }

    /// CSV with a header row, loadable by pandas and polars as is.
    pub fn to_csv(&self) -> String {
        let mut out = String::new();
        let names: Vec<String> = self.columns.iter().map(|(n, _)| csv_field(n)).collect();
        out.push_str(&names.join(","));
        out.push('\n');
        let mut cell = String::new();
        for i in 0..self.rows() {
            for (j, (_, c)) in self.columns.iter().enumerate() {
                if j > 0 {
                    out.push(',');
                }
                cell.clear();
                c.write_cell(i, &mut cell);
                if matches!(c, Column::Str(_)) {
                    out.push_str(&csv_field(&cell));
                } else {
                    out.push_str(&cell);
                }
            }
            out.push('\n');
        }
        out
    }

    /// Records (`[{col: value, ...}, ...]`), the layout `pandas.read_json` reads.
    pub fn to_records(&self) -> serde_json::Value {
        let rows = (0..self.rows())
            .map(|i| {
                let obj = self
                    .columns
                    .iter()
                    .map(|(n, c)| {
                        let v = match c {
                            Column::Str(s) => serde_json::Value::from(s[i].clone()),
                            Column::I64(v) => serde_json::Value::from(v[i]),
                            Column::I32(v) => serde_json::Value::from(v[i]),
                            c => serde_json::Number::from_f64(c.f64_at(i))
                                .map_or(serde_json::Value::Null, serde_json::Value::Number),
                        };
                        (n.clone(), v)
                    })
                    .collect();
                serde_json::Value::Object(obj)
            })
            .collect();
        serde_json::Value::Array(rows)
    }
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

const MAGIC: &[u8; 8] = b"RFLWART1";

#[derive(Serialize, Deserialize)]
struct Header {
    kind: String,
    /// "table" or "json"
    body: String,
    #[serde(default)]
    columns: Vec<(String, String, usize)>,
    #[serde(default)]
    meta: serde_json::Map<String, serde_json::Value>,
}

impl Artifact {
    /// Binary form: magic, header length, JSON header, then raw
    /// little-endian column buffers. Decoding is a few memcpys.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        match &self.body {
            Body::Json(v) => {
                let header = Header {
                    kind: self.kind.clone(),
                    body: "json".into(),
                    columns: vec![],
                    meta: serde_json::Map::default(),
                };
                write_header(&mut out, &header);
                // serde_json of a Value cannot fail.
                serde_json::to_writer(&mut out, v).expect("json value serialises");
            }
            Body::Table(t) => {
                let header = Header {
                    kind: self.kind.clone(),
                    body: "table".into(),
                    columns: t
                        .columns
                        .iter()
                        .map(|(n, c)| (n.clone(), c.type_name().into(), c.len()))
                        .collect(),
                    meta: t.meta.clone(),
                };
                write_header(&mut out, &header);
                // One allocation: growing a buffer of a million-row table by
                // doubling costs more in page faults than the encoding itself.
                out.reserve_exact(t.columns.iter().map(|(_, c)| c.encoded_len()).sum());
                for (_, c) in &t.columns {
                    match c {
                        Column::F64(v) => v
                            .iter()
                            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                        Column::F32(v) => v
                            .iter()
                            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                        Column::I64(v) => v
                            .iter()
                            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                        Column::I32(v) => v
                            .iter()
                            .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
                        Column::Str(v) => {
                            for s in v {
                                out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                                out.write_all(s.as_bytes()).expect("vec write");
                            }
                        }
                    }
                }
            }
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Artifact, DecodeError> {
        let rest = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or(DecodeError::Magic)?;
        let (len, rest) = split(rest, 4)?;
        let len = u32::from_le_bytes(len.try_into().expect("4 bytes")) as usize;
        let (header, mut rest) = split(rest, len)?;
        let header: Header =
            serde_json::from_slice(header).map_err(|e| DecodeError::Header(e.to_string()))?;
        if header.body == "json" {
            let v = serde_json::from_slice(rest).map_err(|e| DecodeError::Header(e.to_string()))?;
            return Ok(Artifact::json(header.kind, v));
        }
        let mut table = Table {
            columns: Vec::with_capacity(header.columns.len()),
            meta: header.meta,
        };
        for (name, ty, n) in header.columns {
            let col = match ty.as_str() {
                "f64" => {
                    let (b, r) = split(rest, n * 8)?;
                    rest = r;
                    Column::F64(
                        b.chunks_exact(8)
                            .map(|c| f64::from_le_bytes(c.try_into().expect("8")))
                            .collect(),
                    )
                }
                "f32" => {
                    let (b, r) = split(rest, n * 4)?;
                    rest = r;
                    Column::F32(
                        b.chunks_exact(4)
                            .map(|c| f32::from_le_bytes(c.try_into().expect("4")))
                            .collect(),
                    )
                }
                "i64" => {
                    let (b, r) = split(rest, n * 8)?;
                    rest = r;
                    Column::I64(
                        b.chunks_exact(8)
                            .map(|c| i64::from_le_bytes(c.try_into().expect("8")))
                            .collect(),
                    )
                }
                "i32" => {
                    let (b, r) = split(rest, n * 4)?;
                    rest = r;
                    Column::I32(
                        b.chunks_exact(4)
                            .map(|c| i32::from_le_bytes(c.try_into().expect("4")))
                            .collect(),
                    )
                }
                "str" => {
                    let mut v = Vec::with_capacity(n);
                    for _ in 0..n {
                        let (l, r) = split(rest, 4)?;
                        let l = u32::from_le_bytes(l.try_into().expect("4")) as usize;
                        let (s, r) = split(r, l)?;
                        v.push(String::from_utf8_lossy(s).into_owned());
                        rest = r;
                    }
                    Column::Str(v)
                }
                other => return Err(DecodeError::Header(format!("unknown column type {other}"))),
            };
            table.columns.push((name, col));
        }
        Ok(Artifact::table(header.kind, table))
    }
}

fn write_header(out: &mut Vec<u8>, header: &Header) {
    let h = serde_json::to_vec(header).expect("header serialises");
    out.extend_from_slice(&(h.len() as u32).to_le_bytes());
    out.extend_from_slice(&h);
}

fn split(b: &[u8], n: usize) -> Result<(&[u8], &[u8]), DecodeError> {
    if b.len() < n {
        Err(DecodeError::Truncated)
    } else {
        Ok(b.split_at(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_round_trips() {
        let t = Table::new()
            .with("x", Column::F64(vec![1.0, 2.5]))
            .with("n", Column::I64(vec![3, -4]))
            .with("f", Column::F32(vec![0.5, 1.5]))
            .with("s", Column::Str(vec!["a,b".into(), "c".into()]));
        let a = Artifact::table("t", t);
        assert_eq!(Artifact::decode(&a.encode()).unwrap(), a);
        let csv = a.as_table().unwrap().to_csv();
        assert_eq!(csv, "x,n,f,s\n1,3,0.5,\"a,b\"\n2.5,-4,1.5,c\n");
    }

    #[test]
    fn truncated_input_is_an_error_not_a_panic() {
        let a = Artifact::table("t", Table::new().with("x", Column::F64(vec![1.0; 10])));
        let bytes = a.encode();
        for cut in [0, 5, 12, bytes.len() - 1] {
            assert!(Artifact::decode(&bytes[..cut]).is_err());
        }
    }
}
