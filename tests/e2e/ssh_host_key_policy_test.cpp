// Issue 19 item 2 over a real sshd: the -F config's StrictHostKeyChecking,
// which libssh 0.10 drops unless it is yes or no. "accept-new" adds an
// unknown key and the run goes on; a changed key is still refused; "no" is
// taken as accept-new, never as "accept a changed key".
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "support/files.h"
#include "support/sshd_test.h"

namespace sparsync::testing {
namespace {

class SshHostKeyPolicy : public SshdTest {
 protected:
  void SetUp() override {
    start_sshd(false);
    if (IsSkipped()) return;
    SparseImage(src(), 1 << 20).data(0, 65536, 7);
  }
  // The fixture's runs read this file with -F; other hosts' blocks around
  // ours check that only the matching one counts.
  void config_says(const std::string& policy) {
    std::ofstream(sshd_->file("ssh_config"), std::ios::trunc)
        << "Host other.example\n  StrictHostKeyChecking yes\nHost 127.0.0.*\n  StrictHostKeyChecking " << policy
        << "\nHost *\n  StrictHostKeyChecking yes\n";
  }
  CommandResult push() {
    std::vector<std::string> args = sshd_->ssh_args();
    args.push_back(src());
    args.push_back(SshdFixture::remote(dst()));
    return sshd_->run(args);
  }
  // What libssh writes to known_hosts: the fixture's line without its comment.
  std::string added_line() const {
    std::string line = sshd_->host_key_line();
    return line.substr(0, line.rfind(' ')) + "\n";
  }
  std::string entry() const { return "[127.0.0.1]:" + std::to_string(sshd_->port()); }
  std::string src() const { return dir_.file("src.img"); }
  std::string dst() const { return dir_.file("dst.img"); }
  TempDir dir_;
};

TEST_F(SshHostKeyPolicy, AcceptNewAddsAnUnknownKeyAndTheRunGoesOn) {
  config_says("accept-new");
  CommandResult r = push();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src(), dst()), std::nullopt);
  EXPECT_EQ(read_text(sshd_->known_hosts()), added_line());
  EXPECT_NE(r.err.find("added host key of " + entry()), std::string::npos) << r.err;
}

TEST_F(SshHostKeyPolicy, AcceptNewStillRefusesAChangedKey) {
  config_says("accept-new");
  sshd_->trust_other_host_key();
  std::string before = read_text(sshd_->known_hosts());
  CommandResult r = push();
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("does not match"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(dst()));
  EXPECT_EQ(read_text(sshd_->known_hosts()), before);
}

TEST_F(SshHostKeyPolicy, NoIsTakenAsAcceptNewAndSaysSoWhenAKeyChanged) {
  config_says("no");
  sshd_->trust_other_host_key();
  CommandResult r = push();
  EXPECT_EQ(r.exit_code, 5) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("StrictHostKeyChecking no in the ssh config is taken as accept-new"), std::string::npos)
      << r.err;
  EXPECT_FALSE(exists(dst()));

  std::ofstream(sshd_->known_hosts(), std::ios::trunc) << "";
  r = push();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_text(sshd_->known_hosts()), added_line());
}

TEST_F(SshHostKeyPolicy, YesStillRefusesAnUnknownKey) {
  config_says("yes");
  CommandResult r = push();
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("is not in"), std::string::npos) << r.err;
  EXPECT_EQ(read_text(sshd_->known_hosts()), "");
}

}  // namespace
}  // namespace sparsync::testing
