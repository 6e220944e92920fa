// The target's hashing stage: walks its existing blocks in order and reports
// them to the source while the source reads its own side. Runs of zero blocks
// (holes found with SEEK_DATA/SEEK_HOLE, which are never read, and data that
// reads as zeros) go as HASH_ZERO ranges; other blocks as HASH batches.
// Thread-safety: run() on its own thread; cancel() from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "common/byte_buffer.h"
#include "common/device.h"
#include "common/session.h"
#include "target/frame_outbox.h"

namespace sparsync {

class TargetHasher {
 public:
  // `device` may be null when known_zero (a missing target in a dry run).
  // Reports blocks from `start_offset` (the resume point, block-aligned) on.
  TargetHasher(Device* device, const SessionParams& params, uint64_t start_offset, uint64_t readable_size,
               bool known_zero, FrameOutbox& outbox);
  Status run();
  void cancel() { cancelled_.store(true); }
  uint64_t bytes_read() const { return bytes_read_.load(); }
  uint64_t blocks_hashed() const { return blocks_hashed_.load(); }

 private:
  Status flush_zero();
  Status flush_hashes();
  Status hash_data(uint64_t pos, uint64_t end, ByteBuffer& buf);

  Device* device_;
  SessionParams params_;
  uint64_t start_offset_;
  uint64_t readable_size_;
  bool known_zero_;
  FrameOutbox& outbox_;
  std::atomic<bool> cancelled_{false};
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> blocks_hashed_{0};
  uint64_t zero_first_ = 0, zero_count_ = 0;
  uint64_t hash_first_ = 0;
  uint32_t hash_count_ = 0;
  std::vector<uint8_t> digests_;
};

}  // namespace sparsync
