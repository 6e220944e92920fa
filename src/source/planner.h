// The planner: pure decision of what to send for a run of blocks, given what
// the source holds and what the target reported. No I/O, no threads; the
// sender feeds it one piece at a time (a piece lies inside one source chunk
// and one target report), and it appends coalesced operations.
//
//   source hole or zero block, target zero      -> unchanged (nothing sent)
//   source hole or zero block, target has data  -> HOLE
//   source data, target zero                    -> DATA
//   source data, digest equal                   -> unchanged
//   source data, digest differs                 -> DATA
#pragma once

#include <cstdint>
#include <vector>

#include "common/session.h"

namespace sparsync {

struct SourcePiece {
  uint64_t offset = 0;            // byte offset, block-aligned
  uint64_t length = 0;            // bytes; whole blocks except at the image end
  const uint8_t* data = nullptr;  // nullptr: a hole in the source file
};

struct TargetPiece {
  bool zero = false;                 // the target reads as zeros here
  const uint8_t* digests = nullptr;  // one digest per block when !zero
};

enum class OpKind : uint8_t { kData, kHole };

struct PlanOp {
  OpKind kind = OpKind::kData;
  uint64_t offset = 0;
  uint64_t length = 0;
};

struct PlanCounts {
  uint64_t unchanged_blocks = 0;
  uint64_t changed_blocks = 0;
};

// Appends to *ops, merging with the last op when adjacent and of the same kind.
void plan_piece(const SessionParams& params, const SourcePiece& source, const TargetPiece& target,
                std::vector<PlanOp>* ops, PlanCounts* counts);

}  // namespace sparsync
