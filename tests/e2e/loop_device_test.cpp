// End-to-end syncs onto and from loop devices (block devices backed by sparse
// files). Skips with a reason where losetup cannot attach (not root, no loop
// driver).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "support/command.h"
#include "support/files.h"
#include "support/loop_device.h"
#include "support/sizes.h"

namespace sparsync {
namespace {

using testing::CommandResult;
using testing::kKiB;
using testing::kMiB;
using testing::LoopDevice;
using testing::SparseImage;
using testing::TempDir;

class LoopSync : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::supports_holes(dir_.path())) {
      GTEST_SKIP() << "the filesystem of " << dir_.path() << " does not report holes";
    }
    std::string why;
    SparseImage probe(dir_.file("probe"), kMiB);
    if (!LoopDevice::attach(probe.path(), &why)) GTEST_SKIP() << "loop devices unavailable: " << why;
  }

  // A loop device over a file of `size` bytes filled with pattern `seed`
  // (0: left sparse, reads as zeros).
  std::unique_ptr<LoopDevice> loop(const std::string& name, uint64_t size, uint32_t seed) {
    SparseImage backing(dir_.file(name), size);
    if (seed != 0) backing.data(0, size, seed);
    std::string why;
    auto dev = LoopDevice::attach(backing.path(), &why);
    if (!dev) ADD_FAILURE() << why;
    return dev;
  }

  CommandResult sync(const std::vector<std::string>& args) {
    std::vector<std::string> a{"-b", "64K"};
    a.insert(a.end(), args.begin(), args.end());
    return testing::run_sparsync(a);
  }

  TempDir dir_;
};

TEST_F(LoopSync, SparseImageOntoDeviceThenIncremental) {
  SparseImage src(dir_.file("src.img"), 32 * kMiB);
  src.data(0, kMiB, 1).data(16 * kMiB, 2 * kMiB, 2);
  auto dev = loop("dev.img", 32 * kMiB, 9);  // old contents everywhere
  ASSERT_TRUE(dev);
  CommandResult r = sync({src.path(), dev->path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(testing::first_difference(src.path(), dev->path()).has_value());
  auto s = testing::parse_summary(r.out);
  ASSERT_TRUE(s) << r.out;
  EXPECT_EQ(s->target, dev->path());
  EXPECT_EQ(s->data, "3.00 MiB");
  EXPECT_EQ(s->holes, "29.0 MiB");
  // The zeroed ranges were punched through to the backing file.
  EXPECT_LE(testing::allocated_bytes(dir_.file("dev.img")), 3 * kMiB + 64 * kKiB);

  src.bytes(kMiB + 5, {1}).hole(0, 64 * kKiB);
  r = sync({src.path(), dev->path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(testing::first_difference(src.path(), dev->path()).has_value());
  s = testing::parse_summary(r.out);
  ASSERT_TRUE(s) << r.out;
  EXPECT_EQ(s->data, "64.0 KiB");
  EXPECT_EQ(s->holes, "64.0 KiB");
  EXPECT_EQ(s->changed, 2u);

  r = sync({src.path(), dev->path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  s = testing::parse_summary(r.out);
  ASSERT_TRUE(s) << r.out;
  EXPECT_EQ(s->data, "0 B");
  EXPECT_EQ(s->holes, "0 B");
}

TEST_F(LoopSync, DeviceSmallerThanSourceIsRefused) {
  SparseImage src(dir_.file("src.img"), 8 * kMiB);
  src.data(0, 8 * kMiB, 1);
  auto dev = loop("dev.img", 4 * kMiB, 9);
  ASSERT_TRUE(dev);
  CommandResult r = sync({src.path(), dev->path()});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find(dev->path()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("less than"), std::string::npos) << r.err;
  // Nothing was written.
  auto bytes = testing::read_all(dir_.file("dev.img"));
  EXPECT_TRUE(bytes == testing::pattern_bytes(9, 0, 4 * kMiB));
}

TEST_F(LoopSync, DeviceLargerNeedsAllowLargerTargetAndKeepsItsTail) {
  SparseImage src(dir_.file("src.img"), 4 * kMiB);
  src.data(0, kMiB, 1);  // then 3 MiB of hole
  auto dev = loop("dev.img", 8 * kMiB, 9);
  ASSERT_TRUE(dev);
  CommandResult r = sync({src.path(), dev->path()});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("--allow-larger-target"), std::string::npos) << r.err;
  EXPECT_TRUE(testing::read_all(dir_.file("dev.img")) == testing::pattern_bytes(9, 0, 8 * kMiB));

  r = sync({"--allow-larger-target", src.path(), dev->path()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto head = testing::read_range(dev->path(), 0, 4 * kMiB);
  EXPECT_TRUE(head == testing::read_all(src.path()));
  auto tail = testing::read_range(dev->path(), 4 * kMiB, 4 * kMiB);
  EXPECT_TRUE(tail == testing::pattern_bytes(9, 4 * kMiB, 4 * kMiB)) << "the device tail was modified";
  auto s = testing::parse_summary(r.out);
  ASSERT_TRUE(s) << r.out;
  EXPECT_EQ(s->scanned, "4.00 MiB");
  EXPECT_EQ(s->data, "1.00 MiB");
  EXPECT_EQ(s->holes, "3.00 MiB");
}

TEST_F(LoopSync, DeviceAsSource) {
  auto dev = loop("dev.img", 16 * kMiB, 0);
  ASSERT_TRUE(dev);
  {
    // Write data through the device: 2 MiB at 4 MiB, 64 KiB at the end.
    auto a = testing::pattern_bytes(3, 4 * kMiB, 2 * kMiB);
    auto b = testing::pattern_bytes(4, 16 * kMiB - 64 * kKiB, 64 * kKiB);
    int fd = ::open(dev->path().c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::pwrite(fd, a.data(), a.size(), 4 * kMiB), static_cast<ssize_t>(a.size()));
    ASSERT_EQ(::pwrite(fd, b.data(), b.size(), 16 * kMiB - 64 * kKiB), static_cast<ssize_t>(b.size()));
    ASSERT_EQ(::fsync(fd), 0);
    ::close(fd);
  }
  const std::string dst = dir_.file("copy.img");
  CommandResult r = sync({dev->path(), dst});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::file_size(dst), 16 * kMiB);
  EXPECT_FALSE(testing::first_difference(dev->path(), dst).has_value());
  auto s = testing::parse_summary(r.out);
  ASSERT_TRUE(s) << r.out;
  EXPECT_EQ(s->source, dev->path());
  EXPECT_EQ(s->data, "2.06 MiB");
  // Zero blocks read from the device became holes in the new file.
  EXPECT_LE(testing::allocated_bytes(dst), 2 * kMiB + 64 * kKiB + 64 * kKiB);
}

}  // namespace
}  // namespace sparsync
