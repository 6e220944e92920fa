// FileDevice on real files and loop devices, and open_target's size policy.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <vector>

#include "common/device.h"
#include "support/files.h"
#include "support/loop_device.h"
#include "support/sizes.h"
#include "target/target_open.h"

namespace sparsync {
namespace {

using testing::kKiB;
using testing::kMiB;
using testing::SparseImage;
using testing::TempDir;

std::unique_ptr<FileDevice> open_dev(const std::string& path, bool writable, ErrorKind role) {
  auto r = FileDevice::open(path, writable, role);
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  return r.is_ok() ? r.take() : nullptr;
}

// open_target on `path` with a request for a source of `size` bytes.
Result<OpenedTarget> open_at(const std::string& path, uint64_t size, bool dry_run, bool allow_larger) {
  TargetOpenRequest r;
  r.source_size = size;
  r.dry_run = dry_run;
  r.allow_larger_target = allow_larger;
  return open_target(r, path);
}

class DeviceFile : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::supports_holes(dir_.path())) {
      GTEST_SKIP() << "the filesystem of " << dir_.path() << " does not report holes";
    }
  }
  TempDir dir_;
};

TEST_F(DeviceFile, ZeroRangePunchesAHole) {
  SparseImage img(dir_.file("t"), 4 * kMiB);
  img.data(0, 4 * kMiB);
  const uint64_t before = testing::allocated_bytes(img.path());
  auto dev = open_dev(img.path(), true, ErrorKind::kTarget);
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->zero_method(), proto::ZeroMethod::kNone);
  ASSERT_TRUE(dev->zero_range(kMiB, 2 * kMiB).is_ok());
  ASSERT_TRUE(dev->sync().is_ok());
  EXPECT_EQ(dev->zero_method(), proto::ZeroMethod::kPunchHole);
  EXPECT_EQ(testing::allocated_bytes(img.path()), before - 2 * kMiB);
  EXPECT_EQ(testing::file_size(img.path()), 4 * kMiB);
  auto bytes = testing::read_all(img.path());
  for (uint64_t i = 0; i < 4 * kMiB; ++i) {
    uint8_t want = (i >= kMiB && i < 3 * kMiB) ? 0 : testing::pattern_byte(1, i);
    ASSERT_EQ(bytes[i], want) << "offset " << i;
  }
}

TEST_F(DeviceFile, ZeroRangeUnalignedZeroesExactlyTheRange) {
  SparseImage img(dir_.file("t"), 64 * kKiB);
  img.data(0, 64 * kKiB);
  auto dev = open_dev(img.path(), true, ErrorKind::kTarget);
  ASSERT_TRUE(dev);
  ASSERT_TRUE(dev->zero_range(1000, 10000).is_ok());
  auto bytes = testing::read_all(img.path());
  for (uint64_t i = 0; i < bytes.size(); ++i) {
    uint8_t want = (i >= 1000 && i < 11000) ? 0 : testing::pattern_byte(1, i);
    ASSERT_EQ(bytes[i], want) << "offset " << i;
  }
  EXPECT_EQ(dev->zero_method(), proto::ZeroMethod::kPunchHole);
}

TEST_F(DeviceFile, ZeroLengthZeroRangeDoesNotDowngradeTheCascade) {
  // fallocate(len=0) fails with EINVAL; one empty request must not downgrade
  // the whole run to writing zeros.
  SparseImage img(dir_.file("t"), 2 * kMiB);
  img.data(0, 2 * kMiB);
  auto dev = open_dev(img.path(), true, ErrorKind::kTarget);
  ASSERT_TRUE(dev);
  ASSERT_TRUE(dev->zero_range(0, 0).is_ok());
  ASSERT_TRUE(dev->zero_range(0, kMiB).is_ok());
  EXPECT_EQ(dev->zero_method(), proto::ZeroMethod::kPunchHole);
  EXPECT_EQ(testing::allocated_bytes(img.path()), kMiB);
}

TEST_F(DeviceFile, ReadWriteRoundTripAndShortReadIsAnErrorOfTheRole) {
  SparseImage img(dir_.file("s"), 8 * kKiB);
  auto dev = open_dev(img.path(), true, ErrorKind::kSource);
  ASSERT_TRUE(dev);
  auto data = testing::pattern_bytes(7, 0, 5000);
  ASSERT_TRUE(dev->write_at(100, data.data(), data.size()).is_ok());
  std::vector<uint8_t> back(5000);
  ASSERT_TRUE(dev->read_at(100, back.data(), back.size()).is_ok());
  EXPECT_EQ(back, data);
  std::vector<uint8_t> buf(4 * kKiB);
  Status s = dev->read_at(6 * kKiB, buf.data(), buf.size());
  EXPECT_EQ(s.kind(), ErrorKind::kSource);
  EXPECT_NE(s.message().find(img.path()), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("shrank"), std::string::npos) << s.message();
}

TEST_F(DeviceFile, OpenErrorsCarryTheRoleAndPath) {
  auto missing = FileDevice::open(dir_.file("nope"), false, ErrorKind::kSource);
  ASSERT_FALSE(missing.is_ok());
  EXPECT_EQ(missing.status().kind(), ErrorKind::kSource);
  EXPECT_NE(missing.status().message().find(dir_.file("nope")), std::string::npos);
  auto dir = FileDevice::open(dir_.path(), false, ErrorKind::kTarget);
  ASSERT_FALSE(dir.is_ok());
  EXPECT_EQ(dir.status().kind(), ErrorKind::kTarget);
  EXPECT_NE(dir.status().message().find("directory"), std::string::npos);
  auto chr = FileDevice::open("/dev/null", false, ErrorKind::kSource);
  ASSERT_FALSE(chr.is_ok());
  EXPECT_EQ(chr.status().kind(), ErrorKind::kSource);
}

TEST_F(DeviceFile, CreateMakesAOneHoleFileAndRefusesExisting) {
  auto created = FileDevice::create(dir_.file("new"), 10 * kMiB);
  ASSERT_TRUE(created.is_ok()) << created.status().message();
  EXPECT_EQ(created.value()->size(), 10 * kMiB);
  EXPECT_EQ(testing::file_size(dir_.file("new")), 10 * kMiB);
  EXPECT_EQ(testing::allocated_bytes(dir_.file("new")), 0u);
  auto again = FileDevice::create(dir_.file("new"), 1);
  ASSERT_FALSE(again.is_ok());
  EXPECT_EQ(again.status().kind(), ErrorKind::kTarget);
}

TEST_F(DeviceFile, SetSizeTruncatesAndExtendsWithAHole) {
  SparseImage img(dir_.file("t"), kMiB);
  img.data(0, kMiB);
  auto dev = open_dev(img.path(), true, ErrorKind::kTarget);
  ASSERT_TRUE(dev);
  ASSERT_TRUE(dev->set_size(256 * kKiB).is_ok());
  EXPECT_EQ(dev->size(), 256 * kKiB);
  EXPECT_EQ(testing::file_size(img.path()), 256 * kKiB);
  ASSERT_TRUE(dev->set_size(4 * kMiB).is_ok());
  EXPECT_EQ(testing::allocated_bytes(img.path()), 256 * kKiB);
  Extent e;
  ASSERT_TRUE(dev->next_extent(256 * kKiB, 4 * kMiB, &e).is_ok());
  EXPECT_TRUE(e.hole);
  EXPECT_EQ(e.length, 4 * kMiB - 256 * kKiB);
}

TEST_F(DeviceFile, ShrunkFileExtentPastEndIsAnErrorNotAHole) {
  // The source file is truncated after it was opened (its size is cached).
  // SEEK_DATA past the new end fails with ENXIO, which next_extent takes for
  // "the rest is a hole": the reader would then send the lost tail as zeros
  // and report success instead of "the source shrank".
  SparseImage img(dir_.file("s"), 4 * kMiB);
  img.data(0, 4 * kMiB);
  auto dev = open_dev(img.path(), false, ErrorKind::kSource);
  ASSERT_TRUE(dev);
  ASSERT_EQ(::truncate(img.path().c_str(), static_cast<off_t>(kMiB)), 0);
  Extent e;
  Status s = dev->next_extent(2 * kMiB, 4 * kMiB, &e);
  EXPECT_EQ(s.kind(), ErrorKind::kSource) << s.message();
}

// --- open_target: the size policy for files -------------------------------

class OpenTargetFile : public DeviceFile {};

TEST_F(OpenTargetFile, MissingIsCreatedSparseAtSourceSize) {
  auto r = open_at(dir_.file("t"), 5 * kMiB + 3, false, false);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r.value().reply.state, proto::TargetState::kCreated);
  EXPECT_TRUE(r.value().known_zero);
  EXPECT_EQ(testing::file_size(dir_.file("t")), 5 * kMiB + 3);
  EXPECT_EQ(testing::allocated_bytes(dir_.file("t")), 0u);
  EXPECT_EQ(r.value().reply.path, dir_.file("t"));
}

TEST_F(OpenTargetFile, ANewFileThatCannotBeSizedIsRemovedAgain) {
  // A size past what the filesystem allows (EFBIG): the empty file it made
  // used to stay, and without a record --status called it complete.
  auto r = open_at(dir_.file("t"), uint64_t{1} << 62, false, false);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().kind(), ErrorKind::kTarget);
  EXPECT_FALSE(testing::exists(dir_.file("t")));
  EXPECT_TRUE(testing::directory_entries(dir_.path()).empty()) << "no file, no record";
}

TEST_F(OpenTargetFile, MissingInADryRunCreatesNothing) {
  auto r = open_at(dir_.file("t"), kMiB, true, false);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r.value().reply.state, proto::TargetState::kMissingDryRun);
  EXPECT_EQ(r.value().device, nullptr);
  EXPECT_TRUE(r.value().known_zero);
  EXPECT_FALSE(testing::exists(dir_.file("t")));
}

TEST_F(OpenTargetFile, LargerIsTruncatedSmallerIsGrown) {
  SparseImage big(dir_.file("big"), 3 * kMiB);
  big.data(0, 3 * kMiB);
  auto r = open_at(big.path(), kMiB, false, false);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r.value().reply.size, 3 * kMiB);  // what it had
  EXPECT_EQ(r.value().readable_size, kMiB);
  EXPECT_FALSE(r.value().known_zero);
  EXPECT_EQ(testing::file_size(big.path()), kMiB);

  SparseImage small(dir_.file("small"), kMiB);
  small.data(0, kMiB);
  auto g = open_at(small.path(), 3 * kMiB, false, false);
  ASSERT_TRUE(g.is_ok()) << g.status().message();
  EXPECT_EQ(g.value().readable_size, kMiB);
  EXPECT_EQ(testing::file_size(small.path()), 3 * kMiB);
  EXPECT_EQ(testing::allocated_bytes(small.path()), kMiB);
}

TEST_F(OpenTargetFile, EmptyFileIsKnownZero) {
  SparseImage empty(dir_.file("e"), 0);
  auto r = open_at(empty.path(), kMiB, false, false);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_TRUE(r.value().known_zero);
  EXPECT_EQ(r.value().reply.state, proto::TargetState::kExisting);
}

TEST_F(OpenTargetFile, DryRunLeavesSizeBytesAndMtimeAlone) {
  SparseImage big(dir_.file("big"), 3 * kMiB);
  big.data(0, 3 * kMiB);
  const int64_t mtime = testing::mtime_ns(big.path());
  auto r = open_at(big.path(), kMiB, true, false);
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r.value().readable_size, kMiB);
  r = Result<OpenedTarget>(Status::ok());  // close it
  EXPECT_EQ(testing::file_size(big.path()), 3 * kMiB);
  EXPECT_EQ(testing::mtime_ns(big.path()), mtime);
}

TEST_F(OpenTargetFile, MissingDirectoryIsATargetError) {
  auto r = open_at(dir_.file("no/such/dir/t"), kMiB, false, false);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().kind(), ErrorKind::kTarget);
  EXPECT_NE(r.status().message().find(dir_.file("no/such/dir/t")), std::string::npos);
}

TEST_F(OpenTargetFile, DirectoryIsATargetError) {
  auto r = open_at(dir_.path(), kMiB, false, false);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().kind(), ErrorKind::kTarget);
}

// --- loop devices ----------------------------------------------------------

class LoopDeviceTest : public ::testing::Test {
 protected:
  // A loop device over a sparse backing file of `size` bytes.
  std::unique_ptr<testing::LoopDevice> loop(uint64_t size, const std::string& name = "backing") {
    SparseImage backing(dir_.file(name), size);
    std::string why;
    auto dev = testing::LoopDevice::attach(backing.path(), &why);
    if (!dev) ADD_FAILURE() << "no loop device: " << why;
    return dev;
  }
  void SetUp() override {
    std::string why;
    SparseImage probe(dir_.file("probe"), kMiB);
    if (!testing::LoopDevice::attach(probe.path(), &why)) GTEST_SKIP() << "loop devices unavailable: " << why;
  }
  TempDir dir_;
};

TEST_F(LoopDeviceTest, OpensAsBlockDeviceWithItsSizeAndAllData) {
  auto lo = loop(8 * kMiB);
  ASSERT_TRUE(lo);
  auto dev = open_dev(lo->path(), false, ErrorKind::kSource);
  ASSERT_TRUE(dev);
  EXPECT_EQ(dev->kind(), proto::DeviceKind::kBlockDevice);
  EXPECT_EQ(dev->size(), 8 * kMiB);
  Extent e;
  ASSERT_TRUE(dev->next_extent(0, 8 * kMiB, &e).is_ok());
  EXPECT_FALSE(e.hole);
  EXPECT_EQ(e.length, 8 * kMiB);
}

TEST_F(LoopDeviceTest, WritableOpenIsExclusive) {
  auto lo = loop(kMiB);
  ASSERT_TRUE(lo);
  auto first = open_dev(lo->path(), true, ErrorKind::kTarget);
  ASSERT_TRUE(first);
  auto second = FileDevice::open(lo->path(), true, ErrorKind::kTarget);
  ASSERT_FALSE(second.is_ok());
  EXPECT_EQ(second.status().kind(), ErrorKind::kTarget);
  EXPECT_NE(second.status().message().find("in use"), std::string::npos) << second.status().message();
}

TEST_F(LoopDeviceTest, ZeroRangeZeroesTheDevice) {
  auto lo = loop(4 * kMiB);
  ASSERT_TRUE(lo);
  auto dev = open_dev(lo->path(), true, ErrorKind::kTarget);
  ASSERT_TRUE(dev);
  auto data = testing::pattern_bytes(3, 0, 4 * kMiB);
  ASSERT_TRUE(dev->write_at(0, data.data(), data.size()).is_ok());
  ASSERT_TRUE(dev->zero_range(kMiB, kMiB).is_ok());
  ASSERT_TRUE(dev->sync().is_ok());
  EXPECT_NE(dev->zero_method(), proto::ZeroMethod::kNone);
  std::vector<uint8_t> back(4 * kMiB);
  ASSERT_TRUE(dev->read_at(0, back.data(), back.size()).is_ok());
  std::fill(data.begin() + kMiB, data.begin() + 2 * kMiB, 0);
  EXPECT_TRUE(back == data);
  EXPECT_FALSE(dev->set_size(kMiB).is_ok());  // never resizes a device
}

TEST_F(LoopDeviceTest, OpenTargetSizePolicy) {
  auto lo = loop(4 * kMiB);
  ASSERT_TRUE(lo);
  auto smaller = open_at(lo->path(), 4 * kMiB + 4096, false, false);
  ASSERT_FALSE(smaller.is_ok());
  EXPECT_EQ(smaller.status().kind(), ErrorKind::kTarget);
  EXPECT_NE(smaller.status().message().find(lo->path()), std::string::npos);
  EXPECT_NE(smaller.status().message().find("less than"), std::string::npos) << smaller.status().message();

  auto larger = open_at(lo->path(), kMiB, false, false);
  ASSERT_FALSE(larger.is_ok());
  EXPECT_EQ(larger.status().kind(), ErrorKind::kTarget);
  EXPECT_NE(larger.status().message().find("--allow-larger-target"), std::string::npos);

  {
    auto allowed = open_at(lo->path(), kMiB, false, true);
    ASSERT_TRUE(allowed.is_ok()) << allowed.status().message();
    EXPECT_EQ(allowed.value().readable_size, kMiB);
    EXPECT_EQ(allowed.value().reply.kind, proto::DeviceKind::kBlockDevice);
    EXPECT_EQ(allowed.value().reply.size, 4 * kMiB);
    EXPECT_FALSE(allowed.value().known_zero);
  }
  {
    auto equal = open_at(lo->path(), 4 * kMiB, false, false);
    ASSERT_TRUE(equal.is_ok()) << equal.status().message();
    EXPECT_EQ(equal.value().readable_size, 4 * kMiB);
  }
}

}  // namespace
}  // namespace sparsync

namespace sparsync {
namespace {

// Pages of [offset, offset + len) of `path` that are in the page cache.
size_t cached_pages(const std::string& path, uint64_t offset, size_t len) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  void* map = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(offset));
  ::close(fd);
  EXPECT_NE(map, MAP_FAILED);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((len + page - 1) / page);
  EXPECT_EQ(::mincore(map, len, resident.data()), 0);
  ::munmap(map, len);
  size_t n = 0;
  for (unsigned char r : resident) n += r & 1;
  return n;
}

bool on_tmpfs(const std::string& dir) {
  struct statfs fs {};
  return ::statfs(dir.c_str(), &fs) == 0 && fs.f_type == TMPFS_MAGIC;
}

std::vector<uint8_t> read_dev(FileDevice& dev, uint64_t offset, size_t len) {
  std::vector<uint8_t> out(len);
  EXPECT_TRUE(dev.read_at(offset, out.data(), len).is_ok());
  return out;
}

// Direct writes (common/direct_writer.h) must read back exactly, whatever the
// page cache held before them, with unaligned tails, unaligned offsets and
// buffered writes mixed in.
TEST(DirectWrites, LargeWritesBypassThePageCacheAndReadBackExactly) {
  TempDir dir;
  const std::string path = dir.file("t");
  const uint64_t size = 3 * kMiB + 1000;  // a partial last block
  auto created = FileDevice::create(path, size);
  ASSERT_TRUE(created.is_ok()) << created.status().message();
  std::unique_ptr<FileDevice> dev = created.take();
  if (!dev->enable_direct_writes()) GTEST_SKIP() << "the filesystem of " << dir.path() << " refuses O_DIRECT";
  ASSERT_TRUE(dev->direct_writes());

  // Zeros in the page cache first, as a hashing pass would leave them.
  EXPECT_EQ(read_dev(*dev, 0, size), std::vector<uint8_t>(size, 0));
  std::vector<uint8_t> want = testing::pattern_bytes(1, 0, size);
  ASSERT_TRUE(dev->write_at(0, want.data(), size).is_ok());
  EXPECT_TRUE(dev->direct_writes()) << "an aligned write was refused";
  if (!on_tmpfs(dir.path())) {  // tmpfs is the page cache
    EXPECT_EQ(cached_pages(path, kMiB, kMiB), 0u) << "a 3 MiB write went through the page cache";
  }
  EXPECT_EQ(read_dev(*dev, 0, size), want);

  // A small write stays buffered (dirty in the cache); a direct write over it
  // must win.
  std::vector<uint8_t> small = testing::pattern_bytes(2, 8192, 4 * kKiB);
  ASSERT_TRUE(dev->write_at(8192, small.data(), small.size()).is_ok());
  std::copy(small.begin(), small.end(), want.begin() + 8192);
  EXPECT_EQ(read_dev(*dev, 0, size), want);
  std::vector<uint8_t> big = testing::pattern_bytes(3, 0, kMiB);
  ASSERT_TRUE(dev->write_at(0, big.data(), big.size()).is_ok());
  std::copy(big.begin(), big.end(), want.begin());
  // A large write at an unaligned offset goes through the page cache.
  std::vector<uint8_t> odd = testing::pattern_bytes(4, kMiB + 512, kMiB);
  ASSERT_TRUE(dev->write_at(kMiB + 512, odd.data(), odd.size()).is_ok());
  std::copy(odd.begin(), odd.end(), want.begin() + static_cast<ptrdiff_t>(kMiB + 512));
  EXPECT_EQ(read_dev(*dev, 0, size), want);

  ASSERT_TRUE(dev->sync().is_ok());
  dev.reset();
  EXPECT_EQ(testing::read_all(path), want);
}

}  // namespace
}  // namespace sparsync
