#!/usr/bin/env bash
# Peak RSS of `rooflaw run` training on a pre-tokenized uint16 corpus far
# larger than its memory, against a small corpus of the same kind; and the
# corpus hash computed once per file version (a second run does not re-read
# the file). Not a timed test: a benchmark, run by hand.
#
#   bench/corpus-rss/run.sh [BIG_GIB] [WORK_DIR]
#
# BIG_GIB (default 6, at most 8) is the big corpus's size; WORK_DIR (default
# a fresh directory under /tmp) must have that much free disk. Everything it
# writes is deleted at the end. Each run is also made under an address-space
# limit (ulimit -v) of LIMIT_MIB (default 1024) MiB, far smaller than the
# corpus: rooflaw reads windows with positioned reads, it never maps or loads
# the file. (Below ~800 MiB the allocator's and threads' reservations fail
# whatever the corpus.)
set -euo pipefail
cd "$(dirname "$0")/../.."
unset ROOFLAW_CACHE
big_gib=${1:-6}
work=${2:-$(mktemp -d /tmp/rooflaw-corpus-rss.XXXXXX)}
limit_mib=${LIMIT_MIB:-1024}
if [ "$big_gib" -gt 8 ]; then echo "at most 8 GiB, please" >&2; exit 2; fi
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
cargo build --release --quiet --bin rooflaw
rooflaw=$CARGO_TARGET_DIR/release/rooflaw

# Token ids: a 64 MiB block of pseudo-random ids below the vocabulary,
# repeated to the size asked for. Written, not sparse: the hash and the
# windows read real blocks. A small vocabulary: with GPT-2's 50304 the
# logits of one 16 x 128 batch alone are 412 MB and a CPU step takes
# seconds, which says nothing about the corpus; the file's handling does
# not depend on the vocabulary.
vocab=1024
block=$work/block.bin
python3 - "$block" "$vocab" <<'PY'
import sys, random
from array import array
path, vocab = sys.argv[1], int(sys.argv[2])
raw = array("H", random.Random(0).randbytes(1 << 26))  # 32 Mi ids = 64 MiB
with open(path, "wb") as f:
    array("H", (x % vocab for x in raw)).tofile(f)
PY
make_corpus() { # NAME MIB
  local dir=$work/$1 mib=$2
  mkdir -p "$dir"
  for _ in $(seq $((mib / 64))); do cat "$block"; done > "$dir/train.bin"
  head -c $((4 << 20)) "$block" > "$dir/val.bin"
  cat > "$dir/corpus.pipeline" <<PIPE
corpus c { train = "train.bin"  valid = "val.bin"  tokens = uint16  vocab = $vocab }
space s { layers = 2  width = 64  heads = 4  vocab = $vocab }
stage designs = enumerate(s)
stage runs = train(designs, corpus: c, tokens: 128k, seq_len: 128, batch: 16)
report runs to "out"
PIPE
}

# `rooflaw ARGS` in DIR under the limit: "wall_s peak_rss_MiB" (wall from
# the clock, peak RSS from `/usr/bin/time -v`).
measure() { # DIR ARGS...
  local dir=$1; shift
  local log=$work/time.log s e
  s=$(date +%s%N)
  (cd "$dir" && ulimit -v $((limit_mib * 1024)) && /usr/bin/time -v -o "$log" "$rooflaw" "$@" >/dev/null)
  e=$(date +%s%N)
  awk -v ns=$((e - s)) -F': ' '/Maximum resident set size/ {r = $2 / 1024}
                               END {printf "%.3f %.0f\n", ns / 1e9, r}' "$log"
}

printf '%-6s %9s | %11s %8s | %9s %8s | %11s | %13s %8s\n' corpus size_MiB \
  run_s rss_MiB rerun_s rss_MiB plan_memo_s plan_rehash_s rss_MiB
for spec in "small 64" "big $((big_gib * 1024))"; do
  set -- $spec
  name=$1 mib=$2
  make_corpus "$name" "$mib"
  dir=$work/$name
  # Fresh cache: the hash of every file, the sample check, the training.
  read -r run_s run_rss < <(measure "$dir" run corpus.pipeline --quiet)
  # Everything cached; the hashes come from their memos (size, mtime).
  read -r rerun_s rerun_rss < <(measure "$dir" run corpus.pipeline --quiet)
  read -r memo_s _ < <(measure "$dir" plan corpus.pipeline)
  # A new modification time: the same bytes are hashed again (the runs
  # stay cached, their key being the content).
  touch "$dir/train.bin"
  read -r rehash_s rehash_rss < <(measure "$dir" plan corpus.pipeline)
  printf '%-6s %9d | %11s %8s | %9s %8s | %11s | %13s %8s\n' "$name" "$mib" \
    "$run_s" "$run_rss" "$rerun_s" "$rerun_rss" "$memo_s" "$rehash_s" "$rehash_rss"
  s=$(date +%s%N); cat "$dir/train.bin" >/dev/null; e=$(date +%s%N)
  echo "  $name: $(ls "$dir/.rooflaw/corpora/hashes" | wc -l) hash memos; cat reads train.bin in $(awk -v n=$((e - s)) 'BEGIN {printf "%.2f", n / 1e9}') s" \
    "($(grep -E '^(Cached|MemTotal)' /proc/meminfo | awk '{printf "%s %d MiB ", $1, $2 / 1024}'))"
  rm -rf "$dir"
done
echo "address-space limit: $limit_mib MiB (ulimit -v); rooflaw $(git rev-parse --short HEAD)"
