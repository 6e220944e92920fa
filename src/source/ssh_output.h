// The pump runs libssh non-blocking, so a channel write within its window
// returns at once and whatever the socket does not take waits in libssh's
// output buffer. With lanes the windows add up to N x 2 MiB, and a buffer
// that size per run is memory for nothing: the kernel's socket buffer is
// queue enough. So the pump writes only while libssh holds nothing back.
// Thread-safety: the thread that owns the session.
#pragma once

#include <libssh/libssh.h>

namespace sparsync {

// Tries to flush without waiting; true when libssh's output is empty.
inline bool ssh_output_drained(ssh_session session) {
  if ((ssh_get_poll_flags(session) & SSH_WRITE_PENDING) == 0) return true;
  (void)ssh_blocking_flush(session, 0);
  return (ssh_get_poll_flags(session) & SSH_WRITE_PENDING) == 0;
}

}  // namespace sparsync
