// SshConnection: one authenticated libssh session to the far host. Opening it
// reads the ssh config, connects with a timeout, checks the host key against
// known_hosts (strictly unless told to accept a new key) and authenticates the
// way ssh does: ssh-agent, then -i keys, then the config's and default keys,
// then password and keyboard-interactive prompts, only when a person is at
// the terminal (never with --batch or when stdin is not a terminal).
// Through jump hosts (-J, or the config's ProxyJump) it first opens one
// SshConnection per hop, each with the same config, keys and host key
// policy, and carries the next session through it (transport/ssh_hop.h).
// Thread-safety: none. libssh sessions are not thread-safe, so exactly one
// thread may use session() at a time: whoever holds share().mu (the pump
// threads of its channels take turns, transport/session_share.h), or the
// owner while no channel runs.
#pragma once

#include <libssh/callbacks.h>
#include <libssh/libssh.h>

#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "transport/session_share.h"
#include "transport/ssh_jump.h"
#include "transport/ssh_options.h"
#include "transport/ssh_proxy_command.h"

namespace sparsync {

class SshHop;

class SshConnection {
 public:
  static Result<std::unique_ptr<SshConnection>> open(const SshOptions& options);
  ~SshConnection();
  SshConnection(const SshConnection&) = delete;
  SshConnection& operator=(const SshConnection&) = delete;

  ssh_session session() const { return session_; }
  // How the channels of this session take turns (transport/session_share.h).
  SessionShare& share() const { return share_; }
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
  // The hops before the far host, in the order they are reached, and the
  // chain opened: the last hop's connection, which carries ours.
  static Result<std::unique_ptr<SshConnection>> open_jumps(const SshOptions& target, const std::vector<JumpHost>& hops);
  Status configure();
  void read_host_key_policy();
  Result<std::vector<JumpHost>> jump_chain();
  Status connect_through(std::unique_ptr<SshConnection> jump);
  Status start_proxy_command();
  Status connect();
  Status check_host_key();
  Status authenticate();
  int keyboard_interactive();
  Status error(const std::string& what, const std::string& todo) const;

  SshOptions options_;
  std::string peer_name_;
  bool interactive_ = false;
  bool is_hop_ = false;  // a jump host: the chain, not its own config, says how to reach it
  // The config's StrictHostKeyChecking, which libssh drops: "accept-new", or
  // "no" taken as accept-new (a changed key is never accepted).
  bool config_accepts_new_ = false;
  bool config_said_no_ = false;
  ssh_session session_ = nullptr;
  // The jump host this session runs through; it outlives the session.
  std::unique_ptr<SshHop> hop_;
  // The ProxyCommand this session runs over, if any; it outlives the session.
  std::unique_ptr<ProxyCommand> proxy_;
  // libssh keeps a pointer to this, so it lives as long as the session.
  ssh_callbacks_struct callbacks_{};
  mutable SessionShare share_;
};

// Quotes one word for a POSIX shell on the far host: 'it'\''s'. A leading
// "~/" stays unquoted so the far shell still expands it.
std::string shell_quote(const std::string& word);

}  // namespace sparsync
