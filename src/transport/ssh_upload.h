// RemoteUpload: this very binary, copied to the far host for one run (when
// it has no sparsync of our protocol version), in a private directory that
// one far shell holds from its creation to the end of the run.
//
// That shell makes the directory (`mktemp -d` in $TMPDIR or /tmp), says
// where and on what machine, receives exactly the binary's size in bytes
// on its stdin, and then waits for its stdin to close. However it ends, its
// EXIT trap removes the directory: a copy cut short (a dropped link), a
// client that dies or is killed at any point (sshd closes the shell's
// stdin), sshd ending the session (HUP/TERM/PIPE are trapped into exit), or
// release() at the end of the run. Only a SIGKILL of that shell escapes the
// trap; the server's own command line removes the directory as well when
// the server ends (transport/ssh_runner.cpp), so both would have to fail.
//
// The directory is fresh and 0700 (mktemp), so no one else can plant a name
// in it; the binary is written there with noclobber (O_EXCL) all the same.
// Thread-safety: uses the connection's session, so the owning thread only,
// and never while a ChannelPump runs on the session. The connection must
// outlive this object.
#pragma once

#include <libssh/libssh.h>

#include <cstdint>
#include <memory>
#include <string>

#include "common/status.h"
#include "transport/ssh_connection.h"

namespace sparsync {

class RemoteUpload {
 public:
  // Starts the holding shell on `c`, refuses a far machine other than
  // `machine` (uname -m) and copies `size` bytes of `fd` there. `why` says
  // why an upload is needed, for the messages.
  static Result<std::unique_ptr<RemoteUpload>> start(SshConnection& c, int fd, uint64_t size,
                                                     const std::string& machine, const std::string& why);
  ~RemoteUpload();  // release()
  RemoteUpload(const RemoteUpload&) = delete;
  RemoteUpload& operator=(const RemoteUpload&) = delete;

  const std::string& dir() const { return dir_; }
  std::string binary() const { return dir_ + "/sparsync"; }

  // Closes the holding shell's stdin and waits (bounded) until it has
  // removed the directory and ended. Idempotent.
  void release();

 private:
  explicit RemoteUpload(SshConnection& c) : c_(c) {}
  Status read_line(std::string* line, const std::string& what);
  Status failure(const std::string& what);

  SshConnection& c_;
  ssh_channel ch_ = nullptr;
  std::string dir_;
  std::string out_;  // stdout not yet consumed as lines
  std::string err_;  // the shell's stderr, capped, for messages
};

// Copies /proc/self/exe to the far host, as above; `why` as for start.
Result<std::unique_ptr<RemoteUpload>> upload_this_binary(SshConnection& c, const std::string& why);

// The command the holding shell runs, for `size` bytes (public for tests).
std::string upload_holder_command(uint64_t size);

}  // namespace sparsync
