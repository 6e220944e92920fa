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
// both's commands). They share an NbdPollGate, so that when one gives up
// the other stops polling too, at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

#include "source/nbd_library.h"

namespace sparsync {

enum class NbdWaitResult {
  kDone,      // the command completed (or the handle connected)
  kFailed,    // libnbd reports an error: nbd_get_error() says which
  kTimedOut,  // nothing from the server for the whole timeout
};

// What every wait on one handle shares. Polls run under its lock, and a
// wait that gives up closes the gate under that lock: once it has, no poll
// is running or will run, so whatever the other waits' callers hand to
// libnbd (buffers, callback data on their stacks) can be dropped safely.
class NbdPollGate {
 public:
  // True once a wait gave up: the handle is never polled again.
  bool closed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return closed_;
  }

 private:
  friend class NbdWait;
  mutable std::mutex mutex_;
  bool closed_ = false;
};

class NbdWait {
 public:
  // `timeout`: how long the server may answer nothing; zero waits for ever.
  NbdWait(const NbdLibrary& lib, nbd_handle* h, NbdPollGate& gate, std::chrono::milliseconds timeout)
      : lib_(lib), h_(h), gate_(gate), timeout_(timeout) {}

  // The command `cookie` (from an nbd_aio_* call) completed. kTimedOut also
  // when another wait on the handle gave up first.
  NbdWaitResult command(int64_t cookie);
  // A connection started by nbd_aio_connect_* finished its handshake.
  NbdWaitResult connected();
  // Asks the server to close (NBD_CMD_DISC) and waits up to `limit` for it
  // to; false when it did not, or could not be asked.
  bool disconnected(std::chrono::milliseconds limit);

 private:
  // One slice of polling; kDone when it made progress or may go on. Past
  // `deadline` it closes the gate: kTimedOut, as when it finds it closed.
  // `answered` (may be null): set when a reply came in during the slice.
  NbdWaitResult poll_until(std::chrono::steady_clock::time_point deadline, bool* answered);

  const NbdLibrary& lib_;
  nbd_handle* h_;
  NbdPollGate& gate_;
  std::chrono::milliseconds timeout_;
};

}  // namespace sparsync
