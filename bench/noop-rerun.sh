#!/usr/bin/env bash
# Whole-process time of a no-op rerun (everything cached) of the 11-stage
# pipelines/orin-paper.pipeline; prints the median of N runs (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
n=${1:-20}
cache=bench/.rooflaw-noop
rm -rf "$cache"
./target/release/rooflaw run -q --cache "$cache" pipelines/orin-paper.pipeline   # warm the cache
for i in $(seq "$n"); do
  s=$(date +%s%N); ./target/release/rooflaw run -q --cache "$cache" pipelines/orin-paper.pipeline; e=$(date +%s%N)
  echo $(( (e - s) / 1000 ))
done | sort -n | awk '{a[NR]=$1} END {printf "no-op rerun of %d stages: median %.1f ms over %d runs (min %.1f, max %.1f)\n", 11, a[int((NR+1)/2)]/1000, NR, a[1]/1000, a[NR]/1000}'
