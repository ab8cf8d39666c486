use super::*;
use crate::format::GgmlType as G;
use crate::roofline;
use crate::workload::Workload;

/// A GGUF writer for tests: metadata and tensor infos, then zeroed data.
#[derive(Default)]
struct Writer {
    kv: Vec<u8>,
    n_kv: u64,
    infos: Vec<u8>,
    n_tensors: u64,
    data: u64,
}

impl Writer {
    fn string(out: &mut Vec<u8>, s: &str) {
        out.extend((s.len() as u64).to_le_bytes());
        out.extend(s.as_bytes());
    }

    fn u32(mut self, key: &str, v: u32) -> Self {
        Self::string(&mut self.kv, key);
        self.kv.extend(4_u32.to_le_bytes());
        self.kv.extend(v.to_le_bytes());
        self.n_kv += 1;
        self
    }

    fn str(mut self, key: &str, v: &str) -> Self {
        Self::string(&mut self.kv, key);
        self.kv.extend(8_u32.to_le_bytes());
        Self::string(&mut self.kv, v);
        self.n_kv += 1;
        self
    }

    /// An array of strings, as a tokenizer's vocabulary is stored.
    fn strings(mut self, key: &str, items: &[&str]) -> Self {
        Self::string(&mut self.kv, key);
        self.kv.extend(9_u32.to_le_bytes());
        self.kv.extend(8_u32.to_le_bytes());
        self.kv.extend((items.len() as u64).to_le_bytes());
        for s in items {
            Self::string(&mut self.kv, s);
        }
        self.n_kv += 1;
        self
    }

    fn tensor(mut self, name: &str, dims: &[u64], ty: G) -> Self {
        Self::string(&mut self.infos, name);
        self.infos.extend((dims.len() as u32).to_le_bytes());
        for d in dims {
            self.infos.extend(d.to_le_bytes());
        }
        self.infos.extend(ty.id().to_le_bytes());
        self.infos.extend(self.data.to_le_bytes());
        self.data += ty.bytes(dims.iter().product()).next_multiple_of(32);
        self.n_tensors += 1;
        self
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(3_u32.to_le_bytes());
        out.extend(self.n_tensors.to_le_bytes());
        out.extend(self.n_kv.to_le_bytes());
        out.extend(&self.kv);
        out.extend(&self.infos);
        out.resize(out.len().next_multiple_of(32), 0);
        out.resize(out.len() + self.data as usize, 0);
        out
    }
}

/// A two-layer Llama in a `Q4_K_M`-like mix, with an `IQ4_XS` tensor candle's
/// reader would refuse.
fn tiny_llama() -> Writer {
    let (d, kv, f, v) = (256, 128, 512, 1000);
    let mut w = Writer::default()
        .str("general.architecture", "llama")
        .str("general.name", "tiny")
        .u32("general.file_type", 15)
        .u32("llama.block_count", 2)
        .u32("llama.context_length", 4096)
        .u32("llama.embedding_length", d as u32)
        .u32("llama.feed_forward_length", f as u32)
        .u32("llama.attention.head_count", 4)
        .u32("llama.attention.head_count_kv", 2)
        .strings("tokenizer.ggml.tokens", &["<s>", "</s>", "a"])
        .tensor("token_embd.weight", &[d, v], G::Q4_K)
        .tensor("output_norm.weight", &[d], G::F32)
        .tensor("output.weight", &[d, v], G::Q6_K)
        .tensor("rope_freqs.weight", &[32], G::F32);
    for i in 0..2 {
        let t = |n: &str| format!("blk.{i}.{n}.weight");
        w = w
            .tensor(&t("attn_norm"), &[d], G::F32)
            .tensor(&t("attn_q"), &[d, d], G::Q4_K)
            .tensor(&t("attn_k"), &[d, kv], G::Q4_K)
            .tensor(&t("attn_v"), &[d, kv], G::Q6_K)
            .tensor(&t("attn_output"), &[d, d], G::Q4_K)
            .tensor(&t("ffn_norm"), &[d], G::F32)
            .tensor(&t("ffn_gate"), &[d, f], G::Q4_K)
            .tensor(&t("ffn_up"), &[d, f], G::Q4_K)
            .tensor(&t("ffn_down"), &[f, d], G::IQ4_XS);
    }
    w
}

fn parse(bytes: &[u8]) -> Result<GgufModel, GgufError> {
    let h = read_header(bytes, "test.gguf")?;
    model(&h, "test.gguf", "test")
}

#[test]
fn a_written_file_round_trips_through_the_header_reader() {
    let bytes = tiny_llama().bytes();
    let h = read_header(bytes.as_slice(), "t").unwrap();
    assert_eq!(h.version, 3);
    assert_eq!(h.tensors.len(), 4 + 2 * 9);
    assert_eq!(h.metadata["tokenizer.ggml.tokens"], Meta::Array(3));
    let down = h.tensor("blk.1.ffn_down.weight").unwrap();
    assert_eq!((down.ty, down.dims.clone()), (G::IQ4_XS, vec![512, 256]));

    let m = parse(&bytes).unwrap();
    assert_eq!((m.name.as_str(), m.family.as_str()), ("tiny", "llama"));
    let a = &m.arch;
    assert_eq!(
        (
            a.layers, a.width, a.heads, a.kv_heads, a.head_dim, a.ffn, a.vocab
        ),
        (2, 256, 4, 2, 64, 512, 1000)
    );
    assert!(a.gated && !a.tied_embeddings && !a.qkv_bias && !a.is_moe());
    assert_eq!(a.max_context, Some(4096));
    assert_eq!(m.bytes.mix, Some(Mix::Q4_K_M));
    // Exactly the file's bytes: IQ4_XS is 136 bytes per 256 weights.
    assert_eq!(
        m.bytes.get(Class::FfnDown),
        (2 * 2 * 136 * 256, 2 * 512 * 256)
    );
    assert_eq!(m.bytes.get(Class::Output), (1000 * 210, 256 * 1000));
}

#[test]
fn the_prediction_reads_exactly_the_bytes_in_the_file() {
    let m = parse(&tiny_llama().bytes()).unwrap();
    let h = read_header(tiny_llama().bytes().as_slice(), "t").unwrap();
    let in_file: u64 = h
        .tensors
        .iter()
        .filter(|t| t.name != "rope_freqs.weight")
        .map(TensorInfo::bytes)
        .sum();
    assert_eq!(m.bytes.total(), in_file);
    let hw = crate::hardware::preset("a100-80gb").unwrap();
    let wl = Workload::new(1, 128, 16, m.precision());
    let s = roofline::evaluate(&m.arch, &hw, &wl).unwrap();
    assert!(
        (s.weights_bytes - in_file as f64).abs() < 1e-6 * in_file as f64,
        "{} vs {in_file}",
        s.weights_bytes
    );
    assert_eq!(wl.precision.label(), "gguf:Q4_K_M");
}

#[test]
fn the_context_length_bounds_the_workload() {
    let m = parse(&tiny_llama().bytes()).unwrap();
    let hw = crate::hardware::preset("a100-80gb").unwrap();
    let mut wl = Workload::new(1, 4000, 100, m.precision());
    let err = roofline::evaluate(&m.arch, &hw, &wl).unwrap_err();
    assert_eq!(
        err.to_string(),
        "workload: context + prompt + generate = 4100 tokens exceeds the model's maximum context \
         of 4096 tokens"
    );
    wl.generate = 96;
    assert!(roofline::evaluate(&m.arch, &hw, &wl).is_ok());
}

#[test]
fn bad_files_are_clear_errors() {
    let err = |bytes: &[u8]| parse(bytes).unwrap_err().to_string();
    assert_eq!(
        err(b"PK\x03\x04 a zip"),
        "test.gguf: not a GGUF file (it does not start with `GGUF`)"
    );
    assert_eq!(
        err(b"GG"),
        "test.gguf: not a GGUF file (it does not start with `GGUF`)"
    );
    let mut v1 = b"GGUF".to_vec();
    v1.extend(1_u32.to_le_bytes());
    assert_eq!(
        err(&v1),
        "test.gguf: GGUF version 1 is not supported (versions 2 and 3 are)"
    );
    let w = tiny_llama();
    let whole = w.bytes();
    let header = 24 + w.kv.len() + w.infos.len();
    for cut in [20, 200, header - 1] {
        let e = err(&whole[..cut]);
        assert!(
            e.starts_with("test.gguf: the header is cut short or corrupt: unexpected end of file"),
            "{cut}: {e}"
        );
    }
    let mut odd = tiny_llama().bytes();
    // The first tensor info's type id: after its name, dim count and two dims.
    let at = odd
        .windows(17)
        .position(|w| w == b"token_embd.weight")
        .unwrap()
        + 17
        + 4
        + 16;
    odd[at..at + 4].copy_from_slice(&99_u32.to_le_bytes());
    assert_eq!(
        err(&odd),
        "test.gguf: tensor `token_embd.weight` has ggml type id 99, which rooflaw does not know"
    );
    let no_arch = Writer::default().tensor("token_embd.weight", &[32, 10], G::F16);
    assert_eq!(
        err(&no_arch.bytes()),
        "test.gguf: metadata has no `general.architecture`"
    );
    let fused = Writer::default()
        .str("general.architecture", "phi3")
        .u32("phi3.block_count", 1)
        .u32("phi3.embedding_length", 64)
        .u32("phi3.attention.head_count", 2)
        .tensor("token_embd.weight", &[64, 10], G::F16)
        .tensor("blk.0.attn_qkv.weight", &[64, 192], G::F16);
    assert!(err(&fused.bytes()).contains("fused in one tensor (attn_qkv)"));
}

#[test]
fn a_layout_that_does_not_add_up_is_refused() {
    // An extra weight tensor the architecture does not know of.
    let w = tiny_llama().tensor("blk.0.ffn_down.weight_extra_up", &[256, 8], G::F16);
    let e = parse(&w.bytes()).unwrap_err().to_string();
    assert!(e.contains("this layout is not modelled"), "{e}");
}

#[test]
fn reading_a_file_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny.gguf");
    std::fs::write(&path, tiny_llama().bytes()).unwrap();
    let m = read(&path).unwrap();
    assert_eq!(m.arch.layers, 2);
    let missing = dir.path().join("none.gguf");
    let e = read(&missing).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!("{}: cannot read", missing.display())),
        "{e}"
    );
}
