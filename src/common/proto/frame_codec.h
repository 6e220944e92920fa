// The frame header of proto/PROTOCOL.md §2: type u8, three zero bytes,
// payload length u32 little-endian. Pure functions; no I/O.
#pragma once

#include <cstdint>

#include "common/proto/protocol_constants.h"
#include "common/status.h"

namespace sparsync::proto {

struct FrameHeader {
  MsgType type = MsgType::kError;
  uint32_t length = 0;
};

void encode_header(MsgType type, uint32_t length, uint8_t out[kFrameHeaderSize]);

// Rejects unknown types, non-zero reserved bytes and lengths over kMaxPayload,
// before the caller allocates anything for the payload.
Status decode_header(const uint8_t in[kFrameHeaderSize], FrameHeader* out);

}  // namespace sparsync::proto
