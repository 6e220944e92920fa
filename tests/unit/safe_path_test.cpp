// The safe path walk (common/safe_path.h) on a real filesystem: what it
// resolves to, which symlinks it follows (root's and our own, not another
// user's), and what it refuses; the kernel's beneath check; temporary names.
#include "common/safe_path.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/files.h"

namespace sparsync {
namespace {

using testing::TempDir;

class SafePath : public ::testing::Test {
 protected:
  void SetUp() override {
    // A real path, so `shown` can be compared (TMPDIR may itself be a link).
    char buf[4096];
    ASSERT_NE(::realpath(dir_.path().c_str(), buf), nullptr);
    real_ = buf;
    ASSERT_EQ(::mkdir((real_ + "/d").c_str(), 0755), 0);
    testing::write_all(real_ + "/d/f.img", {1, 2, 3});
  }
  Result<ResolvedPath> resolve(const std::string& path, const PathTrust& trust = {}) {
    return resolve_path(path, ErrorKind::kTarget, trust);
  }
  void link(const std::string& to, const std::string& at, uid_t owner = 0) {
    ASSERT_EQ(::symlink(to.c_str(), at.c_str()), 0) << at;
    if (owner != 0) {
      ASSERT_EQ(::lchown(at.c_str(), owner, owner), 0) << at;
    }
  }
  TempDir dir_;
  std::string real_;
};

TEST_F(SafePath, ResolvesPlainPathsDotsAndMissingLastComponents) {
  auto r = resolve(real_ + "/d/f.img");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_TRUE(r.value().exists);
  EXPECT_EQ(r.value().shown(), real_ + "/d/f.img");
  EXPECT_EQ(r.value().name, "f.img");
  EXPECT_EQ(r.value().given, real_ + "/d/f.img");
  r = resolve(real_ + "//d/./../d/new.img");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_FALSE(r.value().exists);
  EXPECT_EQ(r.value().shown(), real_ + "/d/new.img");
  char old[4096];
  ASSERT_NE(::getcwd(old, sizeof old), nullptr);
  ASSERT_EQ(::chdir((real_ + "/d").c_str()), 0);
  r = resolve("f.img");
  EXPECT_TRUE(r.is_ok() && r.value().shown() == real_ + "/d/f.img") << r.status().message();
  ASSERT_EQ(::chdir(old), 0);
}

TEST_F(SafePath, FollowsTrustedSymlinksToTheRealPlace) {
  link(real_ + "/d", real_ + "/abs-dir");
  link("d/f.img", real_ + "/rel-file");
  for (const std::string& p : {real_ + "/abs-dir/f.img", real_ + "/rel-file"}) {
    auto r = resolve(p);
    ASSERT_TRUE(r.is_ok()) << p << ": " << r.status().message();
    EXPECT_EQ(r.value().shown(), real_ + "/d/f.img") << p;
    EXPECT_TRUE(r.value().exists);
  }
}

TEST_F(SafePath, RefusesSymlinksOfAnotherUserAnywhereOnThePath) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to make symlinks owned by another user";
  link(real_ + "/d", real_ + "/their-dir", 65534);
  link(real_ + "/d/f.img", real_ + "/their-file", 65534);
  for (const std::string& p : {real_ + "/their-dir/f.img", real_ + "/their-dir/new.img", real_ + "/their-file"}) {
    auto r = resolve(p);
    ASSERT_FALSE(r.is_ok()) << p;
    EXPECT_EQ(r.status().kind(), ErrorKind::kTarget);
    EXPECT_NE(r.status().message().find("owned by uid 65534"), std::string::npos) << r.status().message();
  }
  // Unless that user is trusted (the server trusts sudo's caller).
  auto r = resolve(real_ + "/their-file", PathTrust{{65534}});
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r.value().shown(), real_ + "/d/f.img");
}

TEST_F(SafePath, RefusesWhatCannotBeATargetName) {
  link(real_ + "/nowhere.img", real_ + "/dangling");
  link("loop", real_ + "/loop");
  for (const std::string& p :
       {std::string(""), std::string("/"), real_ + "/d/..", real_ + "/d/.", real_ + "/dangling", real_ + "/loop",
        real_ + "/missing/x.img", real_ + "/d/f.img/x", std::string("a\0b", 3)}) {
    auto r = resolve(p);
    EXPECT_FALSE(r.is_ok()) << "'" << p << "'";
    EXPECT_EQ(r.status().message().find('\n'), std::string::npos);
  }
  EXPECT_FALSE(testing::exists(real_ + "/nowhere.img"));
}

TEST_F(SafePath, OpenDirectoryCreatesOnlyWhenAsked) {
  auto missing = open_directory(real_ + "/state", ErrorKind::kTarget, 0);
  EXPECT_FALSE(missing.is_ok());
  auto made = open_directory(real_ + "/state", ErrorKind::kTarget, 0700);
  ASSERT_TRUE(made.is_ok()) << made.status().message();
  struct stat st {};
  ASSERT_EQ(::stat((real_ + "/state").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(made.value().shown, real_ + "/state");
  EXPECT_FALSE(open_directory(real_ + "/d/f.img", ErrorKind::kTarget, 0700).is_ok()) << "a file is no directory";
}

TEST_F(SafePath, ATrailingSlashNamesADirectoryNeverAFile) {
  // "f.img/" is not f.img (the kernel says ENOTDIR), and a missing "new/"
  // is a directory someone meant, not a file to create.
  for (const std::string& p : {real_ + "/d/f.img/", real_ + "/d/new/", real_ + "/d/", std::string("/")}) {
    auto r = resolve(p);
    ASSERT_FALSE(r.is_ok()) << p << " resolved to " << r.value().shown();
    EXPECT_NE(r.status().message().find("names a directory"), std::string::npos) << r.status().message();
  }
}

TEST_F(SafePath, OpenDirectoryTakesEveryWayOfNamingADirectory) {
  // "/", a trailing "/", "." and ".." (a state directory or fence root
  // written that way) all name a directory; the walk used to refuse them as
  // files, so `--allow-root /` allowed nothing.
  for (const auto& [p, want] : std::vector<std::pair<std::string, std::string>>{{"/", "/"},
                                                                                {real_ + "/d/", real_ + "/d"},
                                                                                {real_ + "/d/.", real_ + "/d"},
                                                                                {real_ + "/d/..", real_},
                                                                                {real_ + "//d//", real_ + "/d"}}) {
    auto opened = open_directory(p, ErrorKind::kTarget, 0);
    ASSERT_TRUE(opened.is_ok()) << p << ": " << opened.status().message();
    EXPECT_EQ(opened.value().shown, want) << p;
    struct stat a {
    }, b{};
    ASSERT_EQ(::fstat(opened.value().fd.get(), &a), 0);
    ASSERT_EQ(::stat(want.c_str(), &b), 0);
    EXPECT_TRUE(a.st_dev == b.st_dev && a.st_ino == b.st_ino) << p;
    EXPECT_EQ(::fsync(opened.value().fd.get()), 0) << "a real descriptor, not O_PATH: " << p;
  }
  auto made = open_directory(real_ + "/made/", ErrorKind::kTarget, 0700);
  ASSERT_TRUE(made.is_ok()) << made.status().message();
  EXPECT_EQ(made.value().shown, real_ + "/made");
  EXPECT_FALSE(open_directory(real_ + "/d/f.img/", ErrorKind::kTarget, 0).is_ok());
}

TEST_F(SafePath, BelowComparesWholeComponents) {
  EXPECT_TRUE(path_is_below("/srv/a", "/srv/a"));
  EXPECT_TRUE(path_is_below("/srv/a/b", "/srv/a"));
  EXPECT_FALSE(path_is_below("/srv/ab", "/srv/a"));
  EXPECT_FALSE(path_is_below("/srv", "/srv/a"));
  EXPECT_TRUE(path_is_below("/etc", "/"));
}

TEST_F(SafePath, TheKernelConfirmsOnlyTheDirectoryReallyBeneath) {
  auto root = open_directory(real_, ErrorKind::kTarget, 0);
  auto sub = resolve(real_ + "/d/f.img");
  ASSERT_TRUE(root.is_ok() && sub.is_ok());
  bool checked = false;
  EXPECT_TRUE(kernel_confirms_beneath(root.value().fd.get(), "d", sub.value().dir.get(), &checked));
  if (!checked) GTEST_SKIP() << "this kernel has no openat2; the walk alone decides";
  // Another directory, an escape with "..", and a symlink are all refused.
  EXPECT_FALSE(kernel_confirms_beneath(root.value().fd.get(), "", sub.value().dir.get(), &checked));
  EXPECT_FALSE(kernel_confirms_beneath(root.value().fd.get(), "d/../..", sub.value().dir.get(), &checked));
  link(real_ + "/d", real_ + "/alias");
  EXPECT_FALSE(kernel_confirms_beneath(root.value().fd.get(), "alias", sub.value().dir.get(), &checked));
}

TEST_F(SafePath, TemporaryNamesAreUnpredictable) {
  std::string a = unpredictable_name(".x.sparsync-checkpoint");
  std::string b = unpredictable_name(".x.sparsync-checkpoint");
  EXPECT_NE(a, b);
  EXPECT_EQ(a.rfind(".x.sparsync-checkpoint.tmp.", 0), 0u) << a;
  EXPECT_EQ(a.size(), std::string(".x.sparsync-checkpoint.tmp.").size() + 16);
}

}  // namespace
}  // namespace sparsync
