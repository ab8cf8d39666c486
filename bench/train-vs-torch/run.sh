#!/usr/bin/env bash
# Training throughput: rooflaw (candle) vs PyTorch on CPU, same model
# (d128, 4 layers, 4 heads x 32, RMSNorm, RoPE, SwiGLU 384, byte vocab,
# 918,656 parameters), same batch (16 x 128), same optimizer and steps.
#
#   bench/train-vs-torch/run.sh [runs=3] [steps=30] [warmup=3]
#
# Creates bench/.venv-torch (plain `pip install torch` from PyPI; ~5 GB, the
# PyPI wheel is the CUDA build, used on CPU). Prints every run as JSON, then
# the median tokens/s of each and the ratio rooflaw / torch. PyTorch runs at
# 1 and 2 threads with explicit-mask attention, and at 2 threads with its
# fused attention (scaled_dot_product_attention); the ratio uses torch's
# fastest setting.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-3}
STEPS=${2:-30}
WARMUP=${3:-3}
VENV=bench/.venv-torch
TARGET=${CARGO_TARGET_DIR:-target}

if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q torch
fi
# --workspace: the same feature set as the CLI build, so candle is not built twice.
cargo build --release -q --workspace --features rooflaw-neural/mimalloc --example train_bench
BENCH="$TARGET/release/examples/train_bench"

CORPUS=$(mktemp)
trap 'rm -f "$CORPUS"' EXIT
# The same training split that rooflaw embeds.
gzip -dc neural/data/sotu/train.txt.gz > "$CORPUS"

LOG=$(mktemp)
for i in $(seq "$RUNS"); do
  # Interleaved so that load from other processes hits both alike.
  "$BENCH" "$STEPS" "$WARMUP" | tee -a "$LOG"
  OMP_NUM_THREADS=1 "$VENV/bin/python" bench/train-vs-torch/torch_train.py "$CORPUS" "$STEPS" "$WARMUP" 2>/dev/null \
    | sed 's/"impl": "torch"/"impl": "torch-1t"/' | tee -a "$LOG"
  OMP_NUM_THREADS=2 "$VENV/bin/python" bench/train-vs-torch/torch_train.py "$CORPUS" "$STEPS" "$WARMUP" 2>/dev/null \
    | sed 's/"impl": "torch"/"impl": "torch-2t"/' | tee -a "$LOG"
  OMP_NUM_THREADS=2 "$VENV/bin/python" bench/train-vs-torch/torch_train.py "$CORPUS" "$STEPS" "$WARMUP" --sdpa 2>/dev/null \
    | sed 's/"impl": "torch-sdpa"/"impl": "torch-2t-sdpa"/' | tee -a "$LOG"
done

"$VENV/bin/python" - "$LOG" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
med = {}
torches = ("torch-1t", "torch-2t", "torch-2t-sdpa")
for impl in ("rooflaw",) + torches:
    xs = [r["tokens_per_s"] for r in runs if r["impl"] == impl]
    med[impl] = statistics.median(xs)
    print(f"{impl:13s} median {med[impl]:9.1f} tok/s  runs {xs}")
best = max(torches, key=med.get)
print(f"ratio rooflaw / torch(best: {best}) = {med['rooflaw'] / med[best]:.2f}")
print(f"ratio rooflaw / torch-2t             = {med['rooflaw'] / med['torch-2t']:.2f}")
PY
rm -f "$LOG"
