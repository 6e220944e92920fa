// WriteBehind: keeps the page cache from piling up a whole image's worth of
// dirty data for the final fdatasync. Without it a first clone of a dense
// image writes everything at the end: the wire finishes, then the disk starts
// (1 GiB here: 2.5 s of wire, then 0.5 s of flush). Every `window` bytes
// written, it starts writeback of that window and waits for the window
// before it, which had a whole window's transfer time to finish; so the disk
// works while the wire does, the final flush has at most two windows left,
// and a disk slower than the wire slows the sender instead of filling memory.
// Only hints (Device::start_writeback): durability still comes from sync().
// Thread-safety: one thread (the applier).
#pragma once

#include <cstdint>

#include "common/device.h"

namespace sparsync {

class WriteBehind {
 public:
  static constexpr uint64_t kDefaultWindow = 32ull << 20;

  explicit WriteBehind(Device* device, uint64_t window = kDefaultWindow) : device_(device), window_(window) {}

  // After a write of [offset, offset + length).
  void wrote(uint64_t offset, uint64_t length);
  // After sync(): nothing is left to start or wait for.
  void synced();

 private:
  struct Range {
    uint64_t begin = 0, end = 0;
    bool empty() const { return end <= begin; }
  };
  Device* device_;
  uint64_t window_;
  Range pending_;  // written since the last start, not yet started
  uint64_t pending_bytes_ = 0;
  Range started_;  // started, not yet waited for
};

}  // namespace sparsync
