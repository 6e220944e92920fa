// Heartbeat: keeps the peer's idle timeout from firing while this side is
// alive but has nothing to say (PROTOCOL.md §4.16). A healthy side can be
// quiet for a long time: a dry-run source sends nothing until DONE, a
// target's fdatasync or --verify hashing can take minutes, a source may read
// a long unchanged stretch, --bwlimit pauses. So a thread of its own writes a
// KEEPALIVE whenever the stream has carried nothing for a quarter of the
// peer's timeout. It owns nothing else, and it never waits on another
// writer: a stream someone is writing to is not idle (FrameWriter says how).
// Thread-safety: start/stop from the owning thread; the writer is shared.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "common/frame_io.h"

namespace sparsync {

class Heartbeat {
 public:
  // `own_timeout` is announced in every KEEPALIVE, and stands in for the
  // peer's timeout until the peer has announced its own in `peer`.
  Heartbeat(FrameWriter& out, uint32_t own_timeout, const PeerTimeout& peer);
  ~Heartbeat();
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

  void start();
  // Returns once no KEEPALIVE can be written any more.
  void stop();

  // The interval for a peer timeout: a quarter of it, so a keepalive that
  // waits a tick behind the clock still arrives with most of it to spare.
  static std::chrono::milliseconds interval_for(uint32_t timeout_seconds);

 private:
  void run();

  FrameWriter& out_;
  const uint32_t own_timeout_;
  const PeerTimeout& peer_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sparsync
