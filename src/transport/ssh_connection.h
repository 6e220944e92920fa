// SshConnection: one authenticated libssh session to the far host. Opening it
// reads the ssh config, connects with a timeout, checks the host key against
// known_hosts (strictly unless told to accept a new key) and authenticates the
// way ssh does: ssh-agent, then -i keys, then the config's and default keys,
// then password and keyboard-interactive prompts, only when a person is at
// the terminal (never with --batch or when stdin is not a terminal).
// Thread-safety: none. libssh sessions are not thread-safe, so exactly one
// thread may use session() at a time (the pump thread while a transport runs,
// the owner otherwise).
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <memory>
#include <string>

#include "common/status.h"
#include "transport/ssh_options.h"

namespace sparsync {

class SshConnection {
 public:
  static Result<std::unique_ptr<SshConnection>> open(const SshOptions& options);
  ~SshConnection();
  SshConnection(const SshConnection&) = delete;
  SshConnection& operator=(const SshConnection&) = delete;

  ssh_session session() const { return session_; }
  // The host as the user named it, for messages ("backup-host"); an IPv6
  // address in brackets, so that "[::1]:/path" reads as it was typed.
  const std::string& peer_name() const { return peer_name_; }
  // "user@host" or "host", for messages about authentication.
  std::string destination() const;
  const SshOptions& options() const { return options_; }
  // The session timeout once connected: bounds blocking libssh calls.
  long io_timeout_seconds() const { return options_.connect_timeout > 120 ? options_.connect_timeout : 120; }

 private:
  explicit SshConnection(const SshOptions& options);
  Status configure();
  Status connect();
  Status check_host_key();
  Status authenticate();
  int keyboard_interactive();
  Status error(const std::string& what, const std::string& todo) const;

  SshOptions options_;
  std::string peer_name_;
  bool interactive_ = false;
  ssh_session session_ = nullptr;
  // libssh keeps a pointer to this, so it lives as long as the session.
  ssh_callbacks_struct callbacks_{};
};

// Quotes one word for a POSIX shell on the far host: 'it'\''s'. A leading
// "~/" stays unquoted so the far shell still expands it.
std::string shell_quote(const std::string& word);

}  // namespace sparsync
