// SshHop: carries the next SSH session through a jump host. The jump host's
// session opens a direct-tcpip channel to the next host, and a ChannelPump
// relays that channel to one end of a local socketpair; the next session is
// given the other end (SSH_OPTIONS_FD) as if it were its TCP socket.
//
// Why this and not a ProxyCommand: libssh 0.10 has no "session over a
// channel" call, and a ProxyCommand (ssh -W, or this binary re-run as a
// relay) is a second process that would need every option we were given
// (-F, -i, --known-hosts, the agent, --batch) passed on, would prompt on its
// own, and whose failure libssh reports only as a reset connection. Here each
// hop is an SshConnection of ours, with the same config, keys, agent and
// host key policy, and its failures are ours to name.
// Thread-safety: the pump thread owns the jump host's session from open()
// until destruction; the owner only calls next_fd() and destroys the hop.
#pragma once

#include <libssh/libssh.h>

#include <memory>
#include <string>

#include "common/status.h"
#include "common/unique_fd.h"
#include "transport/ssh_connection.h"
#include "transport/ssh_pump.h"

namespace sparsync {

class SshHop {
 public:
  // Opens the channel from `jump` to host:port (as the jump host resolves
  // them) and starts relaying it.
  static Result<std::unique_ptr<SshHop>> open(std::unique_ptr<SshConnection> jump, const std::string& host,
                                              unsigned int port);
  ~SshHop();
  SshHop(const SshHop&) = delete;
  SshHop& operator=(const SshHop&) = delete;

  // The socket the next session talks through; the caller (libssh, once
  // handed it) closes it.
  int release_next_fd() { return next_.release(); }

 private:
  SshHop() = default;
  std::unique_ptr<SshConnection> jump_;
  ssh_channel channel_ = nullptr;
  std::unique_ptr<ChannelPump> pump_;
  UniqueFd next_;
};

}  // namespace sparsync
