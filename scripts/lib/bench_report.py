#!/usr/bin/python3
"""Turns scripts/bench's results.tsv into the markdown report (docs/benchmarks.md).

usage: bench_report.py RESULTS MACHINE MICRO OUT DENSE SPARSE MEM_SMALL MEM_LARGE
Medians over repetitions; each goal of issue 5 gets its measured ratio and PASS/MISS.
"""
import csv
import statistics
import sys

MIB = 1 << 20


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(text[:-1]) * units[text[-1].upper()] if text[-1].upper() in units else int(text)


def human(n):
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return "%.2f %s" % (n / div, unit)
    return "%d B" % n


def extra(row):
    out = {}
    for part in filter(None, row["extra"].split(";")):
        k, _, v = part.partition("=")
        out[k] = v
    return out


def median_extra(results, scenario, tool, key):
    values = [float(extra(x)[key]) for x in results.select(scenario, tool) if key in extra(x)]
    return statistics.median(values) if values else None


class Results:
    def __init__(self, path):
        with open(path) as f:
            self.rows = list(csv.DictReader(f, delimiter="\t"))

    def select(self, scenario, tool):
        return [r for r in self.rows if r["scenario"] == scenario and r["tool"] == tool]

    def median(self, scenario, tool, field):
        rows = self.select(scenario, tool)
        if not rows:
            return None
        if field == "cpu":
            return statistics.median(float(r["user"]) + float(r["sys"]) for r in rows)
        return statistics.median(float(r[field]) for r in rows)


def verdict(ok):
    return "PASS" if ok else "**MISS**"


def main(argv):
    results_path, machine_path, micro_path, out_path = argv[1:5]
    dense, sparse, mem_small, mem_large = argv[5:9]
    dense_size, sparse_size = parse_size(dense), parse_size(sparse)
    r = Results(results_path)
    m = r.median
    goals = []

    def seconds(v):
        return "–" if v is None else "%.2f s" % v  # (scenario, goal, measured, verdict)

    s = m("clone_dense", "sparsync", "wall")
    c, scp, rs = (m("clone_dense", t, "wall") for t in ("cat_ssh", "scp", "rsync"))
    cf = m("clone_dense", "cat_ssh_fsync", "wall")
    goals.append((
        "first clone, dense %s" % dense,
        "≤ 1.1× cat|ssh; < scp; < rsync --inplace",
        "sparsync %.2f s; cat|ssh %.2f s (**%.2f×**); scp %.2f s (%.2f×); rsync %.2f s (%.2f×); "
        "cat|ssh + fdatasync %.2f s (%.2f×)" % (s, c, s / c, scp, s / scp, rs, s / rs, cf, s / cf),
        verdict(s <= 1.1 * c and s < scp and s < rs)))

    sp = m("clone_sparse", "sparsync", "wall")
    scaled = s * sparse_size / dense_size
    rows = r.select("clone_sparse", "sparsync")
    ex = extra(rows[-1]) if rows else {}
    src_alloc, dst_alloc = int(ex.get("src_alloc", 0)), int(ex.get("dst_alloc", 0))
    alloc_ok = dst_alloc <= src_alloc * 1.01 + MIB
    goals.append((
        "first clone, %s, 90 %% holes" % sparse,
        "≤ 0.15× dense clone of the same size; target allocation = source data",
        "%.2f s vs %.2f s (dense %s clone × %d, linear) = **%.3f×**; allocated: source %s, target %s"
        % (sp, scaled, dense, sparse_size // dense_size, sp / scaled, human(src_alloc), human(dst_alloc)),
        verdict(sp <= 0.15 * scaled and alloc_ok)))

    si = m("incr_scatter", "sparsync", "wall")
    rb = m("incr_scatter", "read_both", "wall")
    hb = m("incr_scatter", "hash_both", "wall")
    blocks = statistics.median(int(extra(x)["changed_blocks"]) for x in r.select("incr_scatter", "sparsync"))
    changed = blocks * 4096
    fwd, rev = m("incr_scatter", "sparsync", "fwd"), m("incr_scatter", "sparsync", "rev")
    fwd_goal = 1.05 * changed + MIB
    sync_s = median_extra(r, "incr_scatter", "sparsync", "sync_s")
    goals.append((
        "incremental, 1 %% scattered 4 KiB blocks, %s, warm" % dense,
        "≤ 1.3× reading both at once; fwd ≤ 1.05× changed + 1 MiB; rev ≤ 0.5 % of disk",
        "%.2f s vs read both %.2f s = **%.2f×** (reading and hashing both at once and nothing else, the "
        "floor of any block-by-block comparison here: %s = %s× read both; one `ssh host true` alone takes %s, "
        "%s of it the far account's login shell start-up; sparsync's own sync phase %s = %s× read both); "
        "fwd %s vs goal %s (%.2f× of it); rev %s = %.3f %% of disk"
        % (si, rb, si / rb, seconds(hb), "–" if hb is None else "%.2f" % (hb / rb),
           seconds(m("ssh_session", "ssh_true", "wall")),
           seconds(m("login_shell", "shell_c_true", "wall")), seconds(sync_s),
           "–" if sync_s is None else "%.2f" % (sync_s / rb), human(fwd), human(fwd_goal),
           fwd / fwd_goal, human(rev), 100 * rev / dense_size),
        verdict(si <= 1.3 * rb and fwd <= fwd_goal and rev <= 0.005 * dense_size)))

    nf, nr = m("incr_nochange", "sparsync", "fwd"), m("incr_nochange", "sparsync", "rev")
    nrows = r.select("incr_nochange", "sparsync")
    rc_ok = all(x["rc"] == "0" for x in nrows)
    summary_ok = all(extra(x).get("summary", "0") != "0" for x in nrows)
    goals.append((
        "incremental, no change, %s" % dense,
        "fwd ≈ 0 (framing only, taken as ≤ 64 KiB incl. SSH handshake); rev ≤ 0.5 %; exit 0 + summary",
        "fwd %s; rev %s = %.3f %% of disk; exit %s; summary line %s; %.2f s"
        % (human(nf), human(nr), 100 * nr / dense_size, "0" if rc_ok else "non-zero",
           "yes" if summary_ok else "no", m("incr_nochange", "sparsync", "wall")),
        verdict(nf <= 64 * 1024 and nr <= 0.005 * dense_size and rc_ok and summary_ok)))

    se, re_ = m("incr_ext4", "sparsync", "wall"), m("incr_ext4", "rsync", "wall")
    goals.append((
        "incremental, ext4 %s, 10 %% changed by writing files" % dense,
        "≥ 3× faster than rsync --inplace --no-whole-file",
        "sparsync %.2f s, rsync %.2f s: **%.2f×** faster; sparsync fwd %s, rsync fwd %s"
        % (se, re_, re_ / se, human(m("incr_ext4", "sparsync", "fwd")), human(m("incr_ext4", "rsync", "fwd"))),
        verdict(re_ >= 3 * se)))

    # Issue 17: the undo journal against --no-undo, on the same kind of change.
    for scn, what in (("undo_scatter", "1 % scattered 4 KiB blocks"), ("undo_ext4", "ext4, 10 % changed by writing files")):
        with_j, without = m(scn, "sparsync", "wall"), m(scn, "sparsync_no_undo", "wall")
        if with_j is None or without is None:
            continue
        sj, sn = (median_extra(r, scn, t, "sync_s") for t in ("sparsync", "sparsync_no_undo"))
        phase = "" if sj is None or sn is None else "; sync phase %.2f s vs %.2f s = %.2f×" % (sj, sn, sj / sn)
        goals.append((
            "undo journal cost, incremental %s %s" % (what, dense),
            "with the journal ≤ 1.3× `--no-undo`",
            "%.2f s vs %.2f s = **%.2f×**%s" % (with_j, without, with_j / without, phase),
            verdict(with_j <= 1.3 * without)))

    def sync_phases(base):
        zero, lat = (median_extra(r, b, "sparsync", "sync_s") for b in (base, base + "_50ms"))
        if zero is None or lat is None:
            return ""
        return "; sparsync's own sync phase %.2f s vs %.2f s" % (lat, zero)

    for base in ("clone_dense", "incr_scatter", "incr_nochange", "incr_ext4"):
        zero, lat = m(base, "sparsync", "wall"), m(base + "_50ms", "sparsync", "wall")
        if zero is None or lat is None:
            continue
        goals.append((
            "%s with 50 ms RTT" % base,
            "≤ 1.1× zero-latency + 1 s",
            "%.2f s vs %.2f s → goal %.2f s: **%.2f×** of the goal%s%s"
            % (lat, zero, 1.1 * zero + 1, lat / (1.1 * zero + 1),
               "; cat|ssh at 50 ms: %s" % seconds(m(base + "_50ms", "cat_ssh", "wall"))
               if m(base + "_50ms", "cat_ssh", "wall") is not None else "",
               sync_phases(base)),
            verdict(lat <= 1.1 * zero + 1)))

    def peak(scn):
        rows = r.rows
        return max(max(int(x["rss_kb"]), int(x["far_rss_kb"])) for x in rows if x["scenario"] == scn) * 1024

    small, large = peak("mem_" + mem_small), peak("mem_" + mem_large)
    goals.append((
        "memory, sparse %s vs %s" % (mem_small, mem_large),
        "peak RSS the same for both, ≤ 64 MiB",
        "peak RSS (max of both sides, clone and no-change run): %s vs %s (%.2f×)" % (human(small), human(large), large / small),
        verdict(large <= 1.1 * small + 2 * MIB and large <= 64 * MIB)))

    out = []
    out.append("# Benchmarks (issue 5)\n")
    out.append("Produced by `scripts/bench`; every figure below comes from one run on one machine. "
               "Wire bytes are counted by a TCP relay in front of sshd (`bench/relay_main.cpp`), outside the "
               "tools, and include SSH framing, the key exchange and authentication. \"fwd\" is client → sshd, "
               "\"rev\" is sshd → client. CPU and peak RSS of the far sparsync are measured by running it under "
               "`/usr/bin/time` (`--remote-path` wrapper); sshd's own CPU is not counted for any tool. "
               "Every sparsync copy was compared with `cmp`.\n")
    out.append("## Machine\n")
    out.append(open(machine_path).read())
    out.append("\n## Goals\n")
    out.append("| scenario | goal | measured (medians) | verdict |")
    out.append("| --- | --- | --- | --- |")
    for g in goals:
        out.append("| %s | %s | %s | %s |" % g)
    out.append("\nChange tracking (issue 18: `--changes digest`, `reflink`, `bitmap:NAME` against the "
               "full-compare incremental of the same change, over SSH and locally) has its own page, "
               "[benchmarks-changes.md](benchmarks-changes.md), written by this run too "
               "(`scripts/bench --changes-only` runs those rows alone); its rows are not repeated below.")
    out.append("\n## All figures (medians)\n")
    out.append("| scenario | tool | runs | wall s | client CPU s | client RSS MiB | far CPU s | far RSS MiB | fwd | rev | exit codes |")
    out.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    seen = []
    for x in r.rows:
        if x["scenario"].startswith("chg_"):
            continue
        key = (x["scenario"], x["tool"])
        if key not in seen:
            seen.append(key)
    for scn, tool in seen:
        rows = r.select(scn, tool)
        far = m(scn, tool, "far_rss_kb")
        out.append("| %s | %s | %d | %.2f | %.2f | %.1f | %s | %s | %s | %s | %s |" % (
            scn, tool, len(rows), m(scn, tool, "wall"), m(scn, tool, "cpu"), m(scn, tool, "rss_kb") / 1024,
            "%.2f" % m(scn, tool, "far_cpu") if far else "–", "%.1f" % (far / 1024) if far else "–",
            human(m(scn, tool, "fwd")), human(m(scn, tool, "rev")), ",".join(sorted({y["rc"] for y in rows}))))
    out.append("\nclient CPU and RSS are those of the command timed: for `cat|ssh` the shell, cat and ssh; for "
               "read_both the two cats, hash_both two `sparsync_bench_hashpass` (`bench/hash_pass_main.cpp`: pread 1 MiB, "
               "XXH3-128 of every 4 KiB block, as the engine digests). login_shell is the far account's shell started as sshd starts it for "
               "every command (`$SHELL -c true` with SSH_CLIENT set, so bash reads ~/.bashrc), on this machine; "
               "every tool's SSH command pays it once.\n")
    out.append("## Micro-benchmarks (Google Benchmark, reported, never gated)\n")
    out.append("```")
    out.append(open(micro_path).read().rstrip())
    out.append("```\n")
    with open(out_path, "w") as f:
        f.write("\n".join(out) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
