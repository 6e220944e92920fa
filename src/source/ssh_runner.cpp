#include "source/ssh_runner.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <cerrno>
#include <sstream>
#include <vector>

#include "common/log.h"
#include "common/protocol_constants.h"
#include "common/unique_fd.h"
#include "common/units.h"
#include "source/ssh_connection.h"
#include "source/ssh_exec.h"
#include "source/ssh_transport.h"

namespace sparsync {
namespace {

enum class Found { kReady, kMissing, kOtherVersion };

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  size_t e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool contains(const std::string& haystack, const char* needle) { return haystack.find(needle) != std::string::npos; }

std::string command_for(const SshOptions& o, const std::string& binary, const char* args) {
  return std::string(o.sudo ? "sudo -n " : "") + shell_quote(binary) + " " + args;
}

// Asks the far sparsync for its version rather than waiting for HELLO to
// fail: a clean answer before any session starts, and the same question
// tells a missing binary, a sudo that wants a password and an old version apart.
Result<Found> probe(SshConnection& c, const std::string& binary, std::string* seen) {
  const SshOptions& o = c.options();
  std::string cmd = command_for(o, binary, "--version");
  auto run = ssh_exec(c, cmd);
  if (!run.is_ok()) return run.status();
  const ExecResult& r = run.value();
  const std::string& host = c.peer_name();
  if (o.sudo && (contains(r.err, "password is required") || contains(r.err, "terminal is required"))) {
    return Status(ErrorKind::kConnection, "sudo on " + host + " wants a password (" + trim(first_line(r.err)) +
                                              "); allow " + c.destination() +
                                              " to run sparsync with NOPASSWD there, or drop --sudo");
  }
  if (o.sudo && r.exit_status == 127 && contains(r.err, "sudo")) {
    return Status(ErrorKind::kConnection, "sudo is not installed on " + host + " (" + trim(first_line(r.err)) +
                                              "); install it or connect as a user who may write the target");
  }
  if (r.exit_status == 127 || r.exit_status == 126 || contains(r.err, "command not found")) {
    *seen = trim(first_line(r.err));
    return Found::kMissing;
  }
  if (r.exit_status != 0) {
    return Status(ErrorKind::kConnection, "'" + cmd + "' on " + host + " failed (exit " +
                                              std::to_string(r.exit_status) + "): " + trim(first_line(r.err)));
  }
  *seen = trim(first_line(r.out));
  std::string mine = "(protocol " + std::to_string(proto::kProtocolVersion) + ")";
  return contains(r.out, mine.c_str()) ? Found::kReady : Found::kOtherVersion;
}

// Copies /proc/self/exe to a fresh `mktemp -d` directory on the far host and
// returns that directory.
Result<std::string> upload_self(SshConnection& c, const std::string& why) {
  const std::string& host = c.peer_name();
  struct utsname u;
  if (::uname(&u) != 0) return errno_status(ErrorKind::kInternal, "uname", errno);
  UniqueFd self(::open("/proc/self/exe", O_RDONLY | O_CLOEXEC));
  if (!self.valid()) return errno_status(ErrorKind::kInternal, "opening /proc/self/exe to upload it", errno);
  struct stat st;
  uint64_t size = ::fstat(self.get(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  // One round trip for both questions: every exec costs a login shell there.
  std::string cmd = "uname -m && mktemp -d \"${TMPDIR:-/tmp}/sparsync.XXXXXXXXXX\"";
  auto run = ssh_exec(c, cmd);
  if (!run.is_ok()) return run.status();
  // The last two lines: a chatty login script may print before our command.
  std::vector<std::string> lines;
  std::istringstream in(run.value().out);
  for (std::string line; std::getline(in, line);) {
    if (!trim(line).empty()) lines.push_back(trim(line));
  }
  std::string arch = lines.size() >= 2 ? lines[lines.size() - 2] : "";
  std::string dir = lines.empty() ? "" : lines.back();
  if (run.value().exit_status != 0 || dir.empty() || dir[0] != '/') {
    return Status(ErrorKind::kConnection, "'" + cmd + "' on " + host + " failed (exit " +
                                              std::to_string(run.value().exit_status) +
                                              "): " + trim(first_line(run.value().err)));
  }
  if (arch != u.machine) {
    remove_remote_dir(c, dir);
    return Status(ErrorKind::kConnection, host + " is " + arch + " and this sparsync is built for " + u.machine +
                                              ", so it cannot be uploaded (" + why +
                                              "); install sparsync there or give its path with --remote-path");
  }
  std::string path = dir + "/sparsync";
  log::info(why + "; uploading this sparsync (" + format_bytes(size) + ") to " + host + ":" + path +
            " for this run");
  auto copied = ssh_exec(c, "cat > " + shell_quote(path) + " && chmod 700 " + shell_quote(path), self.get());
  Status s = copied.status();
  if (s.is_ok() && (copied.value().exit_status != 0 || !copied.value().stdin_complete)) {
    s = Status(ErrorKind::kConnection, "uploading sparsync to " + host + ":" + path + " failed (exit " +
                                           std::to_string(copied.value().exit_status) +
                                           "): " + trim(first_line(copied.value().err)));
  }
  if (!s.is_ok()) {
    remove_remote_dir(c, dir);
    return s;
  }
  return dir;
}

}  // namespace

Result<std::unique_ptr<Transport>> open_ssh_transport(const SshOptions& options) {
  auto opened = SshConnection::open(options);
  if (!opened.is_ok()) return opened.status();
  std::unique_ptr<SshConnection> c = opened.take();
  const std::string host = c->peer_name();
  std::string seen;
  auto found = probe(*c, options.remote_path, &seen);
  if (!found.is_ok()) return found.status();
  std::string binary = options.remote_path;
  std::string upload_dir;
  if (found.value() != Found::kReady) {
    std::string why = found.value() == Found::kMissing
                          ? host + " has no sparsync at '" + options.remote_path + "'" +
                                (seen.empty() ? "" : " (" + seen + ")")
                          : host + " has " + seen + ", this is sparsync speaking protocol " +
                                std::to_string(proto::kProtocolVersion);
    if (!options.upload) {
      ErrorKind kind = found.value() == Found::kMissing ? ErrorKind::kConnection : ErrorKind::kProtocol;
      return Status(kind, why + "; install the same sparsync there, give its path with --remote-path, or "
                                "drop --no-upload to upload this one for the run");
    }
    auto dir = upload_self(*c, why);
    if (!dir.is_ok()) return dir.status();
    upload_dir = dir.value();
    binary = upload_dir + "/sparsync";
  }
  // On failure the transport (or what start built of it) still removes the upload.
  auto t = SshTransport::start(std::move(c), command_for(options, binary, "--server"), upload_dir);
  if (!t.is_ok()) return t.status();
  return std::unique_ptr<Transport>(t.take());
}

}  // namespace sparsync
