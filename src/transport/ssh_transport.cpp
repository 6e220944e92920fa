#include "transport/ssh_transport.h"

#include <sys/socket.h>

#include <cerrno>

#include "transport/ssh_exec.h"

namespace sparsync {

Status remote_exit_status(int code, const std::string& host, const std::string& what) {
  if (code == 0) return Status::ok();
  if (code < 0) {
    return Status(ErrorKind::kConnection,
                  what + " on " + host + " ended without an exit status (killed, or the link dropped)");
  }
  if (code == 127) {
    return Status(ErrorKind::kConnection, what + " on " + host +
                                              ": command not found (exit 127); install sparsync there or "
                                              "give its path with --remote-path");
  }
  if (code == 126) {
    return Status(ErrorKind::kConnection, what + " on " + host +
                                              ": found but cannot be executed (exit 126; not executable, another "
                                              "architecture, or on a noexec mount); check --remote-path there");
  }
  ErrorKind kind = code >= 1 && code <= 8 ? static_cast<ErrorKind>(code) : ErrorKind::kConnection;
  return Status(kind, what + " on " + host + " exited with status " + std::to_string(code));
}

namespace {

// The engines' end and the pump's end of a local stream, with room for a few
// DATA frames in flight on each side of the pump.
Status engine_socketpair(UniqueFd* engine, UniqueFd* pump) {
  int sv[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return errno_status(ErrorKind::kInternal, "socketpair", errno);
  }
  int bufsize = 1024 * 1024;
  for (int fd : sv) {
    (void)::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
  }
  engine->reset(sv[0]);
  pump->reset(sv[1]);
  return Status::ok();
}

}  // namespace

Result<std::unique_ptr<SshTransport>> SshTransport::start(std::shared_ptr<SshConnection> c, const std::string& command,
                                                          std::unique_ptr<RemoteUpload> upload) {
  std::unique_ptr<SshTransport> t(new SshTransport());
  t->host_ = c->peer_name();
  t->command_ = command;
  t->connection_ = std::move(c);
  t->upload_ = std::move(upload);
  ssh_session s = t->connection_->session();
  SessionShare& share = t->connection_->share();
  {
    // Other channels of the session may be running: their pumps wait.
    std::lock_guard<std::recursive_mutex> session(share.mu);
    ssh_set_blocking(s, 1);
    t->channel_ = ssh_channel_new(s);
    if (t->channel_ == nullptr) return Status(ErrorKind::kInternal, "libssh could not create a channel");
    share.open_channels.fetch_add(1);
    t->counted_ = true;
    if (ssh_channel_open_session(t->channel_) != SSH_OK ||
        ssh_channel_request_exec(t->channel_, command.c_str()) != SSH_OK) {
      return Status(ErrorKind::kConnection, "cannot start '" + command + "' on " + t->host_ + ": " + ssh_get_error(s));
    }
  }
  UniqueFd pump_end;
  SPARSYNC_RETURN_IF_ERROR(engine_socketpair(&t->engine_, &pump_end));
  t->pump_ =
      std::make_unique<ChannelPump>(s, t->channel_, std::move(pump_end), t->host_, t->connection_->options().keepalive,
                                    t->connection_->io_timeout_seconds(), &share);
  t->pump_->hold_stderr();
  SPARSYNC_RETURN_IF_ERROR(t->pump_->start());
  return t;
}

void SshTransport::hello_done(uint64_t features) {
  features_ = features;
  hello_done_ = true;
  pump_->release_stderr();
}

Status SshTransport::hello(FrameReader& in, FrameWriter& out, uint64_t* features) {
  if (!hello_done_) return Transport::hello(in, out, features);
  *features = features_;
  return Status::ok();
}

Result<int> SshTransport::open_lanes(const proto::Lanes& offer, uint16_t count) {
  if (!pump_) return Status(ErrorKind::kInternal, "no channel to open lanes beside");
  UniqueFd engine, pump_end;
  SPARSYNC_RETURN_IF_ERROR(engine_socketpair(&engine, &pump_end));
  SPARSYNC_RETURN_IF_ERROR(pump_->open_lanes(offer, count, std::move(pump_end)));
  lanes_engine_ = std::move(engine);
  return lanes_engine_.get();
}

// Stops the pump if it still runs, then frees the channel and releases an
// upload; the session is ours again once the pump has joined.
void SshTransport::end_channel() {
  if (pump_) {
    pump_->stop();
    engine_.reset();
    lanes_engine_.reset();
    pump_->join();
    held_stderr_ = pump_->held_stderr();
    pump_.reset();
  }
  if (channel_ != nullptr && connection_ != nullptr) {
    std::lock_guard<std::recursive_mutex> session(connection_->share().mu);
    ssh_set_blocking(connection_->session(), 1);
    ssh_channel_close(channel_);
    ssh_channel_free(channel_);
    channel_ = nullptr;
  }
  if (counted_ && connection_ != nullptr) {
    connection_->share().open_channels.fetch_sub(1);
    counted_ = false;
  }
  upload_.reset();
}

SshTransport::~SshTransport() { end_channel(); }

void SshTransport::close_write() {
  if (engine_.valid()) ::shutdown(engine_.get(), SHUT_WR);
  if (lanes_engine_.valid()) ::shutdown(lanes_engine_.get(), SHUT_WR);
}

Status SshTransport::finish() {
  if (!pump_) return Status(ErrorKind::kInternal, "finish called twice");
  // Closing (not just shutting) our end lets the pump drop whatever the far
  // side still sends that nobody will read, instead of waiting on it.
  engine_.reset();
  lanes_engine_.reset();
  PumpResult r = pump_->join();
  held_stderr_ = pump_->held_stderr();
  pump_.reset();
  end_channel();
  exit_status_ = r.exit_status;
  if (!r.status.is_ok()) return r.status;
  return remote_exit_status(r.exit_status, host_, "sparsync --server");
}

}  // namespace sparsync
