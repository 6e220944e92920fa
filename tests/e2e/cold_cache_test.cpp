// What a local sync leaves in the page cache: by default nothing of what was
// not cached before (both images read around the cache, the target's writes
// dropped once on disk); with --keep-cache, the images as read. Exact bytes
// either way.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "common/cache_residency.h"
#include "support/command.h"
#include "support/files.h"
#include "support/sizes.h"

namespace sparsync {
namespace {

using testing::kMiB;
using testing::TempDir;

constexpr uint64_t kImageBytes = 16 * kMiB;

// Writes back and evicts every page of `path`; then how many are cached.
void drop_from_cache(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}
uint64_t cached_bytes(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  uint64_t total = 0;
  const uint64_t pages = cached_pages(fd, 0, kImageBytes, &total);
  ::close(fd);
  return pages * 4096;
}

class ColdCache : public ::testing::Test {
 protected:
  // A source and a target 1 MiB in 16 apart, neither cached.
  void make_pair() {
    testing::write_all(src_, testing::pattern_bytes(3, 0, kImageBytes));
    std::vector<uint8_t> old = testing::pattern_bytes(3, 0, kImageBytes);
    for (uint64_t at = 0; at < kImageBytes; at += 16 * 4096) old[at] ^= 0xff;
    testing::write_all(dst_, old);
    drop_from_cache(src_);
    drop_from_cache(dst_);
  }
  TempDir dir_;
  std::string src_ = dir_.file("src.img"), dst_ = dir_.file("dst.img");
};

TEST_F(ColdCache, ARunLeavesNothingOfColdImagesInTheCache) {
  make_pair();
  testing::CommandResult r = testing::run_sparsync({src_, dst_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::first_difference(src_, dst_), std::nullopt);
  // (first_difference read both: measure on a fresh pair)
  make_pair();
  r = testing::run_sparsync({src_, dst_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(cached_bytes(src_), 0u);
  EXPECT_EQ(cached_bytes(dst_), 0u);
}

TEST_F(ColdCache, KeepCacheLeavesTheImagesCached) {
  make_pair();
  testing::CommandResult r = testing::run_sparsync({"--keep-cache", src_, dst_});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(cached_bytes(src_), kImageBytes);
  EXPECT_GE(cached_bytes(dst_), kImageBytes / 2);
  EXPECT_EQ(testing::first_difference(src_, dst_), std::nullopt);
}

}  // namespace
}  // namespace sparsync
