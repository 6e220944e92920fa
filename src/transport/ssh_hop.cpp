#include "transport/ssh_hop.h"

#include <sys/socket.h>

#include <cerrno>

#include "common/log.h"

namespace sparsync {

Result<std::unique_ptr<SshHop>> SshHop::open(std::unique_ptr<SshConnection> jump, const std::string& host,
                                             unsigned int port) {
  std::unique_ptr<SshHop> hop(new SshHop());
  hop->jump_ = std::move(jump);
  ssh_session s = hop->jump_->session();
  const std::string where = host + " port " + std::to_string(port);
  hop->channel_ = ssh_channel_new(s);
  if (hop->channel_ == nullptr) return Status(ErrorKind::kInternal, "libssh could not create a channel");
  // The originator address is informational for the jump host's sshd.
  if (ssh_channel_open_forward(hop->channel_, host.c_str(), static_cast<int>(port), "127.0.0.1", 0) != SSH_OK) {
    return Status(ErrorKind::kConnection, "jump host " + hop->jump_->peer_name() + " cannot reach " + where + ": " +
                                              ssh_get_error(s) +
                                              "; check that host and port from the jump host, and that its sshd "
                                              "allows TCP forwarding (AllowTcpForwarding)");
  }
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return errno_status(ErrorKind::kInternal, "socketpair", errno);
  }
  UniqueFd pump_end(sv[0]);
  hop->next_.reset(sv[1]);
  const SshOptions& o = hop->jump_->options();
  hop->pump_ =
      std::make_unique<ChannelPump>(s, hop->channel_, std::move(pump_end), "jump host " + hop->jump_->peer_name(),
                                    o.keepalive, hop->jump_->io_timeout_seconds());
  SPARSYNC_RETURN_IF_ERROR(hop->pump_->start());
  return hop;
}

SshHop::~SshHop() {
  if (pump_) {
    pump_->stop();
    PumpResult r = pump_->join();
    // The session carried through us reports a broken link as its own;
    // why this hop broke is worth a line of its own.
    if (!r.status.is_ok()) log::error(r.status.message());
    pump_.reset();
  }
  if (channel_ != nullptr) {
    ssh_channel_close(channel_);
    ssh_channel_free(channel_);
  }
  jump_.reset();
}

}  // namespace sparsync
