// What both sides agreed on after HELLO and OPEN, and the counters each side
// keeps. Plain data. Thread-safety: SyncStats fields are written by one thread.
#pragma once

#include <cstdint>

#include "common/proto/protocol_constants.h"

namespace sparsync {

struct SessionParams {
  uint64_t image_size = 0;  // the source's size; the target ends at this size
  uint32_t block_size = 0;
  proto::HashKind hash_kind = proto::HashKind::kXxh3_128;
  bool dry_run = false;
  bool verify = false;  // exchange SHA-256 digests after SUMMARY

  bool operator==(const SessionParams&) const = default;

  uint64_t total_blocks() const { return (image_size + block_size - 1) / block_size; }
  uint64_t block_offset(uint64_t block) const { return block * block_size; }
  // Length of block `block`; only the last block may be short.
  uint32_t block_length(uint64_t block) const {
    uint64_t off = block_offset(block);
    uint64_t left = image_size - off;
    return left < block_size ? static_cast<uint32_t>(left) : block_size;
  }
};

// Figures of one run, filled from the source's DONE and the target's SUMMARY.
struct SyncStats {
  uint64_t bytes_scanned = 0;     // the image size covered by the comparison
  uint64_t bytes_read = 0;        // source bytes actually read (holes are not)
  uint64_t data_bytes = 0;        // bytes sent in DATA frames
  uint64_t hole_bytes = 0;        // bytes sent as HOLE ranges
  uint64_t unchanged_blocks = 0;  // blocks equal on both sides (incl. zero=zero)
  uint64_t changed_blocks = 0;    // blocks that needed DATA or HOLE
  uint64_t target_bytes_hashed = 0;
  uint64_t target_bytes_written = 0;
  uint64_t target_bytes_zeroed = 0;
  proto::ZeroMethod zero_method = proto::ZeroMethod::kNone;
  uint64_t wire_bytes_out = 0;  // frames this process wrote
  uint64_t wire_bytes_in = 0;   // frames this process read
  uint64_t resumed_from = 0;    // offset the run started at (0: from the start)
  uint64_t checkpoints = 0;     // checkpoints the target acknowledged
  // Where the target's checkpoint record stands as far as this side knows
  // (the resume point, or the last checkpoint acknowledged or recorded).
  uint64_t durable_offset = 0;
  // The target's undo journal (docs/undo-journal.md) when the run ended: its
  // size (0: none), and how many generations the target keeps now.
  uint64_t undo_bytes = 0;
  uint32_t generations_kept = 0;
};

}  // namespace sparsync
