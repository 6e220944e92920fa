// The server fence (app/server_fence.h): roles, roots compared by whole
// components, paths resolved through symlinks and `..` on a real filesystem,
// and the forced-command version probe.
#include "app/server_fence.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/files.h"

namespace sparsync {
namespace {

using proto::Role;
using testing::TempDir;

TEST(ServerFence, BelowAnyRootComparesWholeComponents) {
  std::vector<std::string> roots{"/srv/a"};
  EXPECT_TRUE(below_any_root("/srv/a", roots));
  EXPECT_TRUE(below_any_root("/srv/a/x.img", roots));
  EXPECT_TRUE(below_any_root("/srv/a/d/x.img", roots));
  EXPECT_FALSE(below_any_root("/srv/ab", roots));
  EXPECT_FALSE(below_any_root("/srv/ab/x.img", roots));
  EXPECT_FALSE(below_any_root("/srv", roots));
  EXPECT_FALSE(below_any_root("/etc/passwd", roots));
  EXPECT_TRUE(below_any_root("/etc/passwd", {"/srv/a", "/"}));
  EXPECT_FALSE(below_any_root("/x", {}));
}

TEST(ServerFence, RolesAreRefusedAsUsage) {
  ServerFence ro{{}, true, false};
  ServerFence wo{{}, false, true};
  EXPECT_EQ(check_fence(ro, Role::kServerIsTarget, "/tmp/x").kind(), ErrorKind::kUsage);
  EXPECT_TRUE(check_fence(ro, Role::kServerIsSource, "/tmp/x").is_ok());
  EXPECT_EQ(check_fence(wo, Role::kServerIsSource, "/tmp/x").kind(), ErrorKind::kUsage);
  EXPECT_TRUE(check_fence(wo, Role::kServerIsTarget, "/tmp/x").is_ok());
  EXPECT_EQ(validate_fence(ServerFence{{}, true, true}).kind(), ErrorKind::kUsage);
  EXPECT_TRUE(validate_fence(ro).is_ok());
}

class FenceTree : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = dir_.file("root");
    out_ = dir_.file("out");
    ::mkdir(root_.c_str(), 0755);
    ::mkdir((root_ + "/sub").c_str(), 0755);
    ::mkdir(out_.c_str(), 0755);
    testing::write_all(root_ + "/in.img", {1});
    testing::write_all(out_ + "/x.img", {1});
    ASSERT_EQ(::symlink(out_.c_str(), (root_ + "/escape").c_str()), 0);
    ASSERT_EQ(::symlink((out_ + "/x.img").c_str(), (root_ + "/link.img").c_str()), 0);
    ASSERT_EQ(::symlink((out_ + "/new.img").c_str(), (root_ + "/dangling.img").c_str()), 0);
    ASSERT_EQ(::symlink((root_ + "/in.img").c_str(), (root_ + "/inner-link.img").c_str()), 0);
    ASSERT_EQ(::symlink("loop", (root_ + "/loop").c_str()), 0);
    fence_.allow_roots = {root_};
  }
  Status check(const std::string& path, Role role = Role::kServerIsTarget) { return check_fence(fence_, role, path); }
  TempDir dir_;
  std::string root_, out_;
  ServerFence fence_;
};

TEST_F(FenceTree, InsideTheRootIsAllowed) {
  for (const std::string& p : {root_ + "/in.img", root_ + "/new.img", root_ + "/sub/new.img", root_ + "/sub/../in.img",
                               root_ + "/inner-link.img", root_ + "//sub/./x"}) {
    EXPECT_TRUE(check(p).is_ok()) << p << ": " << check(p).message();
  }
  EXPECT_TRUE(check(root_ + "/in.img", Role::kServerIsSource).is_ok());
}

TEST_F(FenceTree, EscapesAreRefused) {
  for (const std::string& p :
       {out_ + "/x.img", out_ + "/new.img", root_ + "/../out/x.img", root_ + "/../out/new.img", root_ + "/escape/x.img",
        root_ + "/escape/new.img", root_ + "/link.img", root_ + "/dangling.img", root_ + "/missing/../../out/new.img",
        root_ + "/loop", root_ + "/..", std::string("/"), std::string("")}) {
    Status s = check(p);
    EXPECT_EQ(s.kind(), ErrorKind::kTarget) << p << ": " << s.message();
    EXPECT_NE(s.message().find("refusing"), std::string::npos) << s.message();
    EXPECT_EQ(s.message().find('\n'), std::string::npos) << s.message();
  }
  EXPECT_EQ(check(out_ + "/x.img", Role::kServerIsSource).kind(), ErrorKind::kSource);
}

TEST_F(FenceTree, RootItselfThroughASymlinkAndMissingRoots) {
  // The root is resolved too: naming it through a symlink works.
  std::string alias = dir_.file("alias");
  ASSERT_EQ(::symlink(root_.c_str(), alias.c_str()), 0);
  fence_.allow_roots = {alias};
  EXPECT_TRUE(check(root_ + "/in.img").is_ok());
  fence_.allow_roots = {dir_.file("no-such-dir")};
  Status s = check(root_ + "/in.img");
  EXPECT_EQ(s.kind(), ErrorKind::kTarget);
  EXPECT_NE(s.message().find("none of the allowed directories exists"), std::string::npos) << s.message();
}

TEST_F(FenceTree, ARootMayBeWrittenWithASlashOrDot) {
  for (const std::string& r : {root_ + "/", root_ + "/.", root_ + "/sub/.."}) {
    fence_.allow_roots = {r};
    EXPECT_TRUE(check(root_ + "/in.img").is_ok()) << r << ": " << check(root_ + "/in.img").message();
    EXPECT_FALSE(check(out_ + "/x.img").is_ok()) << r;
  }
  fence_.allow_roots = {"/"};
  EXPECT_TRUE(check(out_ + "/x.img", Role::kServerIsSource).is_ok()) << check(out_ + "/x.img").message();
}

TEST_F(FenceTree, RelativePathsResolveFromTheWorkingDirectory) {
  char old[4096];
  ASSERT_NE(::getcwd(old, sizeof old), nullptr);
  ASSERT_EQ(::chdir(root_.c_str()), 0);
  EXPECT_TRUE(check("new.img").is_ok());
  EXPECT_TRUE(check("sub/new.img").is_ok());
  EXPECT_FALSE(check("../out/new.img").is_ok());
  EXPECT_FALSE(check("..").is_ok());
  ASSERT_EQ(::chdir(old), 0);
}

TEST(ServerFence, VersionProbe) {
  EXPECT_TRUE(is_version_probe("sparsync --version"));
  EXPECT_TRUE(is_version_probe("sudo -n '/opt/sparsync' --version"));
  EXPECT_FALSE(is_version_probe("sparsync --server"));
  EXPECT_FALSE(is_version_probe("--version"));
  EXPECT_FALSE(is_version_probe("uname -m && mktemp -d x"));
  EXPECT_FALSE(is_version_probe(nullptr));
}

}  // namespace
}  // namespace sparsync
