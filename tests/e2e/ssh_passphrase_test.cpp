// Issue 19 item 3 over a real sshd, with a key that needs a passphrase: on a
// terminal it is asked for as ssh asks, naming the key as given, on the
// terminal and not under a progress line (before, libssh wrote a bare
// "Passphrase" to stdout and the progress line drew over it); without a
// terminal the error names the key and suggests ssh-agent instead of
// blaming the key.
#include <gtest/gtest.h>

#include "support/command.h"
#include "support/files.h"
#include "support/pty.h"
#include "support/sshd_test.h"

namespace sparsync::testing {
namespace {

constexpr const char* kPassphrase = "correct horse";

class SshPassphrase : public SshdTest {
 protected:
  void SetUp() override {
    start_sshd(true);
    if (IsSkipped()) return;
    // The authorized key, locked with a passphrase.
    key_ = dir_.file("locked_key");
    ASSERT_EQ(run_command({"/bin/cp", sshd_->client_key(), key_}).exit_code, 0);
    ASSERT_EQ(run_command({"/bin/cp", sshd_->client_key() + ".pub", key_ + ".pub"}).exit_code, 0);
    CommandResult r = run_command({"/usr/bin/ssh-keygen", "-q", "-p", "-P", "", "-N", kPassphrase, "-f", key_});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    SparseImage(src(), 1 << 20).data(0, 65536, 5);
  }
  // The fixture's options without --batch and with the locked key for -i.
  std::vector<std::string> args(const std::vector<std::string>& extra) const {
    std::vector<std::string> a{"-p",
                               std::to_string(sshd_->port()),
                               "-i",
                               key_,
                               "-F",
                               sshd_->file("ssh_config"),
                               "--known-hosts",
                               sshd_->known_hosts(),
                               "--remote-path",
                               SPARSYNC_BINARY};
    a.insert(a.end(), extra.begin(), extra.end());
    a.push_back(src());
    a.push_back(SshdFixture::remote(dst()));
    return a;
  }
  CommandResult on_terminal(const std::vector<std::string>& extra) const {
    std::vector<std::string> argv{"/usr/bin/env", "-u", "SSH_AUTH_SOCK", "HOME=" + sshd_->home(), SPARSYNC_BINARY};
    std::vector<std::string> a = args(extra);
    argv.insert(argv.end(), a.begin(), a.end());
    return run_on_terminal(argv, {{prompt(), kPassphrase}});
  }
  std::string prompt() const { return "Enter passphrase for key '" + key_ + "': "; }
  std::string src() const { return dir_.file("src.img"); }
  std::string dst() const { return dir_.file("dst.img"); }
  TempDir dir_;
  std::string key_;
};

TEST_F(SshPassphrase, OnATerminalThePromptNamesTheKeyAndNothingDrawsOverIt) {
  for (bool quiet : {false, true}) {
    SCOPED_TRACE(quiet ? "-q" : "with progress");
    ::unlink(dst().c_str());
    CommandResult r = on_terminal(quiet ? std::vector<std::string>{"-q"} : std::vector<std::string>{});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(first_difference(src(), dst()), std::nullopt);
    size_t at = r.err.find(prompt());
    ASSERT_NE(at, std::string::npos) << r.err;
    EXPECT_EQ(r.err.find(prompt(), at + 1), std::string::npos) << "asked twice: " << r.err;
    // Up to the end of the prompt's line nothing else was written: no
    // progress redraw ('\r') while the person was typing, and no echo.
    std::string rest = r.err.substr(at + prompt().size());
    EXPECT_EQ(rest.find_first_of("\r\n"), rest.find("\r\n")) << r.err;
    EXPECT_EQ(rest.find("\r\n"), 0u) << r.err;
    EXPECT_EQ(r.err.find(kPassphrase), std::string::npos) << "the passphrase was echoed";
    EXPECT_EQ(r.out.find("Passphrase"), std::string::npos) << "a prompt on stdout: " << r.out;
  }
}

TEST_F(SshPassphrase, WithoutATerminalTheErrorNamesTheKeyAndSuggestsTheAgent) {
  std::vector<std::string> a = args({"--batch"});
  CommandResult r = sshd_->run(a);
  EXPECT_EQ(r.exit_code, 5) << r.err;
  ASSERT_EQ(r.err_lines().size(), 1u) << r.err;
  EXPECT_NE(r.err.find("key " + key_ + " needs a passphrase"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("ssh-add " + key_), std::string::npos) << r.err;
  EXPECT_FALSE(exists(dst()));
}

}  // namespace
}  // namespace sparsync::testing
