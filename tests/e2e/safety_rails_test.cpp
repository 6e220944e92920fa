// End-to-end safety rails (docs/security.md "Safety rails"): a mounted target block
// device is refused with exit 4 naming the mount point (and still refused by
// the kernel's exclusive open with --force), and an image is never synced
// onto itself: the same file (also through a hard link), the same device,
// a loop device over the source file (exit 2). Mount tests skip with a
// reason where losetup, mkfs.ext4 or mount do not work here.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "support/command.h"
#include "support/files.h"
#include "support/loop_device.h"
#include "support/sizes.h"

namespace sparsync {
namespace {

using testing::CommandResult;
using testing::kMiB;
using testing::LoopDevice;
using testing::SparseImage;
using testing::TempDir;

CommandResult sh(const std::string& command) { return testing::run_command({"/bin/sh", "-c", command}); }

// Mounts a device on a directory and unmounts it when destroyed.
class Mount {
 public:
  static std::unique_ptr<Mount> make(const std::string& dev, const std::string& dir, std::string* why) {
    std::filesystem::create_directories(dir);
    CommandResult r = testing::run_command({"/bin/sh", "-c", "mount \"$0\" \"$1\"", dev, dir});
    if (r.exit_code != 0) {
      *why = "mount failed: " + r.err;
      return nullptr;
    }
    return std::unique_ptr<Mount>(new Mount(dir));
  }
  ~Mount() { testing::run_command({"/bin/sh", "-c", "umount \"$0\"", dir_}); }
  void unmount() { testing::run_command({"/bin/sh", "-c", "umount \"$0\"", dir_}); }

 private:
  explicit Mount(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
};

class SafetyRails : public ::testing::Test {
 protected:
  std::unique_ptr<LoopDevice> loop_over(const std::string& file) {
    std::string why;
    auto dev = LoopDevice::attach(file, &why);
    if (!dev) why_not_ = "loop devices unavailable: " + why;
    return dev;
  }
  CommandResult sync(const std::vector<std::string>& args) { return testing::run_sparsync(args); }

  TempDir dir_;
  std::string why_not_;
};

TEST_F(SafetyRails, MountedDeviceIsRefusedNamingTheMountPoint) {
  SparseImage fs(dir_.file("fs.img"), 32 * kMiB);
  auto dev = loop_over(fs.path());
  if (!dev) GTEST_SKIP() << why_not_;
  CommandResult mk = sh("mkfs.ext4 -q -F " + dev->path());
  if (mk.exit_code != 0) GTEST_SKIP() << "mkfs.ext4 unavailable: " << mk.err;
  const std::string mnt = dir_.file("mount point");  // a space: mountinfo escapes it as \040
  std::string why;
  auto mounted = Mount::make(dev->path(), mnt, &why);
  if (!mounted) GTEST_SKIP() << why;
  SparseImage src(dir_.file("src.img"), 32 * kMiB);
  src.data(0, 4 * kMiB, 3);

  CommandResult r = sync({src.path(), dev->path()});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("block device " + dev->path() + " is mounted at " + mnt), std::string::npos) << r.err;

  // --force skips sparsync's check; the kernel's exclusive open still refuses.
  r = sync({"--force", src.path(), dev->path()});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_NE(r.err.find("is in use"), std::string::npos) << r.err;

  // A dry run writes nothing, so it may look at a mounted device.
  r = sync({"--dry-run", src.path(), dev->path()});
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // Nothing was written under the filesystem: it is still clean.
  mounted->unmount();
  CommandResult fsck = sh("e2fsck -fn " + dev->path());
  EXPECT_EQ(fsck.exit_code, 0) << "the refused syncs damaged the filesystem: " << fsck.out << fsck.err;
  r = sync({src.path(), dev->path()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(testing::first_difference(src.path(), dev->path()).has_value());
}

TEST_F(SafetyRails, FileOntoItselfIsRefused) {
  SparseImage src(dir_.file("a.img"), 4 * kMiB);
  src.data(0, kMiB, 1);
  auto before = testing::read_all(src.path());
  CommandResult r = sync({src.path(), src.path()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("they are the same file"), std::string::npos) << r.err;
  // Another name for the same inode: a hard link.
  ASSERT_EQ(::link(src.path().c_str(), dir_.file("b.img").c_str()), 0);
  r = sync({src.path(), dir_.file("b.img")});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("they are the same file"), std::string::npos) << r.err;
  EXPECT_EQ(testing::read_all(src.path()), before);
}

TEST_F(SafetyRails, DeviceOntoItselfIsRefused) {
  SparseImage backing(dir_.file("dev.img"), 4 * kMiB);
  backing.data(0, kMiB, 2);
  auto dev = loop_over(backing.path());
  if (!dev) GTEST_SKIP() << why_not_;
  CommandResult r = sync({dev->path(), dev->path()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("they are the same block device"), std::string::npos) << r.err;
}

TEST_F(SafetyRails, LoopDeviceOverTheOtherSideIsRefused) {
  SparseImage file(dir_.file("backing.img"), 4 * kMiB);
  file.data(0, kMiB, 4);
  auto dev = loop_over(file.path());
  if (!dev) GTEST_SKIP() << why_not_;
  CommandResult r = sync({file.path(), dev->path()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(dev->path() + " is a loop device over the source file"), std::string::npos) << r.err;
  r = sync({dev->path(), file.path()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(dev->path() + " is a loop device over the target file"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sparsync
