// The change-list messages of PROTOCOL.md §4.19, beside the others
// (common/proto/messages.h): CHANGES (client to server, after OPEN) and
// HASH_SKIP (target to source). Pure codecs, every length checked.
// Thread-safety: pure functions over value types.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "common/change_list.h"
#include "common/proto/protocol_constants.h"
#include "common/status.h"

namespace sparsync::proto {

using ChangeToken = std::array<uint8_t, kChangeTokenBytes>;

// One frame of a push's change list. `run_token` names this run (the target
// records it when the run completes); `base_token` the completed run the
// list starts from (all zeros: none, and then no ranges). The ranges are
// the blocks the target hashes; sorted, non-overlapping, non-empty.
struct Changes {
  ChangeToken run_token{};
  ChangeToken base_token{};
  uint8_t flags = 0;  // ChangesFlag bits
  std::vector<ByteRange> ranges;
};

// Blocks [first_block, first_block + count) were not read: outside the
// run's change list.
struct HashSkip {
  uint64_t first_block = 0;
  uint64_t count = 0;
};

bool is_zero(const ChangeToken& token);

std::vector<uint8_t> encode(const Changes& m);
std::vector<uint8_t> encode(const HashSkip& m);
Status decode(std::span<const uint8_t> payload, Changes* m);
Status decode(std::span<const uint8_t> payload, HashSkip* m);

// A whole change list as CHANGES frames: as few as the per-frame bound
// allows, all but the last with kChangesMore; one frame when it is empty.
std::vector<Changes> split_changes(const ChangeToken& run, const ChangeToken& base,
                                   const std::vector<ByteRange>& ranges);

}  // namespace sparsync::proto
