#!/usr/bin/python3
"""The cold rows of scripts/bench (issue 21) as a markdown table.

  bench_cold_report.py RESULTS.tsv SIZE REPS [SKIPPED_REASON]

Medians per scenario and tool of the rows whose scenario starts with cold_:
wall time, the ratio to the floor measured in the same series, the page
cache's growth over the run (cache_mib: the whole machine's) and what of the
images was cached after it (images_mib: only this run's doing).
"""
import csv
import statistics
import sys

GOAL_RATIO = 1.2
GOAL_CACHE_MIB = 64
NAMES = {
    "cold_incr_file": "1 % scattered 4 KiB changes, files",
    "cold_incr_blockdev": "1 % scattered 4 KiB changes, loop block devices (direct I/O to their files)",
    "cold_clone": "dense first clone into a new file",
}
FLOORS = {
    "cold_incr_file": "both images read at once, `dd bs=1M iflag=direct`",
    "cold_incr_blockdev": "both devices read at once, `dd bs=1M iflag=direct`",
    "cold_clone": "local copy `dd bs=1M iflag=direct oflag=direct conv=fdatasync`",
}


def extra(row, key):
    for item in row["extra"].split(";"):
        if item.startswith(key + "="):
            return float(item.split("=", 1)[1])
    return None


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main(argv):
    results, size, reps = argv[1], argv[2], argv[3]
    skipped = argv[4] if len(argv) > 4 else ""
    print("## Cold disks (issue 21)\n")
    if skipped:
        print(f"Not measured: {skipped}.\n")
        return 0
    rows = [r for r in csv.DictReader(open(results), delimiter="\t") if r["scenario"].startswith("cold_")]
    by = {}
    for r in rows:
        by.setdefault((r["scenario"], r["tool"]), []).append(r)
    print(f"{size} images, the page cache dropped before every run (`sync; echo 3 > /proc/sys/vm/drop_caches`), "
          f"{reps} repetition(s) alternating the tools, medians, over SSH through the counting relay. "
          f"Floor: read in the same series. Cache growth: `Cached:` + `Buffers:` in /proc/meminfo after the "
          f"run minus before (the whole machine: other work on it counts too); images cached: what `fincore` "
          f"finds of both image files after the run (this run's doing only; the verdict uses it, and the "
          f"cache growth for block devices, whose cache fincore does not see). "
          f"Goals: ≤ {GOAL_RATIO}× the floor, ≤ {GOAL_CACHE_MIB} MiB left in the cache.\n")
    print("| scenario | floor | tool | time | × floor | sync phase | cache growth | images cached | verdict |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for scenario in NAMES:
        floor = med(float(r["wall"]) for r in by.get((scenario, "floor"), []))
        for tool in ("sparsync", "rsync", "baseline"):
            runs = by.get((scenario, tool))
            if not runs:
                continue
            wall = med(float(r["wall"]) for r in runs)
            sync_s = med(extra(r, "sync_s") for r in runs)
            cache = med(extra(r, "cache_mib") for r in runs)
            images = med(extra(r, "images_mib") for r in runs)
            ratio = wall / floor if floor else None
            fmt = lambda v, spec, unit: "-" if v is None else f"{v:{spec}}{unit}"
            verdict = ""
            left = images if images is not None else cache
            if tool == "sparsync" and ratio is not None and left is not None:
                ok = (ratio <= GOAL_RATIO or scenario == "cold_clone") and left <= GOAL_CACHE_MIB
                verdict = "pass" if ok else "miss"
            failed = any(r["rc"] != "0" for r in runs)
            print(f"| {NAMES[scenario]} | {FLOORS[scenario]}: {fmt(floor, '.2f', ' s')} | "
                  f"{tool}{' (FAILED)' if failed else ''} | {fmt(wall, '.2f', ' s')} | {fmt(ratio, '.2f', '×')} | "
                  f"{fmt(sync_s, '.2f', ' s')} | {fmt(cache, '.0f', ' MiB')} | {fmt(images, '.0f', ' MiB')} | "
                  f"{verdict} |")
    print("\nThe clone row's verdict is on what it leaves in the cache only: a dense clone over SSH is bound by the "
          "cipher's CPU, not by the disk (see the dense clone row above).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
