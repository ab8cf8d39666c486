#!/usr/bin/env bash
# Side by side: llm-analysis 0.2.2 (PyPI) and rooflaw on Llama-2-7B, A100 80GB
# SXM, batch 1, prompt 1024, generate 128, fp16. Prints both tools' rates
# (full prefill + decode evaluations per second, one core), the ratio, and
# both latency predictions.
#
#   bench/llm-analysis/run.sh [N]     N = llm-analysis configurations to time (2000)
#
# Needs python3 (3.9+) with venv and network access for the first install;
# cargo builds rooflaw. Honours CARGO_TARGET_DIR.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/bench/.venv-llm-analysis"
n="${1:-2000}"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import llm_analysis" 2>/dev/null; then
    echo "installing llm-analysis 0.2.2 into $venv ..." >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --upgrade pip
    "$venv/bin/pip" install -q "llm-analysis==0.2.2"
fi

echo "timing llm-analysis over $n configurations ..." >&2
llma_json="$("$venv/bin/python" "$here/llma.py" "$n")"

cd "$root"
echo "building rooflaw ..." >&2
cargo build -q --release -p rooflaw
target="${CARGO_TARGET_DIR:-$root/target}"
rooflaw="$target/release/rooflaw"
common=(roofline --model llama-2-7b --batch 1 --prompt 1024 --generate 128 --precision fp16 --format json)
ideal_json="$("$rooflaw" "${common[@]}" --hardware "$here/a100-ideal.yaml")"
preset_json="$("$rooflaw" "${common[@]}" --hardware a100-80gb)"

echo "timing rooflaw (criterion, one core) ..." >&2
bench_out="$(cargo bench -q -p rooflaw-stdlib --bench roofline -- 'llama-2-7b fp16' \
    --warm-up-time 1 --measurement-time 5 2>&1)"
# criterion prints "thrpt:  [low mid high]" with units Kelem/s or Melem/s.
rooflaw_rate="$(printf '%s\n' "$bench_out" | awk '/thrpt:/ {
    v = $4; u = $5; gsub(/\[/, "", v);
    m = (u ~ /^Melem/) ? 1e6 : (u ~ /^Kelem/) ? 1e3 : (u ~ /^Gelem/) ? 1e9 : 1;
    printf "%.0f", v * m; exit }')"

LLMA="$llma_json" IDEAL="$ideal_json" PRESET="$preset_json" RATE="$rooflaw_rate" python3 - <<'PY'
import json, os
l = json.loads(os.environ["LLMA"])
i = json.loads(os.environ["IDEAL"])
p = json.loads(os.environ["PRESET"])
rate = float(os.environ["RATE"])
print("Llama-2-7B, A100 80GB SXM, batch 1, prompt 1024, generate 128, fp16\n")
print(f"{'rate (full evaluations/s, one core)':<40}{'':>4}")
print(f"  llm-analysis 0.2.2 inference()        {l['rate']:>14,.0f}  ({l['configs']} configs in {l['seconds']:.2f} s)")
print(f"  rooflaw roofline::evaluate()          {rate:>14,.0f}  (criterion median)")
print(f"  ratio rooflaw / llm-analysis          {rate / l['rate']:>14,.0f} x\n")
lp = l["prediction"]
rows = [
    ("prefill / TTFT (ms)", lp["prefill_ms"], i["prefill_ms"], p["prefill_ms"]),
    ("decode per token (ms)", lp["decode_ms_per_token"], i["decode_ms_per_token"], p["decode_ms_per_token"]),
    ("decode total (ms)", lp["decode_ms"], i["decode_ms"], p["decode_ms"]),
    ("total (ms)", lp["total_ms"], i["total_ms"], p["total_ms"]),
    ("weights (GB)", (lp["weights_bytes"] or 0) / 1e9, i["weights_bytes"] / 1e9, p["weights_bytes"] / 1e9),
    ("KV cache (GB)", (lp["kv_cache_bytes"] or 0) / 1e9, i["kv_cache_bytes"] / 1e9, p["kv_cache_bytes"] / 1e9),
]
print(f"{'prediction':<24}{'llm-analysis':>14}{'rooflaw ideal':>15}{'ratio':>8}{'rooflaw preset':>16}")
for name, a, b, c in rows:
    ratio = b / a if a else float("nan")
    print(f"{name:<24}{a:>14.3f}{b:>15.3f}{ratio:>8.3f}{c:>16.3f}")
print("\nrooflaw ideal: efficiency 1, no launch overhead (llm-analysis's defaults);")
print("rooflaw preset: a100-80gb with Vidur-calibrated efficiencies 0.70/0.76 and 5 us launches.")
PY
