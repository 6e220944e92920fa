// Bounded waits on a libnbd handle. libnbd's synchronous calls (nbd_pread,
// nbd_block_status, nbd_connect_uri, nbd_shutdown) wait as long as the
// server takes: for ever, for a server that stopped answering (a stopped
// qemu-nbd, a VM's export whose host hangs). A cron job must not hang with
// it, so sparsync starts each command with its aio form and polls the handle
// here, giving up when the server has answered nothing for the run's
// --timeout.
// After a wait gave up, the handle must not be polled again: a late reply
// would land in a buffer or callback data its caller has already dropped.
// Thread-safety: libnbd serialises calls on one handle; two threads may wait
// on it at once (each polls in short slices, and either's poll completes
// both's commands).
#pragma once

#include <chrono>
#include <cstdint>

#include "source/nbd_library.h"

namespace sparsync {

enum class NbdWaitResult {
  kDone,      // the command completed (or the handle connected)
  kFailed,    // libnbd reports an error: nbd_get_error() says which
  kTimedOut,  // nothing from the server for the whole timeout
};

class NbdWait {
 public:
  // `timeout`: how long the server may answer nothing; zero waits for ever.
  NbdWait(const NbdLibrary& lib, nbd_handle* h, std::chrono::milliseconds timeout)
      : lib_(lib), h_(h), timeout_(timeout) {}

  // The command `cookie` (from an nbd_aio_* call) completed.
  NbdWaitResult command(int64_t cookie);
  // A connection started by nbd_aio_connect_* finished its handshake.
  NbdWaitResult connected();
  // Asks the server to close (NBD_CMD_DISC) and waits up to `limit` for it
  // to; false when it did not, or could not be asked.
  bool disconnected(std::chrono::milliseconds limit);

 private:
  // One slice of polling; kDone when it made progress or may go on.
  NbdWaitResult poll_until(std::chrono::steady_clock::time_point deadline);

  const NbdLibrary& lib_;
  nbd_handle* h_;
  std::chrono::milliseconds timeout_;
};

}  // namespace sparsync
