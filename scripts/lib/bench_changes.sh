# Change-tracking rows of scripts/bench (issue 18, item 7): an image with 1 %
# changed in scattered writes, synced once comparing in full (plain sparsync)
# and once with --changes, into two targets that both start equal to the
# source, so that both runs of a repetition sync the same change. Sourced by
# scripts/bench after its helpers (measure, add_extra, same, rotate, log,
# $DATA, the sshd and relays); defines changes_rows and changes_cleanup.
#
# Three images, one after another (each with its own full-compare baseline,
# so the page cache holds one image and its two targets at a time):
#   raw    a raw file in the work directory          --changes digest
#   xfs    a raw file on an XFS loop mount made here --changes reflink
#   qcow2  a qcow2 image (qemu-img convert)          --changes bitmap:bench
# each over SSH (the private sshd, through the counting relay) and locally
# (no SSH). For each: the targets are copies of the source; a first run of
# each (not in the table) compares in full and starts the tracker; then per
# repetition one change (1 % of the image in scattered 64 KiB writes, then
# the same in 4 KiB writes: random bytes for raw files, `qemu-io write -P`
# for qcow2, all writes in one qemu-io call) and, in rotating order, the
# full-compare run, the --changes run and, over SSH, the session start
# measured apart: `sparsync --status bench:TARGET` (sparsync's own libssh
# connection, authentication, the far login shell and the far sparsync's
# start, one request and its answer), and `ssh host true` beside it for
# reference. The page cache is warm: both images are read before each run,
# as for the other incremental rows.
#
# A --changes run that compares in full (change_source "full") fails the
# bench, as does a target that differs from its source after a run (cmp; for
# qcow2, `qemu-img compare` of the guest-visible content against the raw
# target). The tracker's state lives in $WORK/changes-state (the far side's
# in $WORK/changes-state-far).

CHG_MNT=
CHG_SKIPPED_XFS=
CHG_SKIPPED_QCOW2=

# chg_mount_xfs DIR BYTES: mounts an XFS filesystem made in DIR/xfs.img on
# DIR/xfs and sets CHG_MNT; or sets CHG_SKIPPED_XFS to why not
chg_mount_xfs() {
  local dir=$1 bytes=$2
  if [[ $(id -u) != 0 ]]; then
    CHG_SKIPPED_XFS="not root (mounting a loop device needs root)"
  elif ! command -v mkfs.xfs >/dev/null; then
    CHG_SKIPPED_XFS="mkfs.xfs is missing (xfsprogs)"
  elif ! truncate -s "$bytes" "$dir/xfs.img" || ! mkfs.xfs -q "$dir/xfs.img" 2>"$dir/xfs.err"; then
    CHG_SKIPPED_XFS="mkfs.xfs failed: $(head -1 "$dir/xfs.err")"
  elif ! mkdir -p "$dir/xfs" || ! mount -o loop "$dir/xfs.img" "$dir/xfs" 2>"$dir/xfs.err"; then
    CHG_SKIPPED_XFS="mount -o loop failed: $(head -1 "$dir/xfs.err")"
  else
    CHG_MNT=$dir/xfs
  fi
}
changes_cleanup() {
  if [[ -n $CHG_MNT ]]; then
    umount "$CHG_MNT" || log "warning: could not unmount $CHG_MNT"
    CHG_MNT=
  fi
}

# chg_change KIND IMAGE BLOCK SEED: overwrites 1 % of IMAGE in scattered
# BLOCK-sized writes; prints the bytes written
chg_change() {
  local kind=$1 image=$2 block=$3 seed=$4 n=0 off
  if [[ $kind == qcow2 ]]; then
    local args=()
    while read -r off; do
      args+=(-c "write -P $((n % 255 + 1)) $off $block")
      n=$((n + 1))
    done < <($DATA offsets "$CHG_BYTES" 1 "$seed" "$block")
    local wrote
    wrote=$(qemu-io -f qcow2 "${args[@]}" "$image" | grep -c '^wrote ') || true
    ((wrote == n)) || { log "FAIL: qemu-io wrote ${wrote:-0} of $n blocks into $image"; return 1; }
  else
    n=$($DATA scatter "$image" 1 "$seed" "$block")
  fi
  echo $((n * block))
}

# chg_record: the last run's JSON into the extra column; sets CHG_SOURCE and
# CHG_REASON (empty when the run printed no JSON: measure said it failed)
chg_record() {
  local fields
  CHG_SOURCE='' CHG_REASON=''
  fields=$(/usr/bin/python3 - "$WORK/last.out" <<'PY' 2>/dev/null
import json, sys
j = json.load(open(sys.argv[1]))
print("%s\t%s\t%s\t%s\t%s" % (j["bytes_read"], j["target_bytes_hashed"], j["seconds"],
                              j.get("change_source") or "none", (j.get("fallback_reason") or "").replace("\t", " ")))
PY
  ) || return 0
  local read hashed secs
  IFS=$'\t' read -r read hashed secs CHG_SOURCE CHG_REASON <<<"$fields"
  add_extra "bytes_read=$read;hashed=$hashed;sync_s=$secs;source=$CHG_SOURCE"
}

# chg_same KIND SRC DST: the target must hold the source's content
chg_same() {
  if [[ $1 == qcow2 ]]; then
    if ! qemu-img compare -q -f qcow2 -F raw "$2" "$3"; then
      log "FAIL: $3 differs from the guest view of $2 (qemu-img compare)"
      FAILED=1
    fi
  else
    same "$2" "$3"
  fi
}

# chg_run OVER KIND SCENARIO TOOL REP EXTRA SRC DST ARGS...: one sync, timed,
# recorded and checked
chg_run() {
  local over=$1 kind=$2 scenario=$3 tool=$4 rep=$5 extra=$6 src=$7 dst=$8
  shift 8
  local cmd=("$BIN" --batch) target=$dst
  if [[ $over == ssh ]]; then
    cmd=("${CHG_SSH[@]}")
    target=bench:$dst
  fi
  cat "$src" "$dst" >/dev/null
  measure "$scenario" "$tool" "$rep" r0 "$extra" -- "${cmd[@]}" "$@" --json "$src" "$target"
  chg_record
  if [[ $tool == tracked ]]; then
    if [[ $CHG_SOURCE == full ]]; then
      log "FAIL: $scenario rep $rep: --changes compared in full: $CHG_REASON"
      FAILED=1
    fi
  elif [[ $tool == establish_tracked ]]; then
    log "  first run with --changes: change_source $CHG_SOURCE ($CHG_REASON)"
  fi
  chg_same "$kind" "$src" "$dst"
}

# chg_image OVER KIND: the rows of one image, over one transport
chg_image() {
  local over=$1 kind=$2 dir=$WORK/chg src args=() mode
  case $kind in
    raw) src=$dir/src.img mode=digest ;;
    xfs) src=$CHG_MNT/src.img mode=reflink
      cp "$dir/src.img" "$src" ;;
    qcow2) src=$dir/src.qcow2 mode=bitmap:bench args=(--source-format qcow2)
      qemu-img convert -f raw -O qcow2 "$dir/src.img" "$src" ;;
  esac
  local full=$dir/full.img tracked=$dir/tracked.img
  log "changes: $kind image over $over, full compare vs --changes $mode"
  if [[ $kind == qcow2 ]]; then
    qemu-img convert -f qcow2 -O raw "$src" "$full"
  else
    cp --sparse=always "$src" "$full"
  fi
  cp --sparse=always "$full" "$tracked"
  local base=chg_${over}_${kind}
  chg_run "$over" "$kind" "$base" establish_full 1 "" "$src" "$full" "${args[@]}"
  chg_run "$over" "$kind" "$base" establish_tracked 1 "" "$src" "$tracked" "${args[@]}" --changes "$mode"
  local block rep tool changed seed
  for block in "${CHG_BLOCKS[@]}"; do
    for ((rep = 1; rep <= REPS; rep++)); do
      seed=$((1800 + rep * 10 + ${#over} * 100 + ${#kind} * 1000 + block))
      changed=$(chg_change "$kind" "$src" "$block" "$seed")
      local tools=(full tracked)
      [[ $over == ssh ]] && tools+=(session ssh_true)
      for tool in $(rotate "$rep" "${tools[@]}"); do
        case $tool in
          session) measure "${base}_$block" session "$rep" r0 "" -- "${CHG_SSH[@]}" --status "bench:$full" ;;
          ssh_true) measure "${base}_$block" ssh_true "$rep" r0 "" -- $SSH bench true ;;
          full) chg_run "$over" "$kind" "${base}_$block" full "$rep" "changed_bytes=$changed" "$src" "$full" "${args[@]}" ;;
          tracked) chg_run "$over" "$kind" "${base}_$block" tracked "$rep" "changed_bytes=$changed" "$src" "$tracked" \
            "${args[@]}" --changes "$mode" ;;
        esac
      done
    done
  done
  rm -f "$full" "$tracked"
  case $kind in
    xfs) rm -f "$CHG_MNT"/src.img "$CHG_MNT"/.src.img.*.sparsync-ref ;;
    qcow2) rm -f "$src" ;;
  esac
}

changes_rows() {
  local dir=$WORK/chg over kind
  mkdir -p "$dir" "$WORK/changes-state" "$WORK/changes-state-far"
  export SPARSYNC_STATE_DIR=$WORK/changes-state
  cat >"$WORK/far-sparsync-changes" <<SH
#!/bin/sh
SPARSYNC_STATE_DIR=$WORK/changes-state-far exec /usr/bin/time -a -o $FARTIME -f "%e %U %S %M" $BIN "\$@"
SH
  chmod +x "$WORK/far-sparsync-changes"
  CHG_SSH=("$BIN" -F "$CFG" --known-hosts "$KNOWN" -i "$SSH_KEY" --remote-path "$WORK/far-sparsync-changes" --batch)
  CHG_BYTES=$(/usr/bin/python3 -c 'import sys; u = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}; t = sys.argv[1]; print(int(t[:-1]) * u[t[-1]] if t[-1] in u else int(t))' "$CHANGES_SIZE")
  CHG_BLOCKS=(65536 4096)
  log "changes dataset: dense $CHANGES_SIZE"
  $DATA dense "$dir/src.img" "$CHANGES_SIZE"
  # Room for the image, its kept reference's diverged extents and the log;
  # mkfs.xfs wants at least 300 MB.
  chg_mount_xfs "$dir" $((CHG_BYTES * 3 / 2 + (512 << 20)))
  [[ -n $CHG_SKIPPED_XFS ]] && log "changes: reflink rows skipped: $CHG_SKIPPED_XFS"
  if ! command -v qemu-img >/dev/null || ! command -v qemu-io >/dev/null || ! command -v qemu-nbd >/dev/null; then
    CHG_SKIPPED_QCOW2="qemu-img, qemu-io or qemu-nbd is missing (qemu-utils)"
    log "changes: bitmap rows skipped: $CHG_SKIPPED_QCOW2"
  fi
  for over in ssh local; do
    for kind in raw xfs qcow2; do
      [[ $kind == xfs && -n $CHG_SKIPPED_XFS ]] && continue
      [[ $kind == qcow2 && -n $CHG_SKIPPED_QCOW2 ]] && continue
      chg_image "$over" "$kind"
    done
  done
  changes_cleanup
  rm -rf "$dir"
  unset SPARSYNC_STATE_DIR
}
