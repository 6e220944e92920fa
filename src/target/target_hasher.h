// The target's hashing stage: walks its existing blocks in order and reports
// them to the source while the source reads its own side. Runs of zero blocks
// (holes found with SEEK_DATA/SEEK_HOLE, which are never read, and data that
// reads as zeros) go as HASH_ZERO ranges; other blocks as HASH batches.
// A run confined to a change list (PROTOCOL.md §4.19) hashes only the
// listed blocks and reports the others, unread, as HASH_SKIP ranges.
// Thread-safety: run() on its own thread; cancel() from any thread.
#pragma once

#include <atomic>
#include <cstdint>

#include "common/byte_buffer.h"
#include "common/change_list.h"
#include "common/device.h"
#include "common/session.h"
#include "target/frame_outbox.h"

namespace sparsync {

class TargetHasher {
 public:
  // `device` may be null when known_zero (a missing target in a dry run).
  // Reports blocks from `start_offset` (the resume point, block-aligned) on.
  // `only`: the blocks to hash, block-aligned, sorted and apart (null:
  // all); it must outlive the hasher.
  TargetHasher(Device* device, const SessionParams& params, uint64_t start_offset, uint64_t readable_size,
               bool known_zero, FrameOutbox& outbox, const std::vector<ByteRange>* only = nullptr);
  Status run();
  void cancel() { cancelled_.store(true); }
  bool cancelled() const { return cancelled_.load(); }
  uint64_t bytes_read() const { return bytes_read_.load(); }
  uint64_t blocks_hashed() const { return blocks_hashed_.load(); }

 private:
  Status flush_zero();
  Status flush_hashes();
  Status flush_skip();
  Status skip_to(uint64_t end);
  Status hash_span(uint64_t pos, uint64_t end);
  Status hash_data(uint64_t pos, uint64_t end, ByteBuffer& buf);

  Device* device_;
  SessionParams params_;
  uint64_t start_offset_;
  uint64_t readable_size_;
  uint64_t pos_ = 0;  // where the reports have reached
  bool known_zero_;
  FrameOutbox& outbox_;
  const std::vector<ByteRange>* only_;
  ByteBuffer buf_;
  std::atomic<bool> cancelled_{false};
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> blocks_hashed_{0};
  uint64_t zero_first_ = 0, zero_count_ = 0;
  uint64_t skip_first_ = 0, skip_count_ = 0;
  uint64_t hash_first_ = 0;
  uint32_t hash_count_ = 0;
  std::vector<uint8_t> digests_;
};

}  // namespace sparsync
