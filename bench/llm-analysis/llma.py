"""llm-analysis 0.2.2 on Llama-2-7B, A100 80GB SXM, batch 1, prompt 1024,
generate 128, fp16: one prediction as JSON, then the rate of full
`inference()` calls (prefill + decode summary) over N configurations."""
import json
import logging
import sys
import time

from llm_analysis.analysis import LLMAnalysis
from llm_analysis.config import (
    ModelConfig,
    get_dtype_config_by_name,
    get_gpu_config_by_name,
)

logging.disable(logging.CRITICAL)

# The shipped NousResearch_Llama-2-7b-hf.json has ffn_embed_dim 16384 and no
# gated MLP (peers-roofline.md §2.2), and 0.2.2's inference path has no gated
# MLP at all. Its iso-parameter equivalent is used instead: a 2-matrix MLP of
# width 1.5 * 11008 = 16512 has exactly SwiGLU-11008's weights and FLOPs
# (2 * 4096 * 16512 = 3 * 4096 * 11008). expansion_ratio is passed too,
# because 16512 is not a multiple of 4096 and ModelConfig asserts that when
# only ffn_embed_dim is given.
MODEL = ModelConfig(
    name="llama-2-7b",
    num_layers=32,
    n_head=32,
    hidden_dim=4096,
    vocab_size=32000,
    max_seq_len=4096,
    num_key_value_heads=32,
    ffn_embed_dim=16512,
    expansion_ratio=16512 / 4096,
)
GPU = get_gpu_config_by_name("a100-sxm-80gb")
DTYPE = get_dtype_config_by_name("w16a16e16")


def infer(batch, seq, gen):
    a = LLMAnalysis(MODEL, GPU, DTYPE, flops_efficiency=1.0, hbm_memory_efficiency=1.0)
    return a.inference(batch_size_per_gpu=batch, seq_len=seq, num_tokens_to_generate=gen)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    r = infer(1, 1024, 128)
    prediction = {
        "prefill_ms": r["prefill_latency"] * 1e3,
        "decode_ms_per_token": r["decode_latency"] * 1e3,
        "decode_ms": r["total_decode_latency"] * 1e3,
        "total_ms": r["total_latency"] * 1e3,
        "weights_bytes": r.get("weight_memory_per_gpu"),
        "kv_cache_bytes": r.get("kv_cache_memory_per_gpu"),
    }
    configs = [(1 + i % 4, 256 + (i * 37) % 897, 128) for i in range(n)]
    start = time.perf_counter()
    for b, s, g in configs:
        infer(b, s, g)
    elapsed = time.perf_counter() - start
    print(json.dumps({"prediction": prediction, "configs": n, "seconds": elapsed, "rate": n / elapsed}))


if __name__ == "__main__":
    main()
