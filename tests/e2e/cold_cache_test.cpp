// What a local sync leaves in the page cache: by default nothing of what was
// not cached before (both images read around the cache, the target's writes
// dropped once on disk); with --keep-cache, the images as read. Exact bytes
// either way. Files, and block devices held open as a running VM holds its
// disk (the kernel drops a block device's cache at its last close, so without
// a holder there would be nothing to see).
#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <string>

#include "common/cache_residency.h"
#include "support/command.h"
#include "support/files.h"
#include "support/loop_device.h"
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

// Two loop devices over the pair, each held open by a descriptor of this test
// (the VM's) for as long as it lives, so their caches outlast any other close.
class HeldBlockDevices {
 public:
  static std::unique_ptr<HeldBlockDevices> attach(const std::string& src, const std::string& dst, std::string* why) {
    auto s = testing::LoopDevice::attach(src, why);
    auto d = s ? testing::LoopDevice::attach(dst, why) : nullptr;
    if (!d) return nullptr;
    return std::unique_ptr<HeldBlockDevices>(new HeldBlockDevices(std::move(s), std::move(d)));
  }
  ~HeldBlockDevices() {
    ::close(src_fd_);
    ::close(dst_fd_);
  }
  void drop() {
    drop_from_cache(src());
    drop_from_cache(dst());
  }
  const std::string& src() const { return src_->path(); }
  const std::string& dst() const { return dst_->path(); }
  uint64_t src_cached() const { return cached_bytes(src()); }
  uint64_t dst_cached() const { return cached_bytes(dst()); }

 private:
  HeldBlockDevices(std::unique_ptr<testing::LoopDevice> s, std::unique_ptr<testing::LoopDevice> d)
      : src_(std::move(s)),
        dst_(std::move(d)),
        src_fd_(::open(src_->path().c_str(), O_RDONLY | O_CLOEXEC)),
        dst_fd_(::open(dst_->path().c_str(), O_RDONLY | O_CLOEXEC)) {}
  std::unique_ptr<testing::LoopDevice> src_, dst_;
  int src_fd_, dst_fd_;
};

TEST_F(ColdCache, BlockDevicesHeldOpenKeepNothingOfTheRunInTheirCache) {
  make_pair();
  std::string why;
  auto devs = HeldBlockDevices::attach(src_, dst_, &why);
  if (!devs) GTEST_SKIP() << "no loop devices: " << why;
  devs->drop();
  ASSERT_EQ(devs->src_cached(), 0u);
  testing::CommandResult r = testing::run_sparsync({devs->src(), devs->dst()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(devs->src_cached(), 0u);
  EXPECT_EQ(devs->dst_cached(), 0u);
  EXPECT_EQ(testing::first_difference(devs->src(), devs->dst()), std::nullopt);

  // The same measure sees what --keep-cache leaves.
  make_pair();
  devs->drop();
  r = testing::run_sparsync({"--keep-cache", devs->src(), devs->dst()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(devs->src_cached(), kImageBytes);
  EXPECT_GE(devs->dst_cached(), kImageBytes / 2);
  EXPECT_EQ(testing::first_difference(devs->src(), devs->dst()), std::nullopt);
}

}  // namespace
}  // namespace sparsync
