#include "common/proto/frame_codec.h"

#include <cstdio>
#include <string>

namespace sparsync::proto {

void encode_header(MsgType type, uint32_t length, uint8_t out[kFrameHeaderSize]) {
  out[0] = static_cast<uint8_t>(type);
  out[1] = out[2] = out[3] = 0;
  for (int i = 0; i < 4; ++i) out[4 + i] = static_cast<uint8_t>(length >> (8 * i));
}

static bool known_type(uint8_t t) {
  switch (static_cast<MsgType>(t)) {
    case MsgType::kHello:
    case MsgType::kOpen:
    case MsgType::kOpenOk:
    case MsgType::kLanes:
    case MsgType::kLanesStart:
    case MsgType::kRollback:
    case MsgType::kRollbackDone:
    case MsgType::kChanges:
    case MsgType::kHashSkip:
    case MsgType::kHash:
    case MsgType::kHashZero:
    case MsgType::kHashEnd:
    case MsgType::kResume:
    case MsgType::kVerifyDigests:
    case MsgType::kVerifyEnd:
    case MsgType::kData:
    case MsgType::kHole:
    case MsgType::kDataZstd:
    case MsgType::kCheckpoint:
    case MsgType::kAck:
    case MsgType::kStop:
    case MsgType::kDone:
    case MsgType::kSummary:
    case MsgType::kKeepalive:
    case MsgType::kError:
      return true;
  }
  return false;
}

Status decode_header(const uint8_t in[kFrameHeaderSize], FrameHeader* out) {
  if (!known_type(in[0])) {
    char hex[8];
    std::snprintf(hex, sizeof(hex), "0x%02x", in[0]);
    return Status(ErrorKind::kProtocol, std::string("peer sent a frame of unknown type ") + hex +
                                            " (garbage on the stream, or a newer protocol)");
  }
  if (in[1] != 0 || in[2] != 0 || in[3] != 0) {
    return Status(ErrorKind::kProtocol, "peer sent a frame header with non-zero reserved bytes");
  }
  uint32_t length = 0;
  for (int i = 0; i < 4; ++i) length |= static_cast<uint32_t>(in[4 + i]) << (8 * i);
  if (length > kMaxPayload) {
    return Status(ErrorKind::kProtocol, "peer sent an oversized frame (" + std::to_string(length) + " bytes, limit " +
                                            std::to_string(kMaxPayload) + ")");
  }
  out->type = static_cast<MsgType>(in[0]);
  out->length = length;
  return Status::ok();
}

}  // namespace sparsync::proto
