// Issue 15 over a real sshd: a root server, even fenced (--allow-root ROOT
// --write-only in a forced command), never writes through a name that
// another user planted in a directory it serves; a mistyped device name on
// the far host is refused, not created in its /dev; new copies are no more
// readable than their source, pushed or pulled; and a pull never reads an
// image that another run is writing. Each failed on the code before the fix.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/checkpoint_store.h"
#include "support/files.h"
#include "support/process.h"
#include "support/sizes.h"
#include "support/sshd_test.h"

namespace sparsync::testing {
namespace {

class SshTrust : public SshdTest {
 protected:
  void SetUp() override {
    start_sshd(true);
    if (IsSkipped()) return;
    root_ = dir_.file("root");
    ASSERT_EQ(::mkdir(root_.c_str(), 01777), 0);  // others may write here, as in /srv/incoming
    ASSERT_EQ(::chmod(root_.c_str(), 01777), 0);
    src_ = dir_.file("src.img");
    SparseImage(src_, 8 * kMiB).data(0, kMiB, 1).data(5 * kMiB, kMiB, 2);
    victim_ = dir_.file("victim");
    write_all(victim_, precious());
  }
  static std::vector<uint8_t> precious() { return std::vector<uint8_t>(16384, 0x5a); }
  CommandResult push(const std::string& dst, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = sshd_->ssh_args();
    args.push_back("--retries=0");
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(src_);
    args.push_back(SshdFixture::remote(dst));
    return sshd_->run(args);
  }
  // A symlink at `link` to the victim, owned by `uid` (as if that user made it).
  void plant(const std::string& link, uid_t uid) {
    ASSERT_EQ(::symlink(victim_.c_str(), link.c_str()), 0) << link;
    ASSERT_EQ(::lchown(link.c_str(), uid, uid), 0) << link;
  }
  TempDir dir_;
  std::string root_, src_, victim_;
};

TEST_F(SshTrust, AFencedServerNeverWritesThroughPlantedSymlinks) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to plant symlinks owned by another user";
  sshd_->force_command(std::string(SPARSYNC_BINARY) + " --server --allow-root " + root_ + " --write-only");
  const std::string dst = root_ + "/vm1.img";
  const std::string record = checkpoint_path(dst, false);
  // The names beside the target: the record's temporary (as earlier
  // versions named it) and the record itself.
  plant(record + ".tmp", 65534);
  plant(record, 65534);
  CommandResult r = push(dst);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src_, dst), std::nullopt);
  EXPECT_EQ(read_all(victim_), precious()) << "the server wrote through a planted symlink";

  // The target's own name, and a directory on the way, planted by nobody.
  plant(root_ + "/vm2.img", 65534);
  ASSERT_EQ(::symlink(dir_.path().c_str(), (root_ + "/sub").c_str()), 0);
  ASSERT_EQ(::lchown((root_ + "/sub").c_str(), 65534, 65534), 0);
  for (const std::string& name : {root_ + "/vm2.img", root_ + "/sub/victim"}) {
    SCOPED_TRACE(name);
    r = push(name);
    EXPECT_EQ(r.exit_code, 4) << r.err;
    ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
    EXPECT_NE(r.err.find("symlink owned by uid 65534"), std::string::npos) << r.err;
  }
  EXPECT_EQ(read_all(victim_), precious());
}

TEST_F(SshTrust, AMissingDeviceOnTheFarHostIsNotCreated) {
  const std::string typo = "/dev/sparsync-ssh-lop9-" + std::to_string(::getpid());
  CommandResult r = push(typo);
  EXPECT_EQ(r.exit_code, 4) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("there is no block device " + typo), std::string::npos) << r.err;
  struct stat st {};
  EXPECT_NE(::lstat(typo.c_str(), &st), 0) << "a regular file was created in /dev";
  if (::lstat(typo.c_str(), &st) == 0) ::unlink(typo.c_str());
}

TEST_F(SshTrust, NewCopiesKeepTheSourcesModeInAPushAndAPull) {
  ASSERT_EQ(::chmod(src_.c_str(), 0600), 0);
  const std::string pushed = dir_.file("pushed.img");
  CommandResult r = push(pushed);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  struct stat st {};
  ASSERT_EQ(::stat(pushed.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);

  const std::string pulled = dir_.file("pulled.img");
  std::vector<std::string> args = sshd_->ssh_args();
  args.push_back("--retries=0");
  args.push_back(SshdFixture::remote(src_));
  args.push_back(pulled);
  r = sshd_->run(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src_, pulled), std::nullopt);
  ASSERT_EQ(::stat(pulled.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

TEST_F(SshTrust, APullNeverReadsAnImageAnotherRunIsWriting) {
  std::string big = dir_.file("big.img");
  SparseImage(big, 16 * kMiB).data(0, 16 * kMiB, 3);
  const std::string being_written = dir_.file("being-written.img");
  // Paced to ~16 s: the pull (an SSH login, the far side's start and
  // refusal) must end while it still writes, even under load.
  auto writer = Process::start({SPARSYNC_BINARY, "--retries=0", "--bwlimit", "1M", big, being_written});
  ASSERT_TRUE(writer);
  ASSERT_TRUE(wait_until([&] { return exists(being_written) && allocated_bytes(being_written) > 0; }, 30));
  const std::string copy = dir_.file("copy.img");
  std::vector<std::string> args = sshd_->ssh_args();
  args.push_back("--retries=0");
  args.push_back(SshdFixture::remote(being_written));
  args.push_back(copy);
  CommandResult r = sshd_->run(args);
  EXPECT_EQ(r.exit_code, 3) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("is being written by another sparsync run (pid "), std::string::npos) << r.err;
  EXPECT_FALSE(exists(copy)) << "a torn copy was made";
  ASSERT_TRUE(writer->running()) << "the writing run must outlast the pull";
  auto done = writer->wait(60);
  ASSERT_TRUE(done.has_value());
  EXPECT_EQ(done->exit_code, 0) << done->err;
}

}  // namespace
}  // namespace sparsync::testing
