#!/usr/bin/python3
"""Datasets for scripts/bench (writes files only; no third-party modules).

  bench_data.py dense FILE SIZE            random bytes, fully allocated
  bench_data.py sparse FILE SIZE PERCENT   PERCENT % random data in 1 MiB extents
                                           spread evenly, the rest holes
  bench_data.py scatter FILE PERCENT SEED [BLOCK]
                                           overwrite PERCENT % of the BLOCK-sized blocks
                                           (default 4096), chosen at random, with random
                                           bytes; prints the number of distinct blocks
  bench_data.py offsets SIZE PERCENT SEED BLOCK
                                           the same choice for an image of SIZE bytes,
                                           printed as byte offsets, one a line (for a
                                           qcow2 image written with qemu-io)
  bench_data.py files DIR TOTAL COUNT SEED COUNT files of random bytes, TOTAL in all
SIZE and TOTAL are bytes or take a K/M/G suffix (powers of 1024).
"""
import os
import random
import sys

MIB = 1 << 20
BLOCK = 4096


def parse_size(text):
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    if text[-1].upper() in units:
        return int(text[:-1]) * units[text[-1].upper()]
    return int(text)


def dense(path, size):
    with open(path, "wb") as f:
        left = size
        while left > 0:
            n = min(left, 4 * MIB)
            f.write(os.urandom(n))
            left -= n


def sparse(path, size, percent):
    with open(path, "wb") as f:
        f.truncate(size)
        extents = size // MIB
        want = max(1, extents * percent // 100)
        stride = extents / want
        for i in range(want):
            f.seek(int(i * stride) * MIB)
            f.write(os.urandom(MIB))


def choose(size, percent, seed, block):
    blocks = size // block
    rng = random.Random(seed)
    return sorted(set(rng.randrange(blocks) for _ in range(blocks * percent // 100)))


def scatter(path, percent, seed, block=BLOCK):
    chosen = choose(os.path.getsize(path), percent, seed, block)
    with open(path, "r+b") as f:
        for b in chosen:
            f.seek(b * block)
            f.write(os.urandom(block))
    print(len(chosen))


def offsets(size, percent, seed, block):
    for b in choose(size, percent, seed, block):
        print(b * block)


def files(directory, total, count, seed):
    os.makedirs(directory, exist_ok=True)
    rng = random.Random(seed)
    each = total // count
    for i in range(count):
        # Sizes vary a little, like real files; the total stays near TOTAL.
        n = max(BLOCK, each + rng.randrange(-each // 4, each // 4 + 1))
        with open(os.path.join(directory, "f%03d.bin" % i), "wb") as f:
            f.write(os.urandom(n))


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    if cmd == "dense" and len(argv) == 4:
        dense(argv[2], parse_size(argv[3]))
    elif cmd == "sparse" and len(argv) == 5:
        sparse(argv[2], parse_size(argv[3]), int(argv[4]))
    elif cmd == "scatter" and len(argv) in (5, 6):
        scatter(argv[2], int(argv[3]), int(argv[4]), *[parse_size(a) for a in argv[5:]])
    elif cmd == "offsets" and len(argv) == 6:
        offsets(parse_size(argv[2]), int(argv[3]), int(argv[4]), parse_size(argv[5]))
    elif cmd == "files" and len(argv) == 6:
        files(argv[2], parse_size(argv[3]), int(argv[4]), int(argv[5]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
