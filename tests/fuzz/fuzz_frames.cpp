// libFuzzer target: the frame header and every message decoder of
// src/common/{frame_codec,messages}.h on arbitrary bytes. The first 8 bytes
// are a frame header, the rest its payload (the corpus files are whole
// frames); every decoder sees the payload whatever the header says, and a
// message that decodes must encode back to bytes that decode to it again.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/proto/frame_codec.h"
#include "common/proto/messages.h"

namespace {

using namespace sparsync::proto;

[[noreturn]] void fail(const char* what) {
  fprintf(stderr, "fuzz_frames: %s\n", what);
  abort();
}

// decode -> encode -> decode gives the same bytes.
template <typename M>
void round_trip(const std::vector<uint8_t>& payload) {
  M m;
  if (!decode(payload, &m).is_ok()) return;
  std::vector<uint8_t> again = encode(m);
  M m2;
  if (!decode(again, &m2).is_ok()) fail("a decoded message does not decode after encoding");
  if (encode(m2) != again) fail("encoding is not stable");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size >= kFrameHeaderSize) {
    FrameHeader h;
    if (decode_header(data, &h).is_ok()) {
      if (h.length > kMaxPayload) fail("decode_header accepted a length over kMaxPayload");
      uint8_t again[kFrameHeaderSize];
      encode_header(h.type, h.length, again);
      if (std::memcmp(again, data, kFrameHeaderSize) != 0) fail("header does not round-trip");
    }
    data += kFrameHeaderSize;
    size -= kFrameHeaderSize;
  }
  const std::vector<uint8_t> payload(data, data + size);
  round_trip<Hello>(payload);
  round_trip<Open>(payload);
  round_trip<OpenOk>(payload);
  round_trip<Lanes>(payload);
  round_trip<LanesStart>(payload);
  round_trip<LanePreamble>(payload);
  round_trip<Resume>(payload);
  round_trip<Rollback>(payload);
  round_trip<RollbackDone>(payload);
  round_trip<HashZero>(payload);
  round_trip<HashEnd>(payload);
  round_trip<Hole>(payload);
  round_trip<Checkpoint>(payload);
  round_trip<Ack>(payload);
  round_trip<Stop>(payload);
  round_trip<Keepalive>(payload);
  round_trip<Done>(payload);
  round_trip<Summary>(payload);
  round_trip<VerifyDigests>(payload);
  round_trip<VerifyEnd>(payload);
  round_trip<Error>(payload);
  for (size_t hash_len : {size_t{16}, size_t{32}}) {
    Hash m;
    if (decode(payload, hash_len, &m).is_ok() && m.digests.size() != m.count * hash_len) {
      fail("HASH digests do not match count");
    }
  }
  DataView d;
  if (decode(payload, &d).is_ok()) {
    if (d.length > kMaxDataPerFrame) fail("DATA longer than kMaxDataPerFrame accepted");
    // The view must lie inside the payload.
    if (d.length > 0 && (d.bytes < payload.data() || d.bytes + d.length > payload.data() + payload.size())) {
      fail("DATA view outside the payload");
    }
    volatile uint8_t sink = 0;
    for (uint32_t i = 0; i < d.length; ++i) sink = static_cast<uint8_t>(sink ^ d.bytes[i]);
  }
  return 0;
}
