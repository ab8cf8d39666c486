//! rooflaw reads GGUF headers without candle; this checks it against
//! candle's reader, so it lives in the crate that has candle.

/// candle (a maintained GGUF implementation) writes a file; rooflaw's
/// header reader sees the same tensors and types as candle's own reader.
#[test]
fn files_candle_writes_read_the_same_in_both_readers() {
    use candle_core::quantized::{GgmlDType, QTensor, gguf_file};
    use candle_core::{Device, Tensor};
    use rooflaw_stdlib::gguf::{Meta, read_header};
    let dev = Device::Cpu;
    let q = |dims: (usize, usize), dt| {
        let t = Tensor::zeros(dims, candle_core::DType::F32, &dev).unwrap();
        QTensor::quantize(&t, dt).unwrap()
    };
    // candle's dims are (rows, cols); GGUF stores them reversed.
    let tensors = [
        ("token_embd.weight", q((300, 256), GgmlDType::Q8_0)),
        ("output.weight", q((300, 256), GgmlDType::Q6K)),
        ("blk.0.attn_q.weight", q((256, 256), GgmlDType::Q4K)),
        ("blk.0.ffn_down.weight", q((256, 512), GgmlDType::Q4_0)),
    ];
    let arch = gguf_file::Value::String("llama".into());
    let layers = gguf_file::Value::U32(1);
    let mut buf = std::io::Cursor::new(Vec::new());
    let refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(n, t)| (*n, t)).collect();
    gguf_file::write(
        &mut buf,
        &[
            ("general.architecture", &arch),
            ("llama.block_count", &layers),
        ],
        &refs,
    )
    .unwrap();
    let bytes = buf.into_inner();
    let ours = read_header(bytes.as_slice(), "candle.gguf").unwrap();
    let theirs = gguf_file::Content::read(&mut std::io::Cursor::new(&bytes)).unwrap();
    assert_eq!(ours.tensors.len(), theirs.tensor_infos.len());
    for t in &ours.tensors {
        let c = &theirs.tensor_infos[&t.name];
        let mut dims: Vec<u64> = c.shape.dims().iter().map(|d| *d as u64).collect();
        dims.reverse();
        assert_eq!(t.dims, dims, "{}", t.name);
        assert_eq!(
            t.ty.name().replace('_', ""),
            format!("{:?}", c.ggml_dtype)
                .to_uppercase()
                .replace('_', "")
        );
        assert_eq!(
            t.bytes() as usize,
            c.shape.elem_count() / c.ggml_dtype.block_size() * c.ggml_dtype.type_size()
        );
    }
    assert_eq!(ours.metadata["llama.block_count"], Meta::Int(1));
}
