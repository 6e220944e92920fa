// sparsync_bench_reflink: what --changes reflink costs on the source's
// filesystem, apart from any transfer. In DIR (on XFS with reflink=1, or
// btrfs) it writes a dense image of SIZE_MIB, takes and keeps a reference
// (source/reflink_reference.h), rewrites PERCENT % of its BLOCK_KIB blocks
// at random (seeded), takes a second reference, and times the FIEMAP
// comparison of the two (source/reflink_changes.h) several times. Then it
// removes everything it made.
//
// Usage: sparsync_bench_reflink DIR [SIZE_MIB=4096] [BLOCK_KIB=64] [PERCENT=1]
// A scratch XFS: truncate -s 6G x.img; mkfs.xfs -q x.img; mount -o loop x.img DIR
// Thread-safety: single-threaded.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "source/reflink_changes.h"
#include "source/reflink_reference.h"

namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) { return std::chrono::duration<double, std::milli>(Clock::now() - t0).count(); }

int fail(const std::string& what) {
  std::fprintf(stderr, "sparsync_bench_reflink: %s\n", what.c_str());
  return 1;
}

// Fills `buf` with bytes that differ for every (seed, chunk), so no block
// repeats (no filesystem here dedupes, but a compressing one would notice).
void fill(std::vector<uint8_t>& buf, uint64_t seed) {
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i + 8 <= buf.size(); i += 8) {
    const uint64_t v = rng();
    std::memcpy(buf.data() + i, &v, 8);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 5) {
    std::fprintf(stderr, "usage: sparsync_bench_reflink DIR [SIZE_MIB=4096] [BLOCK_KIB=64] [PERCENT=1]\n");
    return 2;
  }
  const std::string dir = argv[1];
  const uint64_t size = (argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 4096) << 20;
  const uint64_t block = (argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 64) << 10;
  const double percent = argc > 4 ? std::strtod(argv[4], nullptr) : 1.0;
  const std::string path = dir + "/reflink-bench.img";
  if (size == 0 || block == 0 || size % block != 0) return fail("SIZE_MIB must be a multiple of BLOCK_KIB");

  sparsync::UniqueFd image(::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
  if (!image.valid()) return fail("cannot create " + path + ": " + std::strerror(errno));
  auto t0 = Clock::now();
  std::vector<uint8_t> buf(8 << 20);
  for (uint64_t at = 0; at < size; at += buf.size()) {
    fill(buf, at);
    const size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - at));
    if (sparsync::pwrite_full(image.get(), buf.data(), n, at) != 0) return fail("cannot write " + path);
  }
  if (::fsync(image.get()) != 0) return fail("cannot flush " + path);
  std::printf("wrote %llu MiB in %.0f ms\n", static_cast<unsigned long long>(size >> 20), ms_since(t0));

  auto place = sparsync::reference_place(path);
  if (!place.is_ok()) return fail(place.status().message());
  {
    t0 = Clock::now();
    auto first = sparsync::take_reference(place.value(), image.get());
    if (!first.is_ok()) return fail(first.status().message());
    std::printf("first reference taken in %.1f ms\n", ms_since(t0));
    auto kept = sparsync::keep_reference(place.value(), first.value());
    if (!kept.is_ok()) return fail(kept.status().message());
  }

  const uint64_t blocks = size / block;
  const auto rewrites = static_cast<uint64_t>(static_cast<double>(blocks) * percent / 100.0);
  std::vector<uint64_t> chosen(blocks);
  for (uint64_t i = 0; i < blocks; ++i) chosen[i] = i;
  std::mt19937_64 rng(42);
  std::shuffle(chosen.begin(), chosen.end(), rng);
  chosen.resize(rewrites);
  std::sort(chosen.begin(), chosen.end());
  std::vector<uint8_t> one(block);
  t0 = Clock::now();
  for (uint64_t b : chosen) {
    fill(one, ~b);
    if (sparsync::pwrite_full(image.get(), one.data(), one.size(), b * block) != 0) return fail("cannot write");
  }
  if (::fsync(image.get()) != 0) return fail("cannot flush " + path);
  std::printf("rewrote %llu of %llu blocks of %llu KiB in %.0f ms\n", static_cast<unsigned long long>(rewrites),
              static_cast<unsigned long long>(blocks), static_cast<unsigned long long>(block >> 10), ms_since(t0));

  t0 = Clock::now();
  auto fresh = sparsync::take_reference(place.value(), image.get());
  if (!fresh.is_ok()) return fail(fresh.status().message());
  std::printf("second reference taken in %.1f ms\n", ms_since(t0));
  sparsync::KeptReference kept = sparsync::open_kept_reference(place.value(), fresh.value());
  if (!kept.refused.empty()) return fail(kept.refused);

  std::vector<double> times;
  sparsync::ChangeList changes;
  for (int run = 0; run < 7; ++run) {
    changes = sparsync::ChangeList();
    t0 = Clock::now();
    sparsync::Status s = sparsync::changed_extents(kept.fd.get(), fresh.value().fd.get(), size, &changes);
    times.push_back(ms_since(t0));
    if (!s.is_ok()) return fail(s.message());
  }
  std::sort(times.begin(), times.end());
  std::printf("changed_extents: %zu ranges, %llu KiB (rewritten: %llu KiB); min %.2f ms, median %.2f ms, max %.2f ms\n",
              changes.size(), static_cast<unsigned long long>(changes.bytes() >> 10),
              static_cast<unsigned long long>(rewrites * block >> 10), times.front(), times[times.size() / 2],
              times.back());

  kept.fd.reset();
  std::vector<std::string> left;
  (void)sparsync::discard_reference(place.value(), fresh.value());
  (void)sparsync::remove_references(place.value(), &left);
  for (const std::string& l : left) std::printf("%s\n", l.c_str());
  ::unlink(path.c_str());
  return 0;
}
