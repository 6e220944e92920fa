// FrameOutbox: the target's single way out. One writer thread drains it to
// the peer, so the threads that produce frames never block on the wire
// themselves. Bulk frames (HASH batches) are bounded; control frames (ACK,
// SUMMARY, ERROR) never block their sender. That split is what rules out the
// deadlock where the applier waits to send an ACK behind hash frames the
// source cannot take because it is itself blocked sending DATA to the
// applier.
// Thread-safety: fully thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "common/frame_io.h"

namespace sparsync {

class FrameOutbox {
 public:
  FrameOutbox(FrameWriter& out, size_t max_bulk);
  ~FrameOutbox();

  void start();
  // Blocks while max_bulk bulk frames are queued. Returns false once closed.
  bool push_bulk(Frame frame);
  void push_control(Frame frame);
  // For ERROR: the last frame. Everything queued and everything pushed
  // later is dropped (the peer must learn why we stop, and nothing after).
  void push_urgent(Frame frame);
  // Writes what is queued, then stops the writer; returns the first write error.
  Status close_and_flush();

 private:
  void run();

  FrameWriter& out_;
  const size_t max_bulk_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::pair<Frame, bool>> frames_;  // (frame, is_bulk)
  size_t bulk_ = 0;
  bool closed_ = false;
  bool broken_ = false;
  bool bulk_closed_ = false;
  Status status_;
  std::thread thread_;
};

}  // namespace sparsync
