// SshTransport: the framed protocol over an SSH exec channel running
// `sparsync --server` on the far host. The engines get one end of a
// socketpair (as both read and write fd); a ChannelPump thread carries the
// bytes over the channel. finish() maps the far command's exit status onto
// our error kinds: 1..8 are sparsync's own exit codes, 127 is "not found".
// The transport owns the connection, and the directory of a binary uploaded
// for this run, which it removes once the far command has ended.
// Thread-safety: as Transport.
#pragma once

#include <memory>
#include <string>

#include "common/unique_fd.h"
#include "source/ssh_connection.h"
#include "source/ssh_pump.h"
#include "source/transport.h"

namespace sparsync {

class SshTransport : public Transport {
 public:
  // Opens an exec channel for `command` on `connection`; `upload_dir`, if
  // not empty, is removed on the far host when the run ends.
  static Result<std::unique_ptr<SshTransport>> start(std::unique_ptr<SshConnection> connection,
                                                     const std::string& command, const std::string& upload_dir);
  ~SshTransport() override;

  int read_fd() override { return engine_.get(); }
  int write_fd() override { return engine_.get(); }
  void close_write() override;
  Status finish() override;
  std::string peer_name() const override { return host_; }

  // The far command's exit status once finish() returned, -1 if none.
  int exit_status() const { return exit_status_; }

 private:
  SshTransport() = default;
  void end_channel();
  std::unique_ptr<SshConnection> connection_;
  std::string upload_dir_;
  ssh_channel channel_ = nullptr;
  UniqueFd engine_;
  std::string host_;
  std::string command_;
  std::unique_ptr<ChannelPump> pump_;
  int exit_status_ = -1;
};

// Maps a far command's exit status to a status; `what` names the command.
Status remote_exit_status(int exit_status, const std::string& host, const std::string& what);

}  // namespace sparsync
