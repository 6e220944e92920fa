// Issue 19 item 1 over two real sshds: the far host is reached through a
// jump host named by the -F config's ProxyJump or by -J, with the keys and
// known_hosts sparsync was given on every hop (before, libssh ran `ssh -W`
// without our -F and the run died with "Connection reset by peer"). The
// jump sshd's log shows the hop was used; a jump host that cannot be reached
// or whose key is unknown is named in the one-line error.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "support/files.h"
#include "support/sshd_test.h"

namespace sparsync::testing {
namespace {

size_t count_words(const std::string& text, const std::string& word) {
  size_t n = 0;
  for (size_t at = text.find(word); at != std::string::npos; at = text.find(word, at + 1)) ++n;
  return n;
}

class SshJump : public SshdTest {
 protected:
  void SetUp() override {
    start_sshd(false);
    if (IsSkipped()) return;
    std::string why;
    jump_ = SshdFixture::start(&why);
    if (!jump_) GTEST_SKIP() << "no second sshd for the jump host: " << why;
    // Both host keys in the one known_hosts the run is given.
    write_text(sshd_->known_hosts(), sshd_->host_key_line() + jump_->host_key_line());
    SparseImage(src(), 1 << 20).data(0, 65536, 3);
  }
  // "jump" and "target" as a DR site's config names them; the jump host's
  // key comes from the config, the target's from -i, as users mix them.
  void write_config(const std::string& target_extra, int jump_port = 0) {
    write_text(config(), "Host jump\n  HostName 127.0.0.1\n  Port " +
                             std::to_string(jump_port != 0 ? jump_port : jump_->port()) + "\n  IdentityFile " +
                             jump_->client_key() + "\nHost target\n  HostName 127.0.0.1\n  Port " +
                             std::to_string(sshd_->port()) + "\n" + target_extra);
  }
  CommandResult push(const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args{"-F",
                                  config(),
                                  "-i",
                                  sshd_->client_key(),
                                  "--known-hosts",
                                  sshd_->known_hosts(),
                                  "--batch",
                                  "--retries=0",
                                  "--remote-path",
                                  SPARSYNC_BINARY};
    args.insert(args.end(), extra.begin(), extra.end());
    args.push_back(src());
    args.push_back("target:" + dst());
    return sshd_->run(args);
  }
  size_t jump_logins() const { return count_words(read_text(jump_->file("sshd.log")), "Accepted publickey"); }
  std::string config() const { return dir_.file("ssh_config"); }
  std::string src() const { return dir_.file("src.img"); }
  std::string dst() const { return dir_.file("dst.img"); }
  std::unique_ptr<SshdFixture> jump_;
  TempDir dir_;
};

TEST_F(SshJump, ProxyJumpInTheConfigGivenWithF) {
  write_config("  ProxyJump jump\n");
  CommandResult r = push();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src(), dst()), std::nullopt);
  EXPECT_EQ(jump_logins(), 1u) << read_text(jump_->file("sshd.log"));
}

TEST_F(SshJump, JumpOnTheCommandLineAndAChainOfTwoHops) {
  write_config("");
  CommandResult r = push({"-J", "jump"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src(), dst()), std::nullopt);
  EXPECT_EQ(jump_logins(), 1u);
  // The same jump host twice: the second hop runs through the first.
  r = push({"-J", "jump,jump"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(jump_logins(), 3u);
}

TEST_F(SshJump, JumpNoneOverridesTheConfig) {
  write_config("  ProxyJump jump\n");
  CommandResult r = push({"-J", "none"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(jump_logins(), 0u);
}

TEST_F(SshJump, AJumpHostThatCannotBeReachedIsNamed) {
  int dead_port = jump_->port();
  write_config("  ProxyJump jump\n", dead_port);
  jump_.reset();  // nothing listens there now
  CommandResult r = push();
  EXPECT_EQ(r.exit_code, 5) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("jump host jump: cannot connect to jump port " + std::to_string(dead_port)), std::string::npos)
      << r.err;
  EXPECT_FALSE(exists(dst()));
}

TEST_F(SshJump, AJumpHostWithAnUnknownKeyIsNamed) {
  write_text(sshd_->known_hosts(), sshd_->host_key_line());
  write_config("  ProxyJump jump\n");
  CommandResult r = push();
  EXPECT_EQ(r.exit_code, 5) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(
      r.err.find("jump host jump: host key of jump ([127.0.0.1]:" + std::to_string(jump_->port()) + ") is not in"),
      std::string::npos)
      << r.err;
  EXPECT_EQ(jump_logins(), 0u);
  EXPECT_FALSE(exists(dst()));
}

}  // namespace
}  // namespace sparsync::testing
