#!/usr/bin/env bash
# Reflink instead of an undo journal? (docs/undo-journal.md "Reflink instead
# of a journal?"). On a filesystem with reflink (XFS, btrfs), an incremental
# local sync of a dense 1 GiB image whose source has 1 % and 10 % of its
# 4 KiB blocks rewritten at random, three ways, alternating, RUNS runs each
# (default 3), the target reset to the old image (a plain copy, no shared
# extents) and flushed before every run:
#   journal   sparsync SRC DST                      (the undo journal, default)
#   reflink   cp --reflink=always DST GEN; sync GEN; sparsync --no-undo SRC DST
#   none      sparsync --no-undo SRC DST            (no way back at all)
# Then what the reflinked target costs later: its extents (xfs_bmap), the
# space the copy keeps (df), a direct-I/O read of the whole target (what the
# next run's hashing reads when it is not cached) and a second incremental.
# Usage: bench/reflink-cost.sh [SPARSYNC_BINARY] [DIR_ON_XFS]   (~5 GiB free in DIR)
set -euo pipefail
BIN=${1:-$(cd "$(dirname "$0")/.." && pwd)/build/sparsync}
WORK=${2:?give a directory on a filesystem with reflink}
RUNS=${RUNS:-3}
cd "$WORK"
[[ -f base.img ]] || head -c 1G /dev/urandom >base.img
for pct in 1 10 11; do
  [[ -f src$pct.img ]] && continue
  cp --reflink=never base.img src$pct.img
  python3 - "$pct" <<'PY'
import os, random, sys
pct = int(sys.argv[1])
blocks = (1 << 30) // 4096
with open(f"src{pct}.img", "r+b") as f:
    for b in sorted(random.Random(pct).sample(range(blocks), blocks * (pct if pct != 11 else 1) // 100)):
        f.seek(b * 4096)
        f.write(os.urandom(4096))
PY
done
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
now() { date +%s.%N; }
used_mib() { df --output=used -B1M . | tail -1 | tr -d ' '; }
reset() { rm -f dst.img gen.img; cp --reflink=never base.img dst.img; sync; }
for pct in 1 10; do
  for mode in journal reflink none; do : >"$mode$pct.times"; done
  : >"clone$pct.times"
  for ((i = 1; i <= RUNS; i++)); do
    for mode in journal reflink none; do
      reset
      t0=$(now)
      case $mode in
        journal) "$BIN" -q "src$pct.img" dst.img ;;
        reflink) cp --reflink=always dst.img gen.img; sync gen.img; t1=$(now)
          echo "$t1 - $t0" | bc >>"clone$pct.times"
          "$BIN" -q --no-undo "src$pct.img" dst.img ;;
        none) "$BIN" -q --no-undo "src$pct.img" dst.img ;;
      esac
      t=$(echo "$(now) - $t0" | bc)
      echo "$pct % $mode run $i: $t s (load $(cut -d' ' -f1 /proc/loadavg))"
      echo "$t" >>"$mode$pct.times"
    done
  done
  cmp "src$pct.img" dst.img
  echo "$pct %: median $(median <"journal$pct.times") s journal, $(median <"reflink$pct.times") s reflink + --no-undo" \
    "(the copy alone $(median <"clone$pct.times") s), $(median <"none$pct.times") s --no-undo alone"
  # What the reflinked target costs later, against one that was never shared.
  reset
  before=$(used_mib)
  cp --reflink=always dst.img gen.img
  sync
  after_clone=$(used_mib)
  "$BIN" -q --no-undo "src$pct.img" dst.img
  sync
  after_sync=$(used_mib)
  ext_shared=$(xfs_bmap dst.img | tail -n +2 | wc -l)
  t0=$(now); dd if=dst.img of=/dev/null bs=1M iflag=direct status=none; read_shared=$(echo "$(now) - $t0" | bc)
  t0=$(now); "$BIN" -q --no-undo src11.img dst.img; second_shared=$(echo "$(now) - $t0" | bc)
  rm -f gen.img
  reset
  "$BIN" -q --no-undo "src$pct.img" dst.img
  sync
  ext_plain=$(xfs_bmap dst.img | tail -n +2 | wc -l)
  t0=$(now); dd if=dst.img of=/dev/null bs=1M iflag=direct status=none; read_plain=$(echo "$(now) - $t0" | bc)
  t0=$(now); "$BIN" -q --no-undo src11.img dst.img; second_plain=$(echo "$(now) - $t0" | bc)
  echo "$pct %: space: the reflink copy $((after_clone - before)) MiB, after the sync $((after_sync - before)) MiB" \
    "more than the target alone; extents of the target: $ext_shared reflinked, $ext_plain never shared;" \
    "direct read of the whole target: $read_shared s vs $read_plain s; a second 1 % incremental: $second_shared s vs $second_plain s"
done
rm -f dst.img gen.img
