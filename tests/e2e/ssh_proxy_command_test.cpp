// Issue 19 item 1, ProxyCommand: a config's ProxyCommand or --proxy-command
// is run by sparsync (libssh would run it with its stderr thrown away), so a
// proxy that fails is named with its own words in the one-line error, and
// one that works carries the run. The relay is bash's /dev/tcp, as no nc or
// socat is installed here; a marker file proves the command ran.
#include <gtest/gtest.h>

#include <fstream>

#include "support/files.h"
#include "support/sshd_test.h"

namespace sparsync::testing {
namespace {

class SshProxyCommand : public SshdTest {
 protected:
  void SetUp() override {
    start_sshd(true);
    if (IsSkipped()) return;
    SparseImage(src(), 1 << 20).data(0, 65536, 5);
  }
  // A relay to %h:%p that first leaves a mark.
  std::string relay() const {
    return "touch " + mark() + "; exec bash -c 'exec 3<>/dev/tcp/%h/%p; cat <&3 & exec cat >&3'";
  }
  void write_config(const std::string& extra) {
    std::ofstream(config(), std::ios::trunc) << "Host far\n  HostName 127.0.0.1\n  Port " << sshd_->port() << "\n"
                                             << extra;
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
    args.push_back("far:" + dst());
    return sshd_->run(args);
  }
  std::string config() const { return dir_.file("ssh_config"); }
  std::string mark() const { return dir_.file("proxy-ran"); }
  std::string src() const { return dir_.file("src.img"); }
  std::string dst() const { return dir_.file("dst.img"); }
  TempDir dir_;
};

TEST_F(SshProxyCommand, TheConfigsProxyCommandCarriesTheRun) {
  write_config("  ProxyCommand " + relay() + "\n");
  CommandResult r = push();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src(), dst()), std::nullopt);
  EXPECT_TRUE(exists(mark())) << "the run did not go through the proxy command";
}

TEST_F(SshProxyCommand, OnTheCommandLineAndNoneSwitchesTheConfigsOff) {
  write_config("");
  CommandResult r = push({"--proxy-command", relay()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(src(), dst()), std::nullopt);
  EXPECT_TRUE(exists(mark()));
  ASSERT_EQ(::unlink(mark().c_str()), 0);
  write_config("  ProxyCommand " + relay() + "\n");
  r = push({"--proxy-command", "none"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_FALSE(exists(mark())) << "--proxy-command none still ran the config's command";
}

TEST_F(SshProxyCommand, AFailingProxyIsNamedWithItsOwnWords) {
  write_config("  ProxyCommand echo 'no route to %h:%p from this site' >&2; exit 3\n");
  CommandResult r = push();
  EXPECT_EQ(r.exit_code, 5) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("proxy command 'echo 'no route to %h:%p from this site' >&2; exit 3' exited with status 3: "
                       "no route to 127.0.0.1:" +
                       std::to_string(sshd_->port()) + " from this site"),
            std::string::npos)
      << r.err;
  EXPECT_FALSE(exists(dst()));
}

TEST_F(SshProxyCommand, JumpAndProxyCommandTogetherAreRefused) {
  write_config("");
  CommandResult r = push({"-J", "far", "--proxy-command", relay()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("-J and --proxy-command"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(mark()));
}

TEST_F(SshProxyCommand, AnUnknownTokenIsAUsageError) {
  write_config("");
  CommandResult r = push({"--proxy-command", "nc %x %p"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("unknown token %x"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sparsync::testing
