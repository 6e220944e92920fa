// Cold reads (FileDevice::enable_cold_reads): what is not in the page cache
// is read around it and not left there, what is cached is read from it and
// stays, and every way round returns exactly the image's bytes: on a file
// with an unaligned tail, on a filesystem that refuses O_DIRECT (tmpfs), on a
// block device (a loop device), and after a write into a range already read.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "common/cache_residency.h"
#include "common/device.h"
#include "support/files.h"
#include "support/loop_device.h"
#include "support/sizes.h"

namespace sparsync {
namespace {

using testing::kKiB;
using testing::kMiB;
using testing::TempDir;

// 8 MiB and a partial last page: the tail no direct read can reach alone.
constexpr uint64_t kImageBytes = 8 * kMiB + 1234;

std::string make_image(const std::string& path, uint64_t size) {
  testing::write_all(path, testing::pattern_bytes(7, 0, size));
  return path;
}

// Writes back and evicts every page of `path` (as a cold disk would be).
void drop_from_cache(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  ::fdatasync(fd);
  ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
}

uint64_t cached_pages_of(const Device& dev, const FileDevice& file) {
  uint64_t total = 0;
  return cached_pages(file.fd(), 0, dev.size(), &total);
}

std::unique_ptr<FileDevice> open_dev(const std::string& path, bool writable) {
  auto r = FileDevice::open(path, writable, writable ? ErrorKind::kTarget : ErrorKind::kSource);
  EXPECT_TRUE(r.is_ok()) << r.status().message();
  return r.is_ok() ? r.take() : nullptr;
}

// Reads the whole device in 1 MiB reads as the source's reader does (the
// last one takes the unaligned tail with it), and checks every byte.
void expect_reads_exact(FileDevice& dev) {
  std::vector<uint8_t> buf;
  for (uint64_t pos = 0; pos < dev.size();) {
    const uint64_t left = dev.size() - pos;
    const uint64_t n = left < 2 * kMiB ? left : kMiB;
    buf.resize(n);
    ASSERT_TRUE(dev.read_at(pos, buf.data(), n).is_ok()) << "at " << pos;
    ASSERT_EQ(buf, testing::pattern_bytes(7, pos, n)) << "at " << pos;
    pos += n;
  }
}

TEST(ColdRead, UncachedImageIsReadAroundTheCacheAndNotLeftThere) {
  TempDir dir;
  auto dev = open_dev(make_image(dir.file("a.img"), kImageBytes), false);
  ASSERT_TRUE(dev);
  drop_from_cache(dev->path());
  if (!dev->enable_cold_reads()) GTEST_SKIP() << "the filesystem of " << dir.path() << " refuses O_DIRECT";
  expect_reads_exact(*dev);
  EXPECT_EQ(dev->direct_read_bytes(), kImageBytes);
  EXPECT_EQ(cached_pages_of(*dev, *dev), 0u);
  // A read at no particular offset, across windows, is exact too.
  std::vector<uint8_t> buf(3 * kMiB + 17);
  ASSERT_TRUE(dev->read_at(12345, buf.data(), buf.size()).is_ok());
  EXPECT_EQ(buf, testing::pattern_bytes(7, 12345, buf.size()));
}

TEST(ColdRead, CachedImageIsReadFromTheCacheAndStaysThere) {
  TempDir dir;
  const std::string path = make_image(dir.file("a.img"), kImageBytes);
  (void)testing::read_all(path);  // now cached
  auto dev = open_dev(path, false);
  ASSERT_TRUE(dev);
  if (!dev->enable_cold_reads()) GTEST_SKIP() << "the filesystem of " << dir.path() << " refuses O_DIRECT";
  uint64_t total = 0;
  const uint64_t before = cached_pages(dev->fd(), 0, kImageBytes, &total);
  ASSERT_EQ(before, total);
  expect_reads_exact(*dev);
  EXPECT_EQ(dev->direct_read_bytes(), 0u);
  EXPECT_EQ(cached_pages(dev->fd(), 0, kImageBytes, &total), before);
}

TEST(ColdRead, ReadAfterAWriteSeesTheWrite) {
  TempDir dir;
  auto dev = open_dev(make_image(dir.file("t.img"), kImageBytes), true);
  ASSERT_TRUE(dev);
  drop_from_cache(dev->path());
  if (!dev->enable_cold_reads()) GTEST_SKIP() << "the filesystem of " << dir.path() << " refuses O_DIRECT";
  std::vector<uint8_t> buf(kMiB);
  ASSERT_TRUE(dev->read_at(0, buf.data(), buf.size()).is_ok());  // and the windows after it are read ahead
  const std::vector<uint8_t> fresh(4 * kKiB, 0xa5);
  ASSERT_TRUE(dev->write_at(64 * kKiB, fresh.data(), fresh.size()).is_ok());
  ASSERT_TRUE(dev->write_at(kMiB + 8 * kKiB, fresh.data(), fresh.size()).is_ok());
  std::vector<uint8_t> expected = testing::pattern_bytes(7, 0, 2 * kMiB);
  std::copy(fresh.begin(), fresh.end(), expected.begin() + 64 * kKiB);
  std::copy(fresh.begin(), fresh.end(), expected.begin() + kMiB + 8 * kKiB);
  buf.resize(2 * kMiB);
  ASSERT_TRUE(dev->read_at(0, buf.data(), buf.size()).is_ok());
  EXPECT_EQ(buf, expected);
}

// A target's scattered writes (an incremental run's) go through the cache;
// once they are on disk, those that were not cached before leave it again,
// and a block that was cached before stays.
TEST(ColdRead, WrittenBlocksLeaveTheCacheOnceSyncedUnlessTheyWereCached) {
  TempDir dir;
  auto dev = open_dev(make_image(dir.file("t.img"), kImageBytes), true);
  ASSERT_TRUE(dev);
  drop_from_cache(dev->path());
  dev->enable_cold_reads();  // (and no readahead on its descriptor from now on)
  std::vector<uint8_t> block(4 * kKiB, 0x5a);
  ASSERT_EQ(::pread(dev->fd(), block.data(), block.size(), 0), static_cast<ssize_t>(block.size()));  // cached
  std::fill(block.begin(), block.end(), 0x5a);
  for (uint64_t at = 0; at < 8 * kMiB; at += 512 * kKiB)
    ASSERT_TRUE(dev->write_at(at, block.data(), block.size()).is_ok());
  ASSERT_TRUE(dev->sync().is_ok());
  uint64_t total = 0;
  EXPECT_EQ(cached_pages(dev->fd(), 0, 4 * kKiB, &total), 1u);
  EXPECT_EQ(cached_pages(dev->fd(), 4 * kKiB, kImageBytes - 4 * kKiB, &total), 0u);
  std::vector<uint8_t> back(4 * kKiB);
  ASSERT_EQ(::pread(dev->fd(), back.data(), back.size(), 512 * kKiB), static_cast<ssize_t>(back.size()));
  EXPECT_EQ(back, block);
}

// The fallback where O_DIRECT is refused: through the cache, then out of it
// again, except what was cached before.
TEST(ColdRead, FallbackReadsThroughTheCacheAndDropsOnlyWhatWasNotCached) {
  TempDir dir;
  auto dev = open_dev(make_image(dir.file("a.img"), kImageBytes), false);
  ASSERT_TRUE(dev);
  drop_from_cache(dev->path());
  {
    // The first 2 MiB cached before the run, and no more (no readahead).
    std::vector<uint8_t> warm(2 * kMiB);
    int fd = ::open(dev->path().c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
    ASSERT_EQ(::pread(fd, warm.data(), warm.size(), 0), static_cast<ssize_t>(warm.size()));
    ::close(fd);
  }
  EXPECT_FALSE(dev->enable_cold_reads(/*try_direct=*/false));
  expect_reads_exact(*dev);
  EXPECT_EQ(dev->direct_read_bytes(), 0u);
  uint64_t total = 0;
  EXPECT_EQ(cached_pages(dev->fd(), 0, 2 * kMiB, &total), total);
  EXPECT_EQ(cached_pages(dev->fd(), 2 * kMiB, kImageBytes - 2 * kMiB, &total), 0u);
}

// tmpfs refused O_DIRECT before Linux 6.6 and accepts it since: either way
// the bytes are exact.
TEST(ColdRead, TmpfsImageReadsExactly) {
  struct statfs fs {};
  if (::statfs("/dev/shm", &fs) != 0 || fs.f_type != TMPFS_MAGIC) GTEST_SKIP() << "no tmpfs at /dev/shm";
  const std::string path = "/dev/shm/sparsync-cold-read-" + std::to_string(::getpid()) + ".img";
  make_image(path, kImageBytes);
  {
    auto dev = open_dev(path, false);
    ASSERT_TRUE(dev);
    const bool direct = dev->enable_cold_reads();
    std::printf("tmpfs here %s O_DIRECT\n", direct ? "accepts" : "refuses");
    expect_reads_exact(*dev);
  }
  ::unlink(path.c_str());
}

TEST(ColdRead, BlockDeviceIsReadAroundTheCache) {
  TempDir dir;
  // A loop device's size is its file's, rounded down to 512 bytes.
  const uint64_t size = 8 * kMiB + 512;
  const std::string file = make_image(dir.file("backing.img"), size);
  std::string why_not;
  auto loop = testing::LoopDevice::attach(file, &why_not);
  if (!loop) GTEST_SKIP() << "no loop device: " << why_not;
  auto dev = open_dev(loop->path(), false);
  ASSERT_TRUE(dev);
  ASSERT_EQ(dev->size(), size);
  drop_from_cache(loop->path());
  ASSERT_TRUE(dev->enable_cold_reads()) << "a block device refused O_DIRECT";
  expect_reads_exact(*dev);
  EXPECT_EQ(dev->direct_read_bytes(), size);
  EXPECT_EQ(cached_pages_of(*dev, *dev), 0u);
}

}  // namespace
}  // namespace sparsync
