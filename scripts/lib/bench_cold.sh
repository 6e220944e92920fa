# Cold rows of scripts/bench (issue 21): the images are not in the page cache
# when a run starts, as on a nightly DR run over an LVM volume. Sourced by
# scripts/bench after its helpers (measure, add_extra, same, rotate, $DATA,
# the sshd and relays); defines cold_rows.
#
# Before every run: sync, then drop the page cache (echo 3 >
# /proc/sys/vm/drop_caches, root only: without it the rows are skipped with
# a reason). Each row is beside its floor, measured in the same series:
# reading both images once at the same time with O_DIRECT 1 MiB requests
# (dd iflag=direct); for the clone, a local O_DIRECT copy of the source.
# Each run also records the growth of the page cache ("Cached:" and
# "Buffers:" in /proc/meminfo after the run minus before it), as cache_mib, and what of
# the images themselves is cached after it (fincore), as images_mib: the
# first counts whatever else the machine did meanwhile (other engineers'
# builds and benchmarks here), the second only what the run left.
# Loop devices are attached with --direct-io=on, so that their backing files
# are not cached either (an LVM volume has no backing file), and held open
# by the bench while their rows run (a block device's cache is dropped when
# its last user closes it; a VM's disk always has one).
#
# rsync runs beside them where it is installed (--inplace --no-whole-file
# over the same SSH, --copy-devices --write-devices for the block devices):
# the tool these runs replace, and what it leaves in the cache. Its runs come
# after all the others: this VM's disk is a file on its host, whose cache
# keeps what rsync just read (8 GiB for a 4 GiB pair), so a run right after
# one of rsync's found the "cold" images in the host's memory (a baseline
# at 0.57x the floor).
# With BASELINE set (scripts/bench --baseline BIN), the same runs with that
# binary on both sides, alternating, for "no slower than before".

cold_reason() { # prints why cold rows cannot run here, or nothing
  [[ $(id -u) == 0 ]] || { echo "not root (dropping the page cache needs root)"; return; }
  [[ -w /proc/sys/vm/drop_caches ]] || echo "/proc/sys/vm/drop_caches is not writable here"
}
drop_cache() { sync; echo 3 >/proc/sys/vm/drop_caches; }
# A block device's cache is counted as Buffers:, a file's as Cached:.
cached_kib() { awk '/^(Cached|Buffers):/ {s += $2} END {print s}' /proc/meminfo; }
# cold_measure SCENARIO TOOL REP EXTRA IMAGES -- CMD...: measure after
# dropping the cache, with the cache's growth as cache_mib and the images'
# cached bytes after the run as images_mib
cold_measure() {
  local scenario=$1 tool=$2 rep=$3 extra=$4 images=$5 before after resident
  shift 6
  drop_cache
  before=$(cached_kib)
  measure "$scenario" "$tool" "$rep" r0 "$extra" -- "$@"
  after=$(cached_kib)
  # shellcheck disable=SC2086
  resident=$(fincore --noheadings --bytes --output RES $images 2>/dev/null | awk '{s += $1} END {printf "%d", s / 1048576}')
  add_extra "cache_mib=$(((after - before) / 1024))"
  # fincore sees nothing of a block device's cache: there only cache_mib counts.
  [[ -b ${images%% *} ]] || add_extra "images_mib=$resident"
}

# cold_incremental SCENARIO SRC DST REP: 1 % scattered 4 KiB changes, fresh
# for each tool (a run leaves nothing for the next to change)
cold_incremental() {
  local scenario=$1 src=$2 dst=$3 rep=$4 tool blocks backing
  backing=${COLD_BACKING[$src]:-$src}
  for tool in $(rotate "$rep" "${COLD_TOOLS[@]}"); do
    if [[ $tool == floor ]]; then
      cold_measure "$scenario" floor "$rep" "" "$src $dst" -- sh -c "dd if='$src' of=/dev/null bs=1M iflag=direct status=none & dd if='$dst' of=/dev/null bs=1M iflag=direct status=none & wait"
      continue
    fi
    blocks=$($DATA scatter "$backing" 1 "$((rep * 100 + ${#tool} + ${#scenario}))")
    if [[ $tool == rsync ]]; then
      local devices=()
      [[ -b $src ]] && devices=(--copy-devices --write-devices)
      cold_measure "$scenario" rsync "$rep" "changed_blocks=$blocks" "$src $dst" -- \
        rsync --inplace --no-whole-file "${devices[@]}" -e "$SSH" "$src" "bench:$dst"
      same "$src" "$dst"
      continue
    fi
    cold_measure "$scenario" "$tool" "$rep" "changed_blocks=$blocks" "$src $dst" -- \
      "${COLD_CMD[$tool]}" --json "$src" "bench:$dst"
    sync_seconds
    same "$src" "$dst"
  done
}

# cold_series DIR: each cold row with each of COLD_TOOLS, REPS times, on the
# pair in DIR (src.img, dst.img)
cold_series() {
  local dir=$1 rep tool
  # Files.
  for ((rep = 1; rep <= REPS; rep++)); do cold_incremental cold_incr_file "$dir/src.img" "$dir/dst.img" "$rep"; done

  # Block devices (loop, direct I/O to their files), when losetup works here.
  local lsrc ldst
  if lsrc=$(losetup --find --show --direct-io=on "$dir/src.img" 2>"$dir/losetup.err") &&
    ldst=$(losetup --find --show --direct-io=on "$dir/dst.img" 2>>"$dir/losetup.err"); then
    COLD_LOOPS="$lsrc $ldst"
    COLD_BACKING[$lsrc]=$dir/src.img
    # Held open meanwhile, as a running VM holds its disk: the kernel drops a
    # block device's cache at its last close, which would hide what a run
    # leaves there.
    local hold_src hold_dst
    exec {hold_src}<"$lsrc" {hold_dst}<"$ldst"
    for ((rep = 1; rep <= REPS; rep++)); do cold_incremental cold_incr_blockdev "$lsrc" "$ldst" "$rep"; done
    exec {hold_src}<&- {hold_dst}<&-
    losetup -d "$lsrc" "$ldst"
    COLD_LOOPS=
  else
    [[ -n ${lsrc:-} ]] && losetup -d "$lsrc"
    log "cold block device rows skipped: losetup failed: $(head -1 "$dir/losetup.err")"
    COLD_SKIPPED_BLOCK="losetup failed: $(head -1 "$dir/losetup.err")"
  fi

  # Dense clone into a new file.
  for ((rep = 1; rep <= REPS; rep++)); do
    for tool in $(rotate "$rep" "${COLD_TOOLS[@]}"); do
      rm -f "$dir/clone.img"
      if [[ $tool == floor ]]; then
        cold_measure cold_clone floor "$rep" "" "$dir/src.img $dir/clone.img" -- \
          dd if="$dir/src.img" of="$dir/clone.img" bs=1M iflag=direct oflag=direct conv=fdatasync status=none
        continue
      fi
      if [[ $tool == rsync ]]; then
        cold_measure cold_clone rsync "$rep" "" "$dir/src.img $dir/clone.img" -- \
          rsync --inplace -e "$SSH" "$dir/src.img" "bench:$dir/clone.img"
        same "$dir/src.img" "$dir/clone.img"
        continue
      fi
      cold_measure cold_clone "$tool" "$rep" "" "$dir/src.img $dir/clone.img" -- "${COLD_CMD[$tool]}" --json "$dir/src.img" "bench:$dir/clone.img"
      sync_seconds
      same "$dir/src.img" "$dir/clone.img"
    done
  done
}

cold_rows() {
  local why dir rep tool
  why=$(cold_reason)
  if [[ -n $why ]]; then
    log "cold rows skipped: $why"
    COLD_SKIPPED=$why
    return 0
  fi
  dir=$WORK/cold
  mkdir -p "$dir"
  declare -gA COLD_CMD=([sparsync]=$WORK/cold-sparsync) COLD_BACKING=()
  COLD_TOOLS=(floor sparsync)
  # One script per tool, so that measure times it as one command.
  {
    echo '#!/bin/bash'
    printf 'exec'
    printf ' %q' "${SPARSYNC[@]}"
    echo ' "$@"'
  } >"$WORK/cold-sparsync"
  if [[ -n ${BASELINE:-} ]]; then
    # The baseline runs on both sides: its own far wrapper.
    cat >"$WORK/far-baseline" <<SH
#!/bin/bash
exec /usr/bin/time -a -o $FARTIME -f "%e %U %S %M" $BASELINE "\$@"
SH
    {
      echo '#!/bin/bash'
      printf 'exec'
      printf ' %q' "$BASELINE" -F "$CFG" --known-hosts "$KNOWN" -i "$SSH_KEY" --remote-path "$WORK/far-baseline" --batch
      echo ' "$@"'
    } >"$WORK/cold-baseline"
    COLD_CMD[baseline]=$WORK/cold-baseline
    COLD_TOOLS+=(baseline)
  fi
  chmod +x "$WORK"/cold-* "$WORK"/far-*
  log "cold dataset: dense $COLD_SIZE, twice"
  $DATA dense "$dir/src.img" "$COLD_SIZE"
  cp "$dir/src.img" "$dir/dst.img"

  cold_series "$dir"
  if command -v rsync >/dev/null; then
    COLD_TOOLS=(rsync)
    cold_series "$dir"
  fi
  rm -rf "$dir"
}
