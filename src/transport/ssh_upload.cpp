#include "transport/ssh_upload.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <vector>

#include "common/log.h"
#include "common/printable.h"
#include "common/unique_fd.h"
#include "common/units.h"
#include "transport/ssh_exec.h"

namespace sparsync {
namespace {

constexpr const char* kReadyMarker = "sparsync-upload ";
constexpr const char* kCopiedMarker = "sparsync-upload-complete";
// The holding shell's exit status when its EXIT trap could not remove the directory.
constexpr int kNotRemoved = 71;
constexpr size_t kOutputCap = size_t{64} * 1024;
// Releasing is the last thing a run does: a far side that does not answer
// within this is gone, and its shell sees its stdin close when sshd does.
constexpr int kReleaseSeconds = 10;

}  // namespace

std::string upload_holder_command(uint64_t size) {
  const std::string n = std::to_string(size);
  // Traps first, so that no signal after mktemp finds the shell without one.
  return "set -C; umask 077; d=; "
         "trap '[ -z \"$d\" ] || rm -rf -- \"$d\" || exit " +
         std::to_string(kNotRemoved) +
         "' EXIT; "
         "trap 'exit 129' HUP; trap 'exit 130' INT; trap 'exit 141' PIPE; trap 'exit 143' TERM; "
         "d=$(mktemp -d \"${TMPDIR:-/tmp}/sparsync.XXXXXXXXXX\") || exit 1; "
         "echo \"" +
         std::string(kReadyMarker) +
         "$(uname -m) $d\"; "
         "head -c " +
         n + " > \"$d/sparsync\" && [ $(wc -c < \"$d/sparsync\") -eq " + n +
         " ] && "
         "chmod 700 \"$d/sparsync\" || exit 1; "
         "echo " +
         kCopiedMarker +
         "; "
         "cat > /dev/null";
}

Result<std::unique_ptr<RemoteUpload>> RemoteUpload::start(SshConnection& c, int fd, uint64_t size,
                                                          const std::string& machine, const std::string& why) {
  const std::string& host = c.peer_name();
  std::unique_ptr<RemoteUpload> u(new RemoteUpload(c));
  u->ch_ = ssh_channel_new(c.session());
  if (u->ch_ == nullptr) return Status(ErrorKind::kInternal, "libssh could not create a channel");
  if (ssh_channel_open_session(u->ch_) != SSH_OK ||
      ssh_channel_request_exec(u->ch_, upload_holder_command(size).c_str()) != SSH_OK) {
    return Status(ErrorKind::kConnection, "cannot start the upload on " + host + ": " + ssh_get_error(c.session()));
  }
  // A chatty login script may print before our command: skip to our line.
  std::string line;
  do {
    SPARSYNC_RETURN_IF_ERROR(u->read_line(&line, "preparing the upload"));
  } while (line.rfind(kReadyMarker, 0) != 0);
  std::string rest = line.substr(std::string(kReadyMarker).size());
  size_t space = rest.find(' ');
  std::string arch = rest.substr(0, space);
  u->dir_ = space == std::string::npos ? "" : rest.substr(space + 1);
  if (u->dir_.empty() || u->dir_[0] != '/') {
    return Status(ErrorKind::kConnection, "preparing the upload on " + host + " gave no directory: " + printable(line));
  }
  if (arch != machine) {
    return Status(ErrorKind::kConnection, host + " is " + printable(arch) + " and this sparsync is built for " +
                                              machine + ", so it cannot be uploaded (" + why +
                                              "); install sparsync there or give its path with --remote-path");
  }
  log::info(why + "; uploading this sparsync (" + format_bytes(size) + ") to " + host + ":" + u->binary() +
            " for this run");
  std::vector<char> buf(size_t{256} * 1024);
  for (uint64_t sent = 0; sent < size;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return errno_status(ErrorKind::kInternal, "reading this sparsync to upload it", n < 0 ? errno : EIO);
    // Blocking writes: the far shell reads all of it before it writes again.
    for (ssize_t off = 0; off < n;) {
      int w = ssh_channel_write(u->ch_, buf.data() + off, static_cast<uint32_t>(n - off));
      if (w <= 0) return u->failure("uploading sparsync to " + host + ":" + u->binary());
      off += w;
    }
    sent += static_cast<uint64_t>(n);
  }
  do {
    SPARSYNC_RETURN_IF_ERROR(u->read_line(&line, "uploading sparsync to " + host + ":" + u->binary()));
  } while (line != kCopiedMarker);
  return u;
}

// One line of the shell's stdout, within the session's timeout; its stderr
// is kept for messages. The shell ending first is a failure.
Status RemoteUpload::read_line(std::string* line, const std::string& what) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(c_.io_timeout_seconds());
  std::vector<char> buf(size_t{16} * 1024);
  for (;;) {
    size_t nl = out_.find('\n');
    if (nl != std::string::npos) {
      *line = out_.substr(0, nl);
      out_.erase(0, nl + 1);
      return Status::ok();
    }
    if (out_.size() > kOutputCap || std::chrono::steady_clock::now() > deadline) {
      return Status(ErrorKind::kConnection, what + " on " + c_.peer_name() + ": no answer from the far shell");
    }
    int e = ssh_channel_read_nonblocking(ch_, buf.data(), static_cast<uint32_t>(buf.size()), 1);
    if (e > 0 && err_.size() < kOutputCap) err_.append(buf.data(), static_cast<size_t>(e));
    int n = ssh_channel_read_timeout(ch_, buf.data(), static_cast<uint32_t>(buf.size()), 0, 200);
    if (n > 0) out_.append(buf.data(), static_cast<size_t>(n));
    if (n == SSH_ERROR || (n <= 0 && e <= 0 && (ssh_channel_is_eof(ch_) != 0 || ssh_channel_is_closed(ch_) != 0))) {
      return failure(what);
    }
  }
}

// The shell ended (or the link did): its exit status and stderr say why.
Status RemoteUpload::failure(const std::string& what) {
  if (ssh_is_connected(c_.session()) == 0) {
    return Status(ErrorKind::kConnection, "lost the connection to " + c_.peer_name() + " while " + what);
  }
  std::vector<char> buf(size_t{16} * 1024);
  for (int i = 0; i < 50 && ssh_channel_is_eof(ch_) == 0 && ssh_channel_is_closed(ch_) == 0; ++i) {
    (void)ssh_channel_read_timeout(ch_, buf.data(), static_cast<uint32_t>(buf.size()), 1, 100);
  }
  int e = 0;
  while ((e = ssh_channel_read_nonblocking(ch_, buf.data(), static_cast<uint32_t>(buf.size()), 1)) > 0) {
    if (err_.size() < kOutputCap) err_.append(buf.data(), static_cast<size_t>(e));
  }
  int code = ssh_channel_is_eof(ch_) != 0 || ssh_channel_is_closed(ch_) != 0 ? ssh_channel_get_exit_status(ch_) : -1;
  return Status(ErrorKind::kConnection,
                what + " failed (exit " + std::to_string(code) + "): " + printable(first_line(err_)));
}

void RemoteUpload::release() {
  if (ch_ == nullptr) return;
  ssh_session s = c_.session();
  bool ended = ssh_channel_is_closed(ch_) != 0;
  if (!ended && ssh_is_connected(s) != 0) {
    (void)ssh_channel_send_eof(ch_);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(kReleaseSeconds);
    std::vector<char> buf(size_t{16} * 1024);
    while (std::chrono::steady_clock::now() < deadline && ssh_is_connected(s) != 0 && ssh_channel_is_eof(ch_) == 0 &&
           ssh_channel_is_closed(ch_) == 0) {
      if (ssh_channel_read_timeout(ch_, buf.data(), static_cast<uint32_t>(buf.size()), 0, 200) == SSH_ERROR) break;
      (void)ssh_channel_read_nonblocking(ch_, buf.data(), static_cast<uint32_t>(buf.size()), 1);
    }
    ended = ssh_channel_is_eof(ch_) != 0 || ssh_channel_is_closed(ch_) != 0;
    // Waiting for the exit status is bounded by the session timeout, and
    // follows the shell's EOF at once.
    int code = ended ? ssh_channel_get_exit_status(ch_) : -1;
    if (ssh_is_connected(s) != 0 && (!ended || code == kNotRemoved)) {
      log::error("could not remove the uploaded sparsync in " + c_.peer_name() + ":" + dir_ + "; remove it by hand");
    }
  }
  ssh_channel_close(ch_);
  ssh_channel_free(ch_);
  ch_ = nullptr;
}

RemoteUpload::~RemoteUpload() { release(); }

Result<std::unique_ptr<RemoteUpload>> upload_this_binary(SshConnection& c, const std::string& why) {
  struct utsname u;
  if (::uname(&u) != 0) return errno_status(ErrorKind::kInternal, "uname", errno);
  UniqueFd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (!self.valid()) return errno_status(ErrorKind::kInternal, "opening /proc/self/exe to upload it", errno);
  struct stat st;
  if (::fstat(self.get(), &st) != 0) return errno_status(ErrorKind::kInternal, "fstat /proc/self/exe", errno);
  return RemoteUpload::start(c, self.get(), static_cast<uint64_t>(st.st_size), u.machine, why);
}

}  // namespace sparsync
