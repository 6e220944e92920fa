// The upload of this binary to a far host that has none leaves nothing in
// the far host's temporary directory, whenever the run ends: the link cut
// in the middle of the copy, the client killed once the directory exists,
// or killed once the copy is complete. The far side's $TMPDIR is the
// fixture's own (SshdFixture::far_tmpdir), so what is left there is this
// test's. docs/how-it-works.md "What the far side needs".
#include <signal.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <fstream>

#include "support/files.h"
#include "support/process.h"
#include "support/sizes.h"
#include "support/sshd_test.h"
#include "support/tcp_relay.h"

namespace sparsync::testing {
namespace {

uint64_t uploaded_binary_size() {
  struct stat st;
  return ::stat(SPARSYNC_BINARY, &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

class SshUpload : public SshdTest {
 protected:
  void SetUp() override {
    start_sshd(true);
    if (IsSkipped()) return;
    SparseImage(src(), 8 * kMiB).data(0, kMiB, 1);
  }
  std::string src() const { return dir_.file("src.img"); }

  // Arguments for a push whose far side has no sparsync, so it uploads;
  // through `relay_port` when not 0.
  std::vector<std::string> upload_args(int relay_port) {
    std::vector<std::string> args = sshd_->ssh_args();
    for (size_t i = 0; i + 1 < args.size(); ++i) {
      if (args[i] == "--remote-path") args[i + 1] = "/nonexistent/sparsync";
      if (relay_port != 0 && args[i] == "-p") args[i + 1] = std::to_string(relay_port);
      if (relay_port != 0 && args[i] == "--known-hosts") args[i + 1] = relay_known_hosts(relay_port);
    }
    args.insert(args.end(), {"--retries", "0", src(), SshdFixture::remote(dir_.file("dst.img"))});
    return args;
  }

  // The host key as seen through the relay's port.
  std::string relay_known_hosts(int port) {
    std::string line = sshd_->host_key_line();
    std::string path = dir_.file("relay_known_hosts");
    std::ofstream(path) << "[127.0.0.1]:" << port << line.substr(line.find(' '));
    return path;
  }

  std::vector<std::string> far_tmp_entries() const { return directory_entries(sshd_->far_tmpdir()); }

  // Waits until the far side's temporary directory is empty again.
  void expect_far_tmp_emptied() {
    EXPECT_TRUE(wait_until([&] { return far_tmp_entries().empty(); }, 20))
        << "left in the far TMPDIR: " << (far_tmp_entries().empty() ? "" : far_tmp_entries()[0]);
  }

  // The path of the binary being uploaded, once its directory exists.
  std::string binary_in_far_tmp() const {
    auto names = far_tmp_entries();
    return names.empty() ? "" : sshd_->far_tmpdir() + "/" + names[0] + "/sparsync";
  }

  // Starts the client with HOME set as SshdFixture::run does.
  std::unique_ptr<Process> start_client() {
    std::vector<std::string> argv = {"/usr/bin/env", "-u", "SSH_AUTH_SOCK", "HOME=" + sshd_->home(), SPARSYNC_BINARY};
    for (const auto& a : upload_args(0)) argv.push_back(a);
    return Process::start(argv);
  }

  TempDir dir_;
};

TEST_F(SshUpload, LinkCutInTheMiddleOfTheCopyLeavesNothing) {
  uint64_t size = uploaded_binary_size();
  ASSERT_GT(size, 4 * kMiB) << "the binary is too small to cut its copy in the middle";
  TcpRelay relay(sshd_->port());
  ASSERT_GT(relay.port(), 0);
  // Login and probe take a few KiB: 2 MiB on is inside the copy.
  relay.cut_after(2 * kMiB, 0);
  CommandResult r = sshd_->run(upload_args(relay.port()));
  EXPECT_EQ(r.exit_code, 5) << r.err;
  EXPECT_NE(r.err.find("uploading this sparsync"), std::string::npos) << r.err;
  EXPECT_EQ(relay.cuts(), 1);
  EXPECT_LT(relay.forward_at_cut(), size) << "the cut came after the copy";
  expect_far_tmp_emptied();
}

TEST_F(SshUpload, ClientKilledOnceTheDirectoryExistsLeavesNothing) {
  auto client = start_client();
  ASSERT_TRUE(client);
  ASSERT_TRUE(wait_until([&] { return !far_tmp_entries().empty(); }, 30)) << client->stderr_so_far();
  ASSERT_TRUE(client->signal(SIGKILL));
  ASSERT_TRUE(client->wait(10).has_value());
  expect_far_tmp_emptied();
}

// Between the end of the copy and the server's start (or just after it).
TEST_F(SshUpload, ClientKilledOnceTheCopyIsCompleteLeavesNothing) {
  uint64_t size = uploaded_binary_size();
  auto client = start_client();
  ASSERT_TRUE(client);
  ASSERT_TRUE(wait_until(
      [&] {
        std::string binary = binary_in_far_tmp();
        return !binary.empty() && exists(binary) && file_size(binary) == size;
      },
      30))
      << client->stderr_so_far();
  ASSERT_TRUE(client->signal(SIGKILL));
  ASSERT_TRUE(client->wait(10).has_value());
  expect_far_tmp_emptied();
}

TEST_F(SshUpload, AFinishedRunLeavesNothing) {
  CommandResult r = sshd_->run(upload_args(0));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(far_tmp_entries(), std::vector<std::string>{});
}

}  // namespace
}  // namespace sparsync::testing
