#!/usr/bin/env bash
# What the undo journal costs (docs/undo-journal.md "What it costs"): an
# incremental local sync of a dense 1 GiB image whose source has 1 % and 10 %
# of its 4 KiB blocks rewritten at random, with the journal (default) and with
# --no-undo, alternating, RUNS runs each (default 3); the target is reset to
# the old image and flushed before every run. Prints each run and the medians.
# Usage: bench/undo-cost.sh [SPARSYNC_BINARY] [WORK_DIR]   (needs ~4 GiB free in WORK_DIR)
set -euo pipefail
BIN=${1:-$(cd "$(dirname "$0")/.." && pwd)/build/sparsync}
WORK=${2:-$(mktemp -d)}
RUNS=${RUNS:-3}
cd "$WORK"
[[ -f base.img ]] || head -c 1G /dev/urandom >base.img
for pct in 1 10; do
  [[ -f src$pct.img ]] && continue
  cp base.img src$pct.img
  python3 - "$pct" <<'PY'
import os, random, sys
pct = int(sys.argv[1])
blocks = (1 << 30) // 4096
with open(f"src{pct}.img", "r+b") as f:
    for b in sorted(random.Random(pct).sample(range(blocks), blocks * pct // 100)):
        f.seek(b * 4096)
        f.write(os.urandom(4096))
PY
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for pct in 1 10; do
  : >"undo$pct.times"
  : >"no-undo$pct.times"
  for ((i = 1; i <= RUNS; i++)); do
    for mode in undo no-undo; do
      cp base.img dst.img
      sync
      args=()
      [[ $mode == no-undo ]] && args=(--no-undo)
      t0=$(date +%s.%N)
      "$BIN" -q "${args[@]}" "src$pct.img" dst.img
      t1=$(date +%s.%N)
      t=$(echo "$t1 - $t0" | bc)
      echo "$pct % $mode run $i: $t s"
      echo "$t" >>"$mode$pct.times"
    done
  done
  cmp "src$pct.img" dst.img
  echo "$pct %: median $(median <"undo$pct.times") s with the journal, $(median <"no-undo$pct.times") s with --no-undo"
done
