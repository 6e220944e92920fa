// Authentication through ssh-agent: with SSH_AUTH_SOCK set and no -i or
// default key, the agent's key logs in, as with ssh.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "support/files.h"
#include "support/sshd_fixture.h"
#include "support/unix_socket.h"

namespace sparsync::testing {
namespace {

TEST(SshAgent, AgentKeyLogsIn) {
  std::string why;
  auto sshd = SshdFixture::start(&why);
  if (!sshd) GTEST_SKIP() << "no sshd for this test: " << why;
  if (::access("/usr/bin/ssh-agent", X_OK) != 0 || ::access("/usr/bin/ssh-add", X_OK) != 0) {
    GTEST_SKIP() << "ssh-agent or ssh-add is not installed";
  }
  sshd->trust_host_key();
  TempDir dir;
  std::string sock = dir.file("agent.sock");
  pid_t agent = ::fork();
  if (agent == 0) {
    ::execl("/usr/bin/ssh-agent", "ssh-agent", "-D", "-a", sock.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  // Generous: under load a slow agent would fail ssh-add, not the run.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!unix_socket_listening(sock) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  CommandResult added =
      run_command({"/usr/bin/env", "SSH_AUTH_SOCK=" + sock, "/usr/bin/ssh-add", "-q", sshd->client_key()});
  if (added.exit_code == 0) {
    std::string src = dir.file("src.img");
    SparseImage(src, 1 << 20).data(0, 65536);
    std::string dst = dir.file("dst.img");
    CommandResult r =
        run_command({"/usr/bin/env", "SSH_AUTH_SOCK=" + sock, "HOME=" + sshd->home(), SPARSYNC_BINARY, "-p",
                     std::to_string(sshd->port()), "-F", sshd->file("ssh_config"), "--known-hosts", sshd->known_hosts(),
                     "--batch", "--remote-path", SPARSYNC_BINARY, src, SshdFixture::remote(dst)});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(first_difference(src, dst), std::nullopt);
  }
  ::kill(agent, SIGTERM);
  int st = 0;
  ::waitpid(agent, &st, 0);
  ASSERT_EQ(added.exit_code, 0) << "ssh-add failed: " << added.err;
}

}  // namespace
}  // namespace sparsync::testing
