// SshdFixture: a real OpenSSH server on 127.0.0.1, on a free port, with host
// and user keys generated for it in a temporary directory, so end-to-end
// tests exercise sparsync's SSH transport against the real thing without
// touching the system's ssh configuration or the user's ~/.ssh. The client
// side gets its own HOME (with an empty .ssh), an empty -F config and its
// own known_hosts file.
// start() returns nullptr with a reason when sshd cannot run here (not
// installed, cannot bind), so tests skip with that reason.
// Thread-safety: none; one fixture per test.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "support/command.h"

namespace sparsync::testing {

class SshdFixture {
 public:
  static std::unique_ptr<SshdFixture> start(std::string* why_not);
  ~SshdFixture();
  SshdFixture(const SshdFixture&) = delete;
  SshdFixture& operator=(const SshdFixture&) = delete;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string file(const std::string& name) const { return dir_ + "/" + name; }
  std::string client_key() const { return file("client_key"); }  // authorized
  std::string wrong_key() const { return file("wrong_key"); }    // not authorized
  std::string known_hosts() const { return file("known_hosts"); }
  std::string home() const { return file("home"); }
  // The far side's $TMPDIR (sshd's SetEnv): private to this fixture, so a
  // test sees what the far side leaves there without racing other tests.
  std::string far_tmpdir() const { return file("far_tmp"); }
  // "127.0.0.1:<path>", the remote spelling of a path on the fixture host.
  static std::string remote(const std::string& path) { return "127.0.0.1:" + path; }

  // Writes the server's real host key into known_hosts (replacing it).
  void trust_host_key() const;
  // Writes a different key for this host into known_hosts, as if the
  // server's key had changed since it was recorded.
  void trust_other_host_key() const;
  // The known_hosts line for the server's real key.
  std::string host_key_line() const;

  // Rewrites authorized_keys so the client key may only run `command` (an
  // sshd forced command, `command="...",restrict`); the client's own command
  // then reaches it in SSH_ORIGINAL_COMMAND.
  void force_command(const std::string& command) const;

  // Options that reach this server with the authorized key and a trusted
  // host key, and run the built binary on the far side.
  std::vector<std::string> ssh_args() const;
  // Runs sparsync with HOME pointing at home() and no ssh-agent.
  CommandResult run(const std::vector<std::string>& args) const;

 private:
  SshdFixture() = default;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace sparsync::testing
