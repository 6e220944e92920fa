// A fenced far side over a real sshd: the client key may only run
// `sparsync --server --allow-root ROOT [--write-only|--read-only]` (a forced
// command in authorized_keys, docs/security.md "Fencing the far side"). Pushes inside
// the root work; paths outside it, symlinks and `..` leading out of it, and
// the role the fence forbids are refused with one line and the documented
// exit code, and nothing is created outside the root.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/files.h"
#include "support/sizes.h"
#include "support/sshd_test.h"

namespace sparsync::testing {
namespace {

class SshFence : public SshdTest {
 protected:
  void SetUp() override {
    start_sshd(true);
    if (IsSkipped()) return;
    root_ = dir_.file("root");
    outside_ = dir_.file("outside");
    ::mkdir(root_.c_str(), 0755);
    ::mkdir(outside_.c_str(), 0755);
    src_ = dir_.file("src.img");
    SparseImage(src_, 8 * kMiB).data(0, kMiB, 1).data(5 * kMiB, kMiB, 2);
  }
  void fence(const std::string& extra) {
    sshd_->force_command(std::string(SPARSYNC_BINARY) + " --server --allow-root " + root_ + extra);
  }
  CommandResult sync(const std::string& src, const std::string& dst) {
    std::vector<std::string> args = sshd_->ssh_args();
    args.push_back("--retries=0");
    args.push_back(src);
    args.push_back(dst);
    return sshd_->run(args);
  }
  // One line on stderr that says `needle`.
  static void expect_one_line(const CommandResult& r, const std::string& needle) {
    auto lines = r.err_lines();
    ASSERT_EQ(lines.size(), 1u) << r.err;
    EXPECT_NE(lines[0].find(needle), std::string::npos) << lines[0];
  }
  TempDir dir_;
  std::string root_, outside_, src_;
};

TEST_F(SshFence, PushInsideTheRootWorks) {
  fence(" --write-only");
  std::string dst = root_ + "/a.img";
  CommandResult r = sync(src_, SshdFixture::remote(dst));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src_, dst), std::nullopt);
  // A second, incremental run through the same forced command.
  SparseImage(src_, 8 * kMiB).data(2 * kMiB, 4096, 3);
  r = sync(src_, SshdFixture::remote(dst));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src_, dst), std::nullopt);
}

TEST_F(SshFence, PushOutsideTheRootIsRefused) {
  fence(" --write-only");
  std::string dst = outside_ + "/a.img";
  CommandResult r = sync(src_, SshdFixture::remote(dst));
  EXPECT_EQ(r.exit_code, 4) << r.err;
  expect_one_line(r, "outside the directories this host allows");
  EXPECT_FALSE(exists(dst));
}

TEST_F(SshFence, DotDotEscapesAreRefused) {
  fence("");
  for (const std::string& dst :
       {root_ + "/../outside/a.img", root_ + "/../outside", root_ + "/missing/../../outside/a.img"}) {
    SCOPED_TRACE(dst);
    CommandResult r = sync(src_, SshdFixture::remote(dst));
    EXPECT_EQ(r.exit_code, 4) << r.err;
    expect_one_line(r, "refusing");
  }
  EXPECT_FALSE(exists(outside_ + "/a.img"));
}

TEST_F(SshFence, SymlinksLeadingOutAreRefused) {
  fence("");
  // A directory symlink inside the root, and a final component that is a
  // symlink: to an existing file outside, and dangling (it would create one).
  ASSERT_EQ(::symlink(outside_.c_str(), (root_ + "/out").c_str()), 0);
  write_all(outside_ + "/existing.img", std::vector<uint8_t>(4096, 7));
  ASSERT_EQ(::symlink((outside_ + "/existing.img").c_str(), (root_ + "/file-link.img").c_str()), 0);
  ASSERT_EQ(::symlink((outside_ + "/new.img").c_str(), (root_ + "/dangling.img").c_str()), 0);
  for (const std::string& dst : {root_ + "/out/a.img", root_ + "/file-link.img", root_ + "/dangling.img"}) {
    SCOPED_TRACE(dst);
    CommandResult r = sync(src_, SshdFixture::remote(dst));
    EXPECT_EQ(r.exit_code, 4) << r.err;
    expect_one_line(r, "refusing");
  }
  EXPECT_FALSE(exists(outside_ + "/a.img"));
  EXPECT_FALSE(exists(outside_ + "/new.img"));
  EXPECT_EQ(read_all(outside_ + "/existing.img"), std::vector<uint8_t>(4096, 7));
}

TEST_F(SshFence, PullFromAWriteOnlyHostIsRefused) {
  fence(" --write-only");
  std::string remote_src = root_ + "/a.img";
  SparseImage(remote_src, 4 * kMiB).data(0, kMiB, 4);
  std::string dst = dir_.file("pulled.img");
  CommandResult r = sync(SshdFixture::remote(remote_src), dst);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  expect_one_line(r, "write-only");
}

TEST_F(SshFence, PullOutsideTheRootIsRefusedAndInsideWorks) {
  fence(" --read-only");
  std::string inside = root_ + "/a.img";
  SparseImage(inside, 4 * kMiB).data(0, kMiB, 4);
  std::string dst = dir_.file("pulled.img");
  CommandResult r = sync(SshdFixture::remote(inside), dst);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(inside, dst), std::nullopt);

  SparseImage(outside_ + "/b.img", 4 * kMiB).data(0, kMiB, 5);
  r = sync(SshdFixture::remote(outside_ + "/b.img"), dir_.file("b.img"));
  EXPECT_EQ(r.exit_code, 3) << r.err;
  expect_one_line(r, "outside the directories this host allows");

  // --read-only: pushing is refused before anything is created.
  r = sync(src_, SshdFixture::remote(root_ + "/pushed.img"));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  expect_one_line(r, "read-only");
  EXPECT_FALSE(exists(root_ + "/pushed.img"));
}

}  // namespace
}  // namespace sparsync::testing
