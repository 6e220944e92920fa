// Writing to SSH channels from the pump. The pump runs libssh non-blocking,
// so a channel write within its window returns at once and whatever the
// socket does not take waits in libssh's output buffer. With lanes the
// windows add up to N x 2 MiB, and a buffer that size per run is memory for
// nothing: the kernel's socket buffer is queue enough. So the pump writes
// only while libssh holds nothing back, and never more than the window, so
// a write cannot wait for a window adjust while the far side waits for us.
// Thread-safety: the thread that owns the session.
#pragma once

#include <libssh/libssh.h>

#include <algorithm>

#include "transport/byte_queue.h"

namespace sparsync {

// Tries to flush without waiting; true when libssh's output is empty.
inline bool ssh_output_drained(ssh_session session) {
  if ((ssh_get_poll_flags(session) & SSH_WRITE_PENDING) == 0) return true;
  (void)ssh_blocking_flush(session, 0);
  return (ssh_get_poll_flags(session) & SSH_WRITE_PENDING) == 0;
}

// Writes from `queue` to `channel` as the rules above allow, at most `chunk`
// bytes per call into libssh; never waits. Returns the bytes written, or -1
// when the channel failed (ssh_get_error says why).
inline long write_within_window(ssh_session session, ssh_channel channel, ByteQueue& queue, size_t chunk) {
  long written = 0;
  while (!queue.empty() && ssh_output_drained(session)) {
    size_t n = std::min({queue.size(), static_cast<size_t>(ssh_channel_window_size(channel)), chunk});
    if (n == 0) break;
    int w = ssh_channel_write(channel, queue.data(), static_cast<uint32_t>(n));
    if (w < 0) return -1;
    if (w == 0) break;
    queue.consume(static_cast<size_t>(w));
    written += w;
  }
  return written;
}

}  // namespace sparsync
