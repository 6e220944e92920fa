// common/in_use.h: mountinfo parsing (pure), and check_not_same on real files.
#include "common/in_use.h"

#include <gtest/gtest.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "support/files.h"

namespace sparsync {
namespace {

const char* kMountinfo =
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n"
    "40 22 7:3 / /mnt/with\\040space rw,relatime shared:20 - ext4 /dev/loop3 rw\n"
    "41 22 7:3 /sub /srv/bind rw - ext4 /dev/loop3 rw\n"
    "42 22 0:45 / /proc rw - proc proc rw\n";

TEST(MountPointIn, FindsTheFirstMountOfADeviceAndDecodesEscapes) {
  EXPECT_EQ(mount_point_in(kMountinfo, makedev(7, 3)), "/mnt/with space");
  EXPECT_EQ(mount_point_in(kMountinfo, makedev(8, 1)), "/");
  EXPECT_EQ(mount_point_in(kMountinfo, makedev(8, 17)), "");
  EXPECT_EQ(mount_point_in(kMountinfo, makedev(7, 30)), "");  // not a prefix match
  EXPECT_EQ(mount_point_in("garbage\n\n1 2\n", makedev(7, 3)), "");
}

TEST(CheckNotSame, SameInodeIsRefusedAMissingOrOtherTargetIsNot) {
  testing::TempDir dir;
  testing::SparseImage a(dir.file("a"), 8192);
  testing::SparseImage b(dir.file("b"), 8192);
  struct stat st {};
  ASSERT_EQ(::stat(a.path().c_str(), &st), 0);
  EXPECT_EQ(check_not_same(st, a.path(), a.path()).kind(), ErrorKind::kUsage);
  EXPECT_TRUE(check_not_same(st, a.path(), b.path()).is_ok());
  EXPECT_TRUE(check_not_same(st, a.path(), dir.file("missing")).is_ok());
  ASSERT_EQ(::symlink(a.path().c_str(), dir.file("link").c_str()), 0);
  Status s = check_not_same(st, a.path(), dir.file("link"));
  EXPECT_EQ(s.kind(), ErrorKind::kUsage);
  EXPECT_NE(s.message().find("same file"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace sparsync
