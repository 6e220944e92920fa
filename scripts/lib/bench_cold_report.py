#!/usr/bin/python3
"""The cold rows of scripts/bench (issue 21) as a markdown table.

  bench_cold_report.py RESULTS.tsv SIZE REPS [SKIPPED_REASON]

Medians per scenario and tool of the rows whose scenario starts with cold_:
wall time, the ratio to the floor measured in the same series, and the page
cache's growth per run (cache_mib in the extra column).
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
          f"Floor: read in the same series. Cache: growth of `Cached:` in /proc/meminfo over the run. "
          f"Goals: ≤ {GOAL_RATIO}× the floor, cache growth ≤ {GOAL_CACHE_MIB} MiB.\n")
    print("| scenario | floor | tool | time | × floor | sync phase | cache growth | verdict |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for scenario in NAMES:
        floor = med(float(r["wall"]) for r in by.get((scenario, "floor"), []))
        for tool in ("sparsync", "baseline"):
            runs = by.get((scenario, tool))
            if not runs:
                continue
            wall = med(float(r["wall"]) for r in runs)
            sync_s = med(extra(r, "sync_s") for r in runs)
            cache = med(extra(r, "cache_mib") for r in runs)
            ratio = wall / floor if floor else None
            verdict = ""
            if tool == "sparsync" and ratio is not None and cache is not None:
                ok = (ratio <= GOAL_RATIO or scenario == "cold_clone") and cache <= GOAL_CACHE_MIB
                verdict = "pass" if ok else "miss"
            failed = any(r["rc"] != "0" for r in runs)
            print(f"| {NAMES[scenario]} | {FLOORS[scenario]}: {floor:.2f} s | {tool}{' (FAILED)' if failed else ''} | "
                  f"{wall:.2f} s | {ratio:.2f}× | {sync_s if sync_s is not None else '-'} s | "
                  f"{cache:.0f} MiB | {verdict} |")
    print("\nThe clone row's verdict is on its cache growth only: a dense clone over SSH is bound by the "
          "cipher's CPU, not by the disk (see the dense clone row above).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
