#include "transport/ssh_exec.h"

#include <unistd.h>

#include <cerrno>
#include <vector>

namespace sparsync {
namespace {

constexpr size_t kCaptureCap = size_t{64} * 1024;

class Channel {
 public:
  explicit Channel(ssh_session s) : c_(ssh_channel_new(s)) {}
  ~Channel() {
    if (c_ != nullptr) {
      ssh_channel_close(c_);
      ssh_channel_free(c_);
    }
  }
  ssh_channel get() const { return c_; }

 private:
  ssh_channel c_;
};

void capture(std::string* into, const char* data, int n) {
  if (n <= 0 || into->size() >= kCaptureCap) return;
  into->append(data, static_cast<size_t>(n));
}

}  // namespace

std::string first_line(const std::string& text) {
  size_t nl = text.find('\n');
  return nl == std::string::npos ? text : text.substr(0, nl);
}

Result<ExecResult> ssh_exec(SshConnection& c, const std::string& command, int stdin_fd) {
  ssh_session s = c.session();
  auto lost = [&](const char* what) {
    return Status(ErrorKind::kConnection,
                  std::string(what) + " '" + command + "' on " + c.peer_name() + ": " + ssh_get_error(s));
  };
  Channel ch(s);
  if (ch.get() == nullptr) return Status(ErrorKind::kInternal, "libssh could not create a channel");
  if (ssh_channel_open_session(ch.get()) != SSH_OK) return lost("cannot open a channel for");
  if (ssh_channel_request_exec(ch.get(), command.c_str()) != SSH_OK) return lost("cannot run");
  ExecResult r;
  std::vector<char> buf(size_t{256} * 1024);
  if (stdin_fd >= 0) {
    // Blocking writes are safe here: the commands we feed (cat) read all of
    // stdin before they write anything, and their stderr fits the window.
    bool feeding = true;
    while (feeding) {
      ssize_t n = ::read(stdin_fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return errno_status(ErrorKind::kSource, "reading the file to upload", errno);
      if (n == 0) break;
      size_t off = 0;
      while (off < static_cast<size_t>(n)) {
        int w = ssh_channel_write(ch.get(), buf.data() + off, static_cast<uint32_t>(static_cast<size_t>(n) - off));
        if (w <= 0) {
          // The command may have stopped reading (disk full, no such
          // directory): its exit status and stderr say why, so fetch them.
          if (ssh_is_connected(s) == 0) return lost("lost the connection while feeding");
          r.stdin_complete = false;
          feeding = false;
          break;
        }
        off += static_cast<size_t>(w);
      }
    }
  }
  ssh_channel_send_eof(ch.get());
  // Both streams in turn with a short wait, so that neither a chatty
  // stdout nor a chatty stderr can stall the other behind a full window.
  for (;;) {
    int e = ssh_channel_read_nonblocking(ch.get(), buf.data(), static_cast<uint32_t>(buf.size()), 1);
    capture(&r.err, buf.data(), e);
    int n = ssh_channel_read_timeout(ch.get(), buf.data(), static_cast<uint32_t>(buf.size()), 0, 200);
    if (n == SSH_ERROR) return lost("lost the connection while running");
    capture(&r.out, buf.data(), n);
    if (n <= 0 && e <= 0 && (ssh_channel_is_eof(ch.get()) != 0 || ssh_channel_is_closed(ch.get()) != 0)) break;
  }
  r.exit_status = ssh_channel_get_exit_status(ch.get());
  return r;
}

}  // namespace sparsync
