// A push's change list on the wire (PROTOCOL.md §4.19): the client sends
// its CHANGES frames right behind OPEN, without waiting for OPEN_OK; the
// server reads them all before it opens the target, checking every bound
// (a hostile client cannot make it hold more than kMaxChangeRanges ranges).
// Thread-safety: plain functions.
#pragma once

#include <string>

#include "common/change_list.h"
#include "common/frame_io.h"
#include "common/proto/change_messages.h"

namespace sparsync {

struct ReceivedChanges {
  std::string run_token;   // 16 bytes
  std::string base_token;  // 16 bytes, or "" when CHANGES named no base run
  // The listed ranges widened to whole blocks and clipped to the image.
  ChangeList ranges{proto::kMaxChangeRanges};
};

Status send_changes(FrameWriter& out, const proto::ChangeToken& run, const proto::ChangeToken& base,
                    const ChangeList& ranges);

Status receive_changes(FrameReader& in, uint64_t image_size, uint32_t block_size, ReceivedChanges* changes);

std::string token_bytes(const proto::ChangeToken& token);

}  // namespace sparsync
