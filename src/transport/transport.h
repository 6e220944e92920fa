// Transport: how the client reaches the server side. Every transport ends up
// as a pair of file descriptors carrying the framed protocol, so the engines
// never know whether the far side is a local child over pipes or a process on
// another host behind an SSH channel.
// Thread-safety: read_fd and write_fd are used by different threads; the
// other calls from the owning thread.
#pragma once

#include <string>

#include "common/frame_io.h"
#include "common/handshake.h"
#include "common/status.h"

namespace sparsync {

class Transport {
 public:
  virtual ~Transport() = default;
  virtual int read_fd() = 0;
  virtual int write_fd() = 0;
  // HELLO (PROTOCOL.md §3): the feature bits both sides agreed on. The
  // default exchanges it now over the stream; the SSH transport already did
  // while starting, because the answer is how it learns whether the far
  // host has a sparsync speaking this protocol, so it returns what it learned.
  virtual Status hello(FrameReader& in, FrameWriter& out, uint64_t* features) {
    return client_hello(in, out, features);
  }
  // Lanes (PROTOCOL.md §4.15): how many channels this transport can carry a
  // push's stream over; below 2, the stream stays on read_fd/write_fd.
  virtual int lane_capacity() const { return 0; }
  // Connects `count` lanes to the socket the server offered and returns the
  // fd the rest of the client's stream is written to (the transport owns
  // it). A failure leaves the session usable on one stream.
  virtual Result<int> open_lanes(const proto::Lanes& /*offer*/, uint16_t /*count*/) {
    return Status(ErrorKind::kInternal, "this transport has no lanes");
  }
  // Signals end of stream to the server (it exits after a finished session).
  virtual void close_write() = 0;
  // Waits for the server to end and reports how it ended: a non-zero exit or
  // a signal is an error even if the session looked finished.
  virtual Status finish() = 0;
  // Ends the server without waiting for it to finish: after a timeout (it
  // may be hung) or an interrupt (its last word is not worth a wait).
  virtual void abandon() = 0;
  // "local" or the host name, for messages.
  virtual std::string peer_name() const = 0;
};

}  // namespace sparsync
