// Helpers for the server fuzz target (fuzz_server.cpp) and its regression
// tests (tests/unit/fuzz_regression_test.cpp): the input is a byte stream of
// frames as a client would send them. confine() keeps the fuzzer's OPEN from
// reaching any file but the fixed ones, and session_seeds() builds whole
// plausible sessions to start mutating from.
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/proto/frame_codec.h"
#include "common/proto/messages.h"

namespace sparsync::fuzz {

// Largest source size an OPEN keeps: the target file is created or extended
// to it, hashed and verified, so it bounds the work per input.
inline constexpr uint64_t kMaxFuzzSourceSize = 4ull << 20;

// Lowest DATA rate cap an OPEN keeps. A pull honours --bwlimit by sleeping
// (that is its job), so a cap of a few bytes per second turned one input
// into a "hang" that stopped the fuzzer; at 1 GiB/s and more the limiter's
// code still runs but a whole source passes in milliseconds.
inline constexpr uint64_t kMinFuzzBwlimit = 1ull << 30;

inline void append_frame(std::vector<uint8_t>* out, proto::MsgType type, const std::vector<uint8_t>& payload) {
  uint8_t h[proto::kFrameHeaderSize];
  proto::encode_header(type, static_cast<uint32_t>(payload.size()), h);
  out->insert(out->end(), h, h + sizeof h);
  out->insert(out->end(), payload.begin(), payload.end());
}

// Walks `data` frame by frame, as the server would read it. Every OPEN that
// decodes gets `target_path` (server is target) or `source_path` (server is
// source), a source size of at most kMaxFuzzSourceSize and a rate cap of 0
// (none) or at least kMinFuzzBwlimit; every LANES_START
// a lane count of 0; everything else, a torn tail included, is copied unchanged.
inline std::vector<uint8_t> confine(const uint8_t* data, size_t size, const std::string& target_path,
                                    const std::string& source_path) {
  std::vector<uint8_t> out;
  out.reserve(size + 64);
  size_t pos = 0;
  while (pos + proto::kFrameHeaderSize <= size) {
    const uint8_t* h = data + pos;
    uint32_t len = static_cast<uint32_t>(h[4]) | static_cast<uint32_t>(h[5]) << 8 | static_cast<uint32_t>(h[6]) << 16 |
                   static_cast<uint32_t>(h[7]) << 24;
    size_t end = pos + proto::kFrameHeaderSize + len;
    if (end > size || end < pos) break;
    proto::Open open;
    std::vector<uint8_t> payload(h + proto::kFrameHeaderSize, data + end);
    if (h[0] == static_cast<uint8_t>(proto::MsgType::kOpen) && proto::decode(payload, &open).is_ok()) {
      open.path = open.role == proto::Role::kServerIsSource ? source_path : target_path;
      open.source_size %= kMaxFuzzSourceSize + 1;
      if (open.bwlimit != 0 && open.bwlimit < kMinFuzzBwlimit) open.bwlimit += kMinFuzzBwlimit;
      std::vector<uint8_t> again = proto::encode(open);
      // Keep the header's reserved bytes as the fuzzer wrote them.
      out.insert(out.end(), h, h + 4);
      uint8_t fresh[proto::kFrameHeaderSize];
      proto::encode_header(proto::MsgType::kOpen, static_cast<uint32_t>(again.size()), fresh);
      out.insert(out.end(), fresh + 4, fresh + 8);
      out.insert(out.end(), again.begin(), again.end());
    } else if (h[0] == static_cast<uint8_t>(proto::MsgType::kLanesStart) && len == 4) {
      // Lanes would wait for connections a memory stream never makes: the
      // count becomes 0, so the offer and answer are fuzzed without the wait.
      out.insert(out.end(), h, h + proto::kFrameHeaderSize);
      out.insert(out.end(), {0, 0, h[proto::kFrameHeaderSize + 2], h[proto::kFrameHeaderSize + 3]});
    } else {
      out.insert(out.end(), h, data + end);
    }
    pos = end;
  }
  out.insert(out.end(), data + pos, data + size);
  return out;
}

// A few whole sessions from the client's side: push (first clone, with a
// checkpoint, with verify, a dry run) and pull. Named for their files.
inline std::vector<std::pair<std::string, std::vector<uint8_t>>> session_seeds() {
  using namespace proto;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> seeds;
  const uint64_t size = 256 * 1024;
  auto start = [&](Role role, uint16_t flags, HashKind hash) {
    std::vector<uint8_t> s;
    append_frame(&s, MsgType::kHello, encode(Hello{kProtocolVersion, kFeaturesOffered, "sparsync fuzz"}));
    Open open;
    open.role = role;
    open.hash_kind = hash;
    open.flags = flags;
    open.block_size = 4096;
    open.source_size = role == Role::kServerIsTarget ? size : 0;
    open.path = "x";
    open.source_id = role == Role::kServerIsTarget ? "file:1:2:262144:3" : "";
    append_frame(&s, MsgType::kOpen, encode(open));
    return s;
  };
  auto data = [](std::vector<uint8_t>* s, uint64_t offset, uint32_t len, uint8_t fill) {
    std::vector<uint8_t> p = encode_data_prefix(offset);
    p.insert(p.end(), len, fill);
    append_frame(s, MsgType::kData, p);
  };
  auto done = [&](std::vector<uint8_t>* s, uint64_t data_bytes, uint64_t hole_bytes) {
    append_frame(s, MsgType::kDone, encode(Done{size, size, data_bytes, data_bytes, hole_bytes, 0, size / 4096}));
  };

  std::vector<uint8_t> push = start(Role::kServerIsTarget, 0, HashKind::kXxh3_128);
  data(&push, 0, 8192, 0xab);
  append_frame(&push, MsgType::kHole, encode(Hole{8192, 65536}));
  append_frame(&push, MsgType::kCheckpoint, encode(Checkpoint{65536 + 8192}));
  data(&push, 65536 + 8192, 4096, 0x5a);
  append_frame(&push, MsgType::kHole, encode(Hole{65536 + 12288, size - 65536 - 12288}));
  done(&push, 12288, size - 12288);
  seeds.emplace_back("push", push);

  std::vector<uint8_t> lanes = start(Role::kServerIsTarget, kOpenLanes, HashKind::kXxh3_128);
  append_frame(&lanes, MsgType::kLanesStart, encode(LanesStart{0}));
  data(&lanes, 0, 4096, 3);
  append_frame(&lanes, MsgType::kHole, encode(Hole{4096, size - 4096}));
  done(&lanes, 4096, size - 4096);
  seeds.emplace_back("push_lanes_declined", lanes);

  std::vector<uint8_t> verify = start(Role::kServerIsTarget, kOpenVerify, HashKind::kSha256);
  data(&verify, 0, 4096, 1);
  append_frame(&verify, MsgType::kHole, encode(Hole{4096, size - 4096}));
  done(&verify, 4096, size - 4096);
  VerifyEnd end;
  for (int i = 0; i < 32; ++i) end.digest[i] = static_cast<uint8_t>(i);
  append_frame(&verify, MsgType::kVerifyDigests, encode(VerifyDigests{0, 1, std::vector<uint8_t>(32, 7)}));
  append_frame(&verify, MsgType::kVerifyEnd, encode(end));
  seeds.emplace_back("push_verify", verify);

  std::vector<uint8_t> dry = start(Role::kServerIsTarget, kOpenDryRun | kOpenRestart, HashKind::kXxh3_128);
  done(&dry, 0, 0);
  seeds.emplace_back("push_dry_run", dry);

  std::vector<uint8_t> pull = start(Role::kServerIsSource, 0, HashKind::kXxh3_128);
  append_frame(&pull, MsgType::kResume, encode(Resume{0}));
  append_frame(&pull, MsgType::kHash, encode(Hash{0, 2, std::vector<uint8_t>(32, 9)}));
  append_frame(&pull, MsgType::kHashZero, encode(HashZero{2, 62}));
  append_frame(&pull, MsgType::kHashEnd, encode(HashEnd{64}));
  append_frame(&pull, MsgType::kAck, encode(Ack{65536}));
  append_frame(&pull, MsgType::kSummary, encode(Summary{4096, 0, 64, 8192, size, ZeroMethod::kPunchHole}));
  seeds.emplace_back("pull", pull);
  return seeds;
}

}  // namespace sparsync::fuzz
