#include "target/write_behind.h"

#include <algorithm>

namespace sparsync {

void WriteBehind::wrote(uint64_t offset, uint64_t length) {
  if (length == 0 || device_ == nullptr) return;
  if (pending_.empty()) {
    pending_ = {offset, offset + length};
  } else {
    // Writes come in offset order; a range that spans a few unwritten pages
    // costs sync_file_range nothing, so a min/max hull is all it needs.
    pending_.begin = std::min(pending_.begin, offset);
    pending_.end = std::max(pending_.end, offset + length);
  }
  pending_bytes_ += length;
  if (pending_bytes_ < window_) return;
  if (!started_.empty()) device_->wait_writeback(started_.begin, started_.end - started_.begin);
  device_->start_writeback(pending_.begin, pending_.end - pending_.begin);
  started_ = pending_;
  pending_ = {};
  pending_bytes_ = 0;
}

void WriteBehind::synced() {
  pending_ = {};
  started_ = {};
  pending_bytes_ = 0;
}

}  // namespace sparsync
