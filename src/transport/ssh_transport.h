// SshTransport: the framed protocol over an SSH exec channel running
// `sparsync --server` on the far host. The engines get one end of a
// socketpair (as both read and write fd); a ChannelPump thread carries the
// bytes over the channel. finish() maps the far command's exit status onto
// our error kinds: 1..8 are sparsync's own exit codes, 127 is "not found".
// The transport owns the connection, and the upload of this binary for the
// run (transport/ssh_upload.h), which it releases once the far command has
// ended.
// Thread-safety: as Transport.
#pragma once

#include <memory>
#include <string>

#include "common/unique_fd.h"
#include "transport/ssh_connection.h"
#include "transport/ssh_pump.h"
#include "transport/ssh_upload.h"
#include "transport/transport.h"

namespace sparsync {

class SshTransport : public Transport {
 public:
  // Opens an exec channel for `command` on `connection`; `upload`, if any,
  // is released (its directory removed on the far host) when the channel
  // has ended. The far command's stderr is held back (see
  // ChannelPump::hold_stderr) until hello_done() or release_stderr().
  // The connection may be shared with other transports running at once
  // (transport/session_share.h); then `upload` must be null.
  static Result<std::unique_ptr<SshTransport>> start(std::shared_ptr<SshConnection> connection,
                                                     const std::string& command, std::unique_ptr<RemoteUpload> upload);
  ~SshTransport() override;

  int read_fd() override { return engine_.get(); }
  int write_fd() override { return engine_.get(); }
  void close_write() override;
  Status finish() override;
  void abandon() override { end_channel(); }
  std::string peer_name() const override { return host_; }
  Status hello(FrameReader& in, FrameWriter& out, uint64_t* features) override;
  // Lanes are direct-streamlocal forwards made by the login user's sshd; a
  // server that sudo made root hands its lane socket to that user.
  int lane_capacity() const override { return proto::kMaxLanes; }
  Result<int> open_lanes(const proto::Lanes& offer, uint16_t count) override;

  // The HELLO exchange went through (by the caller, over read_fd/write_fd):
  // remembers the features for hello() and relays stderr from now on.
  void hello_done(uint64_t features);
  // The far command's stderr held so far; after finish(), all of it.
  std::string held_stderr() { return held_stderr_.empty() && pump_ ? pump_->held_stderr() : held_stderr_; }
  const SshConnection& connection() const { return *connection_; }
  // The connection, for others to share while this transport runs.
  std::shared_ptr<SshConnection> shared_connection() const { return connection_; }
  // After finish(): the connection, for another command (an upload, a
  // retry); an upload this transport held is released first.
  std::shared_ptr<SshConnection> take_connection() {
    upload_.reset();
    return std::move(connection_);
  }
  // Whether this transport runs a binary it uploaded (whose directory goes
  // when it ends): its connection is then not for other syncs to share.
  bool uploaded() const { return upload_ != nullptr; }

  // The far command's exit status once finish() returned, -1 if none.
  int exit_status() const { return exit_status_; }

 private:
  SshTransport() = default;
  void end_channel();
  std::shared_ptr<SshConnection> connection_;
  bool counted_ = false;                  // this transport's channel is in share().open_channels
  std::unique_ptr<RemoteUpload> upload_;  // its channel is on connection_
  ssh_channel channel_ = nullptr;
  UniqueFd engine_;
  UniqueFd lanes_engine_;  // the engines' end of the lanes, once open
  std::string host_;
  std::string command_;
  std::unique_ptr<ChannelPump> pump_;
  int exit_status_ = -1;
  bool hello_done_ = false;
  uint64_t features_ = 0;
  std::string held_stderr_;  // kept from the pump once it has ended
};

// Maps a far command's exit status to a status; `what` names the command.
Status remote_exit_status(int exit_status, const std::string& host, const std::string& what);

}  // namespace sparsync
