// Short helper commands on the far host over their own exec channels, each
// run to completion before returning. (An upload of this binary is not one:
// its shell lives as long as the run, transport/ssh_upload.h.)
// Thread-safety: uses the connection's session; call from its owning thread.
#pragma once

#include <string>

#include "common/status.h"
#include "transport/ssh_connection.h"

namespace sparsync {

struct ExecResult {
  int exit_status = -1;        // -1: none (killed)
  std::string out;             // stdout, capped at 64 KiB
  std::string err;             // stderr, capped at 64 KiB
  bool stdin_complete = true;  // false: the command stopped reading its input
};

// Runs `command`; feeds it the contents of `stdin_fd` first when >= 0, then
// EOF. Fails only when the channel fails, not on a non-zero exit.
Result<ExecResult> ssh_exec(SshConnection& connection, const std::string& command, int stdin_fd = -1);

// First line of `text` without the newline, for one-line messages.
std::string first_line(const std::string& text);

}  // namespace sparsync
