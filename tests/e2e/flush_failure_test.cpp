// End to end: a target whose final flush really fails (issue 15, item 17).
// The target is a loop device over a sparse file on a 1 MiB tmpfs; the
// source has 2 MiB of data in 64 KiB pieces. Each piece is a small write,
// which the target leaves in the page cache, so every write succeeds and
// the failure comes only when the final fdatasync writes them back and the
// tmpfs is full. The run must end with exit 4 and the target's one line
// naming the flush, print no summary, and leave the device marked incomplete.
// Skips with the reason where mounting or loop devices are not possible
// (not root, no loop driver, a container without mount rights).
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <string>

#include "support/command.h"
#include "support/files.h"
#include "support/loop_device.h"
#include "support/sizes.h"

namespace sparsync {
namespace flush_failure {
namespace {

using testing::CommandResult;
using testing::kKiB;
using testing::kMiB;
using testing::LoopDevice;
using testing::SparseImage;
using testing::TempDir;

// A small tmpfs, unmounted (lazily, should the loop device still hold it)
// when the test ends.
class SmallTmpfs {
 public:
  static std::unique_ptr<SmallTmpfs> mount(const std::string& dir, const char* size, std::string* why_not) {
    if (::geteuid() != 0) {
      *why_not = "mounting a tmpfs needs root";
      return nullptr;
    }
    std::string options = std::string("size=") + size;
    if (::mount("sparsync-test", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      *why_not = std::string("mount -t tmpfs failed: ") + std::strerror(errno);
      return nullptr;
    }
    return std::unique_ptr<SmallTmpfs>(new SmallTmpfs(dir));
  }
  ~SmallTmpfs() { (void)::umount2(dir_.c_str(), MNT_DETACH); }
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;

 private:
  explicit SmallTmpfs(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

// Points the server's checkpoint records for block devices at a directory
// of this test, not /var/lib/sparsync (the child processes inherit it).
class StateDirForTest {
 public:
  explicit StateDirForTest(const std::string& dir) {
    if (const char* old = ::getenv("SPARSYNC_STATE_DIR")) old_ = old;
    ::setenv("SPARSYNC_STATE_DIR", dir.c_str(), 1);
  }
  ~StateDirForTest() {
    if (old_) {
      ::setenv("SPARSYNC_STATE_DIR", old_->c_str(), 1);
    } else {
      ::unsetenv("SPARSYNC_STATE_DIR");
    }
  }

 private:
  std::optional<std::string> old_;
};

TEST(FlushFailure, TargetFailingItsFinalFlushIsExit4NamingTheFlush) {
  TempDir dir;
  if (!testing::supports_holes(dir.path())) {
    GTEST_SKIP() << "the filesystem of " << dir.path() << " does not report holes (SEEK_DATA)";
  }
  const std::string mnt = dir.file("mnt");
  ASSERT_EQ(::mkdir(mnt.c_str(), 0700), 0) << std::strerror(errno);
  std::string why;
  auto fs = SmallTmpfs::mount(mnt, "1m", &why);
  if (!fs) GTEST_SKIP() << "no small tmpfs to fill: " << why;
  const uint64_t size = 16 * kMiB;
  SparseImage backing(mnt + "/backing", size);  // a hole: takes no tmpfs space
  auto dev = LoopDevice::attach(backing.path(), &why);
  if (!dev) GTEST_SKIP() << "loop devices unavailable: " << why;
  StateDirForTest state(dir.file("state"));

  // 32 pieces of 64 KiB, 512 KiB apart: 2 MiB of small writes, twice what
  // the tmpfs holds, and far below the size that would start writeback early.
  SparseImage src(dir.file("src.img"), size);
  for (uint64_t i = 0; i < 32; ++i) src.data(i * 512 * kKiB, 64 * kKiB, static_cast<uint32_t>(i + 1));

  CommandResult r = testing::run_sparsync({"-b", "64K", src.path(), dev->path()});
  EXPECT_EQ(r.exit_code, 4) << "stdout: " << r.out << "\nstderr: " << r.err;
  const auto lines = r.err_lines();
  ASSERT_EQ(lines.size(), 1u) << "one line that says what and where; stderr: " << r.err;
  EXPECT_NE(lines[0].find("cannot flush " + dev->path()), std::string::npos) << lines[0];
  const bool eio = lines[0].find(std::strerror(EIO)) != std::string::npos;
  const bool enospc = lines[0].find(std::strerror(ENOSPC)) != std::string::npos;
  EXPECT_TRUE(eio || enospc) << "the flush's own error, not a later check's: " << lines[0];
  EXPECT_FALSE(testing::parse_summary(r.out).has_value()) << "a summary for a failed run: " << r.out;

  // The device is not reported complete: its checkpoint record stays.
  CommandResult status = testing::run_sparsync({"--status", dev->path()});
  EXPECT_NE(status.out.find(dev->path() + ": incomplete"), std::string::npos)
      << "stdout: " << status.out << "\nstderr: " << status.err;
}

}  // namespace
}  // namespace flush_failure
}  // namespace sparsync
