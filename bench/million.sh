#!/usr/bin/env bash
# Cold-cache wall time and peak memory of bench/million.pipeline, 3 runs;
# prints the median. Usage: bench/million.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
runs=${1:-3}
times=()
for i in $(seq "$runs"); do
  rm -rf bench/.rooflaw-million
  out=$( { /usr/bin/time -f "%e %M" ./target/release/rooflaw run -q --cache bench/.rooflaw-million bench/million.pipeline; } 2>&1 | tail -1)
  echo "run $i: ${out% *} s wall, $(( ${out#* } / 1024 )) MiB peak RSS"
  times+=("${out% *}")
done
printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print "median wall: " a[int((NR+1)/2)] " s over " NR " cold runs"}'
