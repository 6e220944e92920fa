#!/usr/bin/python3
"""The change-tracking rows of scripts/bench (issue 18, item 7) as markdown.

  bench_changes_report.py RESULTS.tsv SIZE REPS XFS_SKIPPED QCOW2_SKIPPED

Reads the rows whose scenario starts with chg_ (scripts/lib/bench_changes.sh):
chg_OVER_KIND (the first runs, which start the trackers) and
chg_OVER_KIND_BLOCK (the timed runs: full, tracked, session). Medians per
scenario and tool. Goals:
  time   (wall - session start) <= 0.1 x (full-compare wall - session start),
         the session start being `sparsync --status host:TARGET` in the same
         series (0 for a local sync); the plain wall ratio is shown beside it,
         not judged
  bytes  on each host, bytes read <= 2 x the changed bytes + 1 MiB: the source's
         bytes_read and the target's target_bytes_hashed
"""
import csv
import statistics
import sys

MIB = 1 << 20
GOAL_TIME = 0.1
GOAL_BYTES_FACTOR = 2
GOAL_BYTES_SLACK = MIB
KINDS = {
    "raw": ("raw file", "digest"),
    "xfs": ("raw file on XFS", "reflink"),
    "qcow2": ("qcow2", "bitmap:bench"),
}
OVERS = {"ssh": "SSH", "local": "local"}


def human(n):
    if n is None:
        return "-"
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return "%.2f %s" % (n / div, unit)
    return "%d B" % n


def extras(row):
    out = {}
    for part in filter(None, row["extra"].split(";")):
        k, _, v = part.partition("=")
        out[k] = v
    return out


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def num(row, key):
    v = extras(row).get(key)
    return float(v) if v not in (None, "") else None


def fmt(v, spec=".2f", unit=""):
    return "-" if v is None else f"{v:{spec}}{unit}"


class Series:
    def __init__(self, runs):
        self.runs = runs
        self.failed = any(r["rc"] != "0" for r in runs)
        self.wall = med(float(r["wall"]) for r in runs)
        self.sync = med(num(r, "sync_s") for r in runs)
        self.read = med(num(r, "bytes_read") for r in runs)
        self.hashed = med(num(r, "hashed") for r in runs)
        self.changed = med(num(r, "changed_bytes") for r in runs)
        self.sources = sorted({extras(r).get("source", "?") for r in runs})


def main(argv):
    results, size, reps, xfs_skipped, qcow2_skipped = argv[1:6]
    rows = [r for r in csv.DictReader(open(results), delimiter="\t") if r["scenario"].startswith("chg_")]
    by = {}
    for r in rows:
        by.setdefault((r["scenario"], r["tool"]), []).append(r)
    blocks = sorted({int(s.rsplit("_", 1)[1]) for s, _ in by if s.count("_") == 3}, reverse=True)
    print("# Change tracking (issue 18)\n")
    print(f"A {size} image (dense random bytes), 1 % of it changed before each timed run in scattered "
          f"writes of one size (64 KiB, then 4 KiB: the image's size / size-of-write / 100 writes at "
          f"random aligned offsets; \"changed\" below is what was written, duplicates counted once). "
          f"Each image is synced into two targets that start as copies of it: plain sparsync "
          f"(\"full\": both sides read and hash the whole image) and sparsync `--changes MODE` "
          f"(\"tracked\"); both sync the same change. Before the first change, one run of each "
          f"compares in full and starts the tracker (below the table, not in it). {reps} repetition(s) "
          f"per row, each with a new change, the runs in rotating order, medians. Page cache warm: "
          f"both images are read just before each run, as for the other incremental rows. Files keep "
          f"their undo journal (the default) in every run. Every target was checked against its "
          f"source after every run (`cmp`; for qcow2, `qemu-img compare` of the guest's view "
          f"against the raw target).\n")
    print("Images: a raw file in the work directory (ext4) with `--changes digest`; a raw file on an "
          "XFS filesystem on a loop device made by the bench with `--changes reflink`; a qcow2 image "
          "(`qemu-img convert` of the raw one, 64 KiB clusters) read with `--source-format qcow2` "
          "with `--changes bitmap:bench`, the change written with one `qemu-io` call of many "
          "`write -P N OFFSET SIZE`. Each has its own full-compare baseline from the same image.\n")
    print("Columns: *wall*: the command's wall time. *session*: the session start, measured apart "
          "in the same series as `sparsync --status bench:TARGET` (the same binary and far wrapper: "
          "its libssh connection, key exchange, authentication, the far account's login shell, which "
          "sshd runs for every command, the far sparsync's start, and one small request and answer); "
          "a local sync has none. *ssh true*: `ssh -F CONFIG bench true` in the same series, for "
          "reference (OpenSSH's client; not used in any ratio). *net*: wall minus session. *own timer*: `seconds` from sparsync's JSON: from the session on the "
          "connected transport (the tracker's source preparation, reflink copy or qemu-nbd start "
          "included) to the summary, without the process start, the SSH login and what the "
          "tracker does after the target confirmed the run (storing digests, rotating the bitmap). "
          "*read, src*: `bytes_read`; *read, target*: `target_bytes_hashed` (the undo journal's "
          "read of the old content of each written block is not in it).\n")
    print(f"Goals (for the tracked rows): **time**: net ≤ {GOAL_TIME}× the full row's net, "
          f"i.e. (wall − session) ≤ {GOAL_TIME} × (full wall − session); the ratio of the walls "
          f"with the session start left in is shown too, not judged. **bytes**: on each host, "
          f"bytes read ≤ {GOAL_BYTES_FACTOR}× the changed bytes + 1 MiB (src: `bytes_read`, "
          f"target: `target_bytes_hashed`). A tracked run whose `change_source` is `full` "
          f"fails the bench.\n")
    skipped = []
    if xfs_skipped:
        skipped.append(f"the reflink rows: {xfs_skipped}")
    if qcow2_skipped:
        skipped.append(f"the bitmap rows: {qcow2_skipped}")
    if skipped:
        print("Not measured: " + "; ".join(skipped) + ".\n")
    print("| over | writes | image, mode | run | changed | wall | session | ssh true | net | own timer | read, src "
          "| read, target | change_source | × full, wall | × full, net | time goal | bytes goal |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    verdicts = []
    for over in OVERS:
        for block in blocks:
            for kind, (image, mode) in KINDS.items():
                scenario = f"chg_{over}_{kind}_{block}"
                if (scenario, "full") not in by:
                    continue
                full = Series(by[(scenario, "full")])
                tracked = Series(by.get((scenario, "tracked"), []))
                session = med(float(r["wall"]) for r in by.get((scenario, "session"), [])) if over == "ssh" else 0.0
                ssh_true = med(float(r["wall"]) for r in by.get((scenario, "ssh_true"), []))
                for name, s in (("full", full), ("tracked", tracked)):
                    if not s.runs:
                        continue
                    net = s.wall - session if session is not None else None
                    ratio_wall = ratio_net = None
                    time_v = bytes_v = ""
                    src_shown = ", ".join(s.sources)
                    if name == "tracked":
                        ratio_wall = s.wall / full.wall
                        full_net = full.wall - session if session is not None else None
                        ratio_net = net / full_net if net is not None and full_net and full_net > 0 else None
                        allowance = GOAL_BYTES_FACTOR * s.changed + GOAL_BYTES_SLACK
                        src_ok = s.read is not None and s.read <= allowance
                        tgt_ok = s.hashed is not None and s.hashed <= allowance
                        fell_back = "full" in s.sources
                        if fell_back:
                            src_shown += " (FELL BACK)"
                        time_ok = ratio_net is not None and ratio_net <= GOAL_TIME and not fell_back
                        time_v = "pass" if time_ok else "**miss**"
                        bytes_v = ("pass" if src_ok and tgt_ok else
                                   "**miss**: " + ", ".join(h for h, ok in (("src", src_ok), ("target", tgt_ok))
                                                            if not ok))
                        if fell_back or s.failed:
                            time_v = bytes_v = "**FAIL**"
                        verdicts.append((over, block, mode, ratio_wall, ratio_net, time_v, bytes_v, s, allowance))
                    print(f"| {OVERS[over]} | {block // 1024} KiB | {image}, "
                          f"{'plain sparsync' if name == 'full' else '`--changes ' + mode + '`'} | "
                          f"{name}{' (FAILED)' if s.failed else ''} | {human(s.changed)} | {fmt(s.wall, '.2f', ' s')} | "
                          f"{fmt(session if over == 'ssh' else None, '.2f', ' s')} | {fmt(ssh_true, '.2f', ' s')} | "
                          f"{fmt(net, '.2f', ' s')} | "
                          f"{fmt(s.sync, '.2f', ' s')} | {human(s.read)} | {human(s.hashed)} | {src_shown} | "
                          f"{fmt(ratio_wall, '.3f', '×')} | {fmt(ratio_net, '.3f', '×')} | {time_v} | {bytes_v} |")
    if verdicts:
        print("\n### Goals, tracked rows\n")
        print("| over | writes | mode | time: net × full net (goal ≤ %s×) | wall × full wall (not judged) "
              "| bytes: src / target read vs allowance (2× changed + 1 MiB) | time | bytes |" % GOAL_TIME)
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for over, block, mode, ratio_wall, ratio_net, time_v, bytes_v, s, allowance in verdicts:
            print(f"| {OVERS[over]} | {block // 1024} KiB | `{mode}` | {fmt(ratio_net, '.3f', '×')} | "
                  f"{fmt(ratio_wall, '.3f', '×')} | {human(s.read)} / {human(s.hashed)} vs {human(allowance)} | "
                  f"{time_v} | {bytes_v} |")
    print("\n### First runs with `--changes` (start the tracker; not timed in the table)\n")
    print("One run each, before the first change, into targets equal to the source: it compares in "
          "full. Beside it, the same first run of plain sparsync into the full-compare target.\n")
    print("| over | image, mode | plain sparsync wall | first `--changes` run wall | its own timer "
          "| change_source |")
    print("| --- | --- | --- | --- | --- | --- |")
    for over in OVERS:
        for kind, (image, mode) in KINDS.items():
            scenario = f"chg_{over}_{kind}"
            if (scenario, "establish_tracked") not in by:
                continue
            f = Series(by[(scenario, "establish_full")])
            t = Series(by[(scenario, "establish_tracked")])
            print(f"| {OVERS[over]} | {image}, `--changes {mode}` | {fmt(f.wall, '.2f', ' s')} | "
                  f"{fmt(t.wall, '.2f', ' s')} | {fmt(t.sync, '.2f', ' s')} | {', '.join(t.sources)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
