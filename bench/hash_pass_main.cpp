// sparsync_bench_hashpass: reads one file or device once, 1 MiB at a time
// with pread, and digests every 4 KiB block with the engine's own
// digest_block (XXH3-128). Nothing else: no comparison, no frames, no writes.
//
// scripts/bench runs two of these at once, one per image, beside the
// scattered row's `read_both` (two cats): the difference is what hashing adds
// to reading, and the time is the floor that any tool comparing both images
// block by block pays on this machine, before it compares or sends anything.
//
// Usage: sparsync_bench_hashpass FILE
// Prints "blocks N digest-xor HEX" (the xor keeps the digests from being
// optimised away and lets two identical images be seen to hash alike).
// Thread-safety: single-threaded.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "common/block_hash.h"

namespace {

constexpr size_t kRead = 1u << 20;
constexpr size_t kBlock = 4096;

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: sparsync_bench_hashpass FILE\n");
    return 2;
  }
  int fd = ::open(argv[1], O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::fprintf(stderr, "sparsync_bench_hashpass: cannot open %s: %s\n", argv[1], std::strerror(errno));
    return 1;
  }
  std::vector<uint8_t> buf(kRead);
  uint8_t digest[sparsync::kMaxDigest];
  uint64_t acc[2] = {0, 0};
  uint64_t blocks = 0;
  for (off_t pos = 0;;) {
    ssize_t got = ::pread(fd, buf.data(), buf.size(), pos);
    if (got < 0 && errno == EINTR) continue;
    if (got < 0) {
      std::fprintf(stderr, "sparsync_bench_hashpass: read error in %s at byte %jd: %s\n", argv[1],
                   static_cast<intmax_t>(pos), std::strerror(errno));
      return 1;
    }
    if (got == 0) break;
    for (size_t at = 0; at < static_cast<size_t>(got); at += kBlock) {
      size_t len = std::min(kBlock, static_cast<size_t>(got) - at);
      sparsync::digest_block(sparsync::proto::HashKind::kXxh3_128, buf.data() + at, len, digest);
      uint64_t half[2];
      std::memcpy(half, digest, sizeof half);
      acc[0] ^= half[0];
      acc[1] ^= half[1];
      ++blocks;
    }
    pos += got;
  }
  ::close(fd);
  std::printf("blocks %" PRIu64 " digest-xor %016" PRIx64 "%016" PRIx64 "\n", blocks, acc[0], acc[1]);
  return 0;
}
