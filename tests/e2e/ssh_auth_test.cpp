// Host key checking and authentication against a real sshd: unknown keys are
// refused with the fingerprint and accepted only when asked, changed keys are
// always refused, a wrong user key fails with the methods tried. Nothing is
// written on the far side when the connection is refused.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <iterator>
#include <sstream>

#include "support/files.h"
#include "support/sshd_test.h"

namespace sparsync::testing {
namespace {

class SshAuth : public SshdTest {
 protected:
  void SetUp() override {
    start_sshd(false);
    if (IsSkipped()) return;
    SparseImage(dir_.file("src.img"), 1 << 20).data(0, 65536);
  }
  CommandResult push(std::vector<std::string> args) {
    args.push_back(dir_.file("src.img"));
    args.push_back(SshdFixture::remote(dst()));
    return sshd_->run(args);
  }
  std::string dst() const { return dir_.file("dst.img"); }
  TempDir dir_;
};

TEST_F(SshAuth, UnknownHostKeyIsRefusedWithItsFingerprint) {
  CommandResult r = push(sshd_->ssh_args());
  EXPECT_EQ(r.exit_code, 5) << r.err;
  std::string fp = run_command({"/usr/bin/ssh-keygen", "-l", "-f", sshd_->file("host_key.pub")}).out;
  std::string sha = fp.substr(fp.find("SHA256:"), 50);
  sha = sha.substr(0, sha.find(' '));
  EXPECT_NE(r.err.find(sha), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--accept-new-host-key"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(dst()));
  EXPECT_EQ(read_text(sshd_->known_hosts()), "");
}

TEST_F(SshAuth, AcceptNewHostKeyRecordsItForLaterRuns) {
  std::vector<std::string> args = sshd_->ssh_args();
  args.push_back("--accept-new-host-key");
  CommandResult r = push(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(dir_.file("src.img"), dst()), std::nullopt);
  EXPECT_NE(read_text(sshd_->known_hosts()).find("[127.0.0.1]:" + std::to_string(sshd_->port())), std::string::npos);
  CommandResult again = push(sshd_->ssh_args());
  EXPECT_EQ(again.exit_code, 0) << again.err;
}

TEST_F(SshAuth, ChangedHostKeyIsRefusedEvenWithAcceptNew) {
  sshd_->trust_other_host_key();
  std::string before = read_text(sshd_->known_hosts());
  for (bool accept_new : {false, true}) {
    std::vector<std::string> args = sshd_->ssh_args();
    if (accept_new) args.push_back("--accept-new-host-key");
    CommandResult r = push(args);
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_NE(r.err.find("does not match"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("ssh-keygen -R"), std::string::npos) << r.err;
  }
  EXPECT_FALSE(exists(dst()));
  EXPECT_EQ(read_text(sshd_->known_hosts()), before);
}

TEST_F(SshAuth, WrongKeyIsRefusedNamingWhatWasTried) {
  sshd_->trust_host_key();
  std::vector<std::string> args = sshd_->ssh_args();
  for (size_t i = 0; i + 1 < args.size(); ++i) {
    if (args[i] == "-i") args[i + 1] = sshd_->wrong_key();
  }
  CommandResult r = push(args);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("authentication to root@127.0.0.1 failed"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find(sshd_->wrong_key()), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("publickey"), std::string::npos) << r.err;
  EXPECT_FALSE(exists(dst()));
}

TEST_F(SshAuth, ClosedPortIsAConnectionError) {
  sshd_->trust_host_key();
  std::vector<std::string> args = sshd_->ssh_args();
  args[1] = "1";  // -p 1: nothing listens there
  args.push_back("--connect-timeout");
  args.push_back("5");
  CommandResult r = push(args);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("cannot connect to 127.0.0.1 port 1"), std::string::npos) << r.err;
}

TEST_F(SshAuth, BothSidesRemoteIsAUsageError) {
  CommandResult r = sshd_->run({"127.0.0.1:/a", "127.0.0.1:/b"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("both SOURCE and TARGET are remote"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace sparsync::testing

namespace sparsync::testing {
namespace {

// ~/.ssh/config and -F: Host aliases with HostName, Port, User and
// IdentityFile, as ssh reads them; default keys found in ~/.ssh.
class SshConfig : public SshAuth {
 protected:
  std::string config_text() const {
    return "Host backup-alias\n  HostName 127.0.0.1\n  Port " + std::to_string(sshd_->port()) +
           "\n  User root\n  IdentityFile " + sshd_->client_key() + "\n";
  }
  // The fixture's options minus -p, -i and -F, which the config supplies.
  std::vector<std::string> bare_args() const {
    return {"--known-hosts", sshd_->known_hosts(), "--batch", "--remote-path", SPARSYNC_BINARY};
  }
  CommandResult push_to(const std::string& host, std::vector<std::string> args) {
    args.push_back(dir_.file("src.img"));
    args.push_back(host + ":" + dst());
    return sshd_->run(args);
  }
};

TEST_F(SshConfig, ExplicitConfigFileSuppliesHostPortUserAndKey) {
  sshd_->trust_host_key();
  std::string cfg = dir_.file("config");
  std::ofstream(cfg) << config_text();
  std::vector<std::string> args = bare_args();
  args.insert(args.end(), {"-F", cfg});
  CommandResult r = push_to("backup-alias", args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(dir_.file("src.img"), dst()), std::nullopt);
  EXPECT_NE(r.out.find("backup-alias:" + dst()), std::string::npos) << r.out;
}

TEST_F(SshConfig, UserConfigInHomeIsReadByDefault) {
  sshd_->trust_host_key();
  std::ofstream(sshd_->home() + "/.ssh/config") << config_text();
  CommandResult r = push_to("backup-alias", bare_args());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(first_difference(dir_.file("src.img"), dst()), std::nullopt);
}

TEST_F(SshConfig, DefaultKeyInHomeIsTriedWithoutIdentityOption) {
  sshd_->trust_host_key();
  std::ifstream in(sshd_->client_key(), std::ios::binary);
  std::string key((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::string dest = sshd_->home() + "/.ssh/id_ed25519";
  std::ofstream(dest, std::ios::binary) << key;
  ::chmod(dest.c_str(), 0600);
  std::vector<std::string> args = bare_args();
  args.insert(args.end(), {"-p", std::to_string(sshd_->port()), "-F", sshd_->file("ssh_config")});
  CommandResult r = push_to("127.0.0.1", args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(SshConfig, UnknownHostKeyMessageNamesTheConfigsKnownHostsFile) {
  // Not ~/.ssh/known_hosts: the file the config told libssh to check.
  std::string known = dir_.file("config_known_hosts");
  std::ofstream(known) << "";
  std::string cfg = dir_.file("config");
  std::ofstream(cfg) << config_text() << "  UserKnownHostsFile " << known << "\n";
  CommandResult r = push_to("backup-alias", {"--batch", "--remote-path", SPARSYNC_BINARY, "-F", cfg});
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find(") is not in " + known + ":"), std::string::npos) << r.err;
}

TEST_F(SshConfig, CommandLinePortWinsOverTheConfig) {
  sshd_->trust_host_key();
  std::string cfg = dir_.file("config");
  std::ofstream(cfg) << "Host backup-alias\n  HostName 127.0.0.1\n  Port 1\n  IdentityFile " + sshd_->client_key() +
                            "\n";
  std::vector<std::string> args = bare_args();
  args.insert(args.end(), {"-F", cfg, "-p", std::to_string(sshd_->port())});
  CommandResult r = push_to("backup-alias", args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

}  // namespace
}  // namespace sparsync::testing
