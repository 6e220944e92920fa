// The golden vectors of proto/PROTOCOL.md: each frame is written here in hex,
// exactly as in the document's "; golden: NAME" blocks. Every test encodes the
// message and compares with the bytes, then decodes the bytes and compares the
// fields. GoldenVectors.DocumentMatches reads PROTOCOL.md and fails when a
// block there no longer equals the bytes here, so doc, code and tests cannot
// drift apart; GoldenVectors.FuzzSeedsMatch does the same for tests/fuzz.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <zstd.h>

#include "common/proto/change_messages.h"
#include "common/proto/frame_codec.h"
#include "common/proto/messages.h"

namespace sparsync::proto {
namespace {

using Bytes = std::vector<uint8_t>;

// Parses the dump format of PROTOCOL.md §9: per line, the two-digit hex
// tokens before ';'.
Bytes parse_hex(const std::string& text) {
  Bytes out;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    line = line.substr(0, line.find(';'));
    std::istringstream tokens(line);
    std::string tok;
    while (tokens >> tok) {
      EXPECT_EQ(tok.size(), 2u) << "bad hex token '" << tok << "'";
      out.push_back(static_cast<uint8_t>(std::stoul(tok, nullptr, 16)));
    }
  }
  return out;
}

Bytes frame(MsgType type, const Bytes& payload) {
  uint8_t header[kFrameHeaderSize];
  encode_header(type, static_cast<uint32_t>(payload.size()), header);
  Bytes out(kFrameHeaderSize + payload.size());
  std::copy(header, header + kFrameHeaderSize, out.begin());
  std::copy(payload.begin(), payload.end(), out.begin() + kFrameHeaderSize);
  return out;
}

// Splits a golden frame into header and payload, checking the header.
Bytes payload_of(const Bytes& golden, MsgType expected) {
  EXPECT_GE(golden.size(), kFrameHeaderSize);
  FrameHeader h;
  Status s = decode_header(golden.data(), &h);
  EXPECT_TRUE(s.is_ok()) << s.message();
  EXPECT_EQ(h.type, expected);
  EXPECT_EQ(h.length, golden.size() - kFrameHeaderSize);
  return Bytes(golden.begin() + kFrameHeaderSize, golden.end());
}

// The vectors, by the names PROTOCOL.md gives them.
const std::map<std::string, std::string>& golden_hex() {
  static const std::map<std::string, std::string> vectors = {
      {"HELLO",
       "01 00 00 00 24 00 00 00  73 70 61 72 73 79 6e 63  01 00  00 00  0f 00 00 00 00 00 00 00"
       "  0e 00 73 70 61 72 73 79 6e 63 20 30 2e 31 2e 30"},
      {"OPEN",
       "02 00 00 00 4a 00 00 00  01  01  00 00  00 10 00 00  00 48 00 00 00 00 00 00"
       "  0c 00 2f 73 72 76 2f 76 6d 31 2e 69 6d 67"
       "  15 00 66 3a 32 30 34 39 3a 31 33 31 3a 31 37 30 30 30 30 30 30 30 30"
       "  00 00 00 40 00 00 00 00  1e 00 00 00  00 00 00 00 00 00 00 00  00"},
      {"OPEN_SOURCE_FACTS",
       "02 00 00 00 4e 00 00 00  01  01  00 00  00 10 00 00  00 48 00 00 00 00 00 00"
       "  0c 00 2f 73 72 76 2f 76 6d 31 2e 69 6d 67"
       "  15 00 66 3a 32 30 34 39 3a 31 33 31 3a 31 37 30 30 30 30 30 30 30 30"
       "  00 00 00 40 00 00 00 00  1e 00 00 00  00 00 00 00 00 00 00 00  00  a0 01 00 00"},
      {"OPEN_GENERATIONS",
       "02 00 00 00 50 00 00 00  01  01  00 00  00 10 00 00  00 48 00 00 00 00 00 00"
       "  0c 00 2f 73 72 76 2f 76 6d 31 2e 69 6d 67"
       "  15 00 66 3a 32 30 34 39 3a 31 33 31 3a 31 37 30 30 30 30 30 30 30 30"
       "  00 00 00 40 00 00 00 00  1e 00 00 00  00 00 00 00 00 00 00 00  00  a0 01 00 00  07 00"},
      {"OPEN_UNDO_CAP",
       "02 00 00 00 58 00 00 00  01  01  00 00  00 10 00 00  00 48 00 00 00 00 00 00"
       "  0c 00 2f 73 72 76 2f 76 6d 31 2e 69 6d 67"
       "  15 00 66 3a 32 30 34 39 3a 31 33 31 3a 31 37 30 30 30 30 30 30 30 30"
       "  00 00 00 40 00 00 00 00  1e 00 00 00  00 00 00 00 00 00 00 00  00  a0 01 00 00  ff ff"
       "  00 00 00 80 00 00 00 00"},
      {"OPEN_OK_SOURCE_FACTS",
       "03 00 00 00 20 00 00 00  01  00  40 00  00 00 00 00  00 48 00 00 00 00 00 00"
       "  0c 00 2f 73 72 76 2f 76 6d 31 2e 69 6d 67  00 00"},
      {"DATA_ZSTD",
       "22 00 00 00 1e 00 00 00  00 20 00 00 00 00 00 00  00 10 00 00"
       "  28 b5 2f fd 00 58 4d 00 00 10 00 00 01 00 fb f7 01 16"},
      {"OPEN_OK",
       "03 00 00 00 20 00 00 00  01  00  00 00  00 00 00 00  00 48 00 00 00 00 00 00"
       "  0c 00 2f 73 72 76 2f 76 6d 31 2e 69 6d 67  00 00"},
      {"HASH",
       "10 00 00 00 20 00 00 00  00 00 00 00 00 00 00 00  01 00 00 00  00 00 00 00"
       "  00 11 22 33 44 55 66 77 88 99 aa bb cc dd ee ff"},
      {"LANES",
       "04 00 00 00 1a 00 00 00  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f"
       "  08 00 2f 74 6d 70 2f 6c 2f 73"},
      {"LANES_START", "05 00 00 00 04 00 00 00  08 00  00 00"},
      {"ROLLBACK", "06 00 00 00 17 00 00 00  00  00 00 00 00 00 00 00 00  0c 00 2f 73 72 76 2f 76 6d 31 2e 69 6d 67"},
      {"ROLLBACK_DONE",
       "07 00 00 00 43 00 00 00  41 00 2f 73 72 76 2f 76 6d 31 2e 69 6d 67 3a 20"
       "  6e 6f 74 68 69 6e 67 20 74 6f 20 72 6f 6c 6c 20 62 61 63 6b 20 28 6e 6f 20 69 6e 74 65 72 72 75"
       "  70 74 65 64 20 73 79 6e 63 20 72 65 63 6f 72 64 65 64 29"},
      {"HASH_ZERO", "11 00 00 00 10 00 00 00  01 00 00 00 00 00 00 00  02 00 00 00 00 00 00 00"},
      {"HASH_SKIP", "14 00 00 00 10 00 00 00  02 00 00 00 00 00 00 00  03 00 00 00 00 00 00 00"},
      {"CHANGES",
       "08 00 00 00 38 00 00 00  01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f 10"
       "  11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f 20  00  00  00 00  01 00 00 00"
       "  00 10 00 00 00 00 00 00  00 20 00 00 00 00 00 00"},
      {"HASH_END", "12 00 00 00 08 00 00 00  05 00 00 00 00 00 00 00"},
      {"RESUME", "13 00 00 00 08 00 00 00  00 20 00 00 00 00 00 00"},
      {"VERIFY_DIGESTS",
       "50 00 00 00 30 00 00 00  00 00 00 00 00 00 00 00  01 00 00 00  00 00 00 00"
       "  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f"
       "  10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f"},
      {"VERIFY_END",
       "51 00 00 00 20 00 00 00  ff fe fd fc fb fa f9 f8 f7 f6 f5 f4 f3 f2 f1 f0"
       "  ef ee ed ec eb ea e9 e8 e7 e6 e5 e4 e3 e2 e1 e0"},
      {"DATA", "20 00 00 00 10 00 00 00  00 10 00 00 00 00 00 00  de ad be ef 01 02 03 04"},
      {"HOLE", "21 00 00 00 10 00 00 00  00 30 00 00 00 00 00 00  00 10 00 00 00 00 00 00"},
      {"CHECKPOINT", "30 00 00 00 08 00 00 00  00 40 00 00 00 00 00 00"},
      {"ACK", "31 00 00 00 08 00 00 00  00 40 00 00 00 00 00 00"},
      {"STOP", "32 00 00 00 00 00 00 00"},
      {"KEEPALIVE", "60 00 00 00 04 00 00 00  2c 01 00 00"},
      {"DONE",
       "40 00 00 00 38 00 00 00  00 48 00 00 00 00 00 00  00 48 00 00 00 00 00 00"
       "  00 48 00 00 00 00 00 00  00 18 00 00 00 00 00 00  00 10 00 00 00 00 00 00"
       "  02 00 00 00 00 00 00 00  03 00 00 00 00 00 00 00"},
      {"SUMMARY",
       "41 00 00 00 29 00 00 00  00 18 00 00 00 00 00 00  00 10 00 00 00 00 00 00"
       "  03 00 00 00 00 00 00 00  00 28 00 00 00 00 00 00  00 48 00 00 00 00 00 00  01"},
      {"SUMMARY_UNDO",
       "41 00 00 00 33 00 00 00  00 18 00 00 00 00 00 00  00 10 00 00 00 00 00 00"
       "  03 00 00 00 00 00 00 00  00 28 00 00 00 00 00 00  00 48 00 00 00 00 00 00  01"
       "  00 20 00 00 00 00 00 00  03 00"},
      {"ERROR",
       "7f 00 00 00 1b 00 00 00  04 00  17 00 6e 6f 20 73 70 61 63 65 20 6c 65 66 74 20"
       "  6f 6e 20 64 65 76 69 63 65"},
  };
  return vectors;
}

Bytes golden(const std::string& name) { return parse_hex(golden_hex().at(name)); }

// The OPEN of PROTOCOL.md's examples: a push of /srv/vm1.img, 18432 bytes.
Open vm1_open() {
  Open m;
  m.role = Role::kServerIsTarget;
  m.hash_kind = HashKind::kXxh3_128;
  m.block_size = 4096;
  m.source_size = 18432;
  m.path = "/srv/vm1.img";
  m.source_id = "f:2049:131:1700000000";
  return m;
}

Bytes example_digest() {
  Bytes d;
  for (int i = 0; i < 16; ++i) d.push_back(static_cast<uint8_t>(i * 0x11));
  return d;
}

TEST(GoldenVectors, Hello) {
  Hello m{1, kFeatureXxh3 | kFeatureSha256 | kFeatureCheckpoint | kFeatureZstd, "sparsync 0.1.0"};
  EXPECT_EQ(frame(MsgType::kHello, encode(m)), golden("HELLO"));
  Hello d;
  ASSERT_TRUE(decode(payload_of(golden("HELLO"), MsgType::kHello), &d).is_ok());
  EXPECT_EQ(d.version, 1);
  EXPECT_EQ(d.features, 0xfu);
  EXPECT_EQ(d.software, "sparsync 0.1.0");
}

TEST(GoldenVectors, Open) {
  Open m = vm1_open();
  EXPECT_EQ(frame(MsgType::kOpen, encode(m)), golden("OPEN"));
  Open d;
  ASSERT_TRUE(decode(payload_of(golden("OPEN"), MsgType::kOpen), &d).is_ok());
  EXPECT_EQ(d.role, Role::kServerIsTarget);
  EXPECT_EQ(d.hash_kind, HashKind::kXxh3_128);
  EXPECT_EQ(d.flags, 0);
  EXPECT_EQ(d.block_size, 4096u);
  EXPECT_EQ(d.source_size, 18432u);
  EXPECT_EQ(d.path, "/srv/vm1.img");
  EXPECT_EQ(d.source_id, "f:2049:131:1700000000");
  EXPECT_EQ(d.checkpoint_bytes, 1ull << 30);
  EXPECT_EQ(d.checkpoint_seconds, 30u);
  EXPECT_EQ(d.bwlimit, 0u);
  EXPECT_EQ(d.compress_level, 0);
}

TEST(GoldenVectors, OpenOk) {
  OpenOk m;
  m.kind = DeviceKind::kRegularFile;
  m.state = TargetState::kExisting;
  m.size = 18432;
  m.path = "/srv/vm1.img";  // source_id stays empty: a push
  EXPECT_EQ(frame(MsgType::kOpenOk, encode(m)), golden("OPEN_OK"));
  OpenOk d;
  ASSERT_TRUE(decode(payload_of(golden("OPEN_OK"), MsgType::kOpenOk), &d).is_ok());
  EXPECT_EQ(d.kind, DeviceKind::kRegularFile);
  EXPECT_EQ(d.state, TargetState::kExisting);
  EXPECT_EQ(d.flags, 0);
  EXPECT_EQ(d.size, 18432u);
  EXPECT_EQ(d.path, "/srv/vm1.img");
  EXPECT_EQ(d.source_id, "");
}

// kFeatureSourceFacts: OPEN's optional tail, present or absent, never
// anything else; OPEN_OK's flags and source_mode.
TEST(GoldenVectors, OpenUndoCap) {
  Open m = vm1_open();
  m.has_source_facts = true;
  m.source_mode = 0640;
  m.has_keep = true;  // keep 0xffff: no --keep given
  m.has_max_undo = true;
  m.max_undo = 2ull << 30;
  EXPECT_EQ(frame(MsgType::kOpen, encode(m)), golden("OPEN_UNDO_CAP"));
  Open d;
  Bytes payload = payload_of(golden("OPEN_UNDO_CAP"), MsgType::kOpen);
  ASSERT_TRUE(decode(payload, &d).is_ok());
  EXPECT_TRUE(d.has_source_facts);
  EXPECT_EQ(d.source_mode, 0640u);
  EXPECT_TRUE(d.has_keep);
  EXPECT_EQ(d.keep, kKeepUnchanged);
  EXPECT_TRUE(d.has_max_undo);
  EXPECT_EQ(d.max_undo, 2ull << 30);
  // The cap rides behind the keep tail only.
  Open no_keep = m;
  no_keep.has_keep = false;
  EXPECT_EQ(encode(no_keep), payload_of(golden("OPEN_SOURCE_FACTS"), MsgType::kOpen));
  // Without the source facts there is no max_undo tail, and the tail of
  // OPEN_SOURCE_FACTS has none.
  Open plain;
  ASSERT_TRUE(decode(payload_of(golden("OPEN_SOURCE_FACTS"), MsgType::kOpen), &plain).is_ok());
  EXPECT_FALSE(plain.has_max_undo);
  m.has_source_facts = false;
  Open bare;
  ASSERT_TRUE(decode(encode(m), &bare).is_ok());
  EXPECT_FALSE(bare.has_max_undo);
  // A cut tail is malformed.
  for (size_t cut : {1u, 4u, 7u}) {
    Bytes torn(payload.begin(), payload.end() - static_cast<long>(cut));
    EXPECT_FALSE(decode(torn, &d).is_ok()) << cut;
  }
}

TEST(GoldenVectors, OpenSourceFacts) {
  Open m = vm1_open();
  m.has_source_facts = true;
  m.source_mode = 0640;
  EXPECT_EQ(frame(MsgType::kOpen, encode(m)), golden("OPEN_SOURCE_FACTS"));
  Open d;
  Bytes payload = payload_of(golden("OPEN_SOURCE_FACTS"), MsgType::kOpen);
  ASSERT_TRUE(decode(payload, &d).is_ok());
  EXPECT_TRUE(d.has_source_facts);
  EXPECT_EQ(d.source_mode, 0640u);
  Open plain;
  ASSERT_TRUE(decode(payload_of(golden("OPEN"), MsgType::kOpen), &plain).is_ok());
  EXPECT_FALSE(plain.has_source_facts);
  EXPECT_EQ(plain.source_mode, 0u);
  // One byte more or less than a whole tail is malformed, and so is a mode
  // outside 07777.
  for (size_t cut : {1u, 2u, 3u}) {
    Bytes torn(payload.begin(), payload.end() - static_cast<long>(cut));
    EXPECT_FALSE(decode(torn, &d).is_ok()) << cut;
  }
  Bytes longer = payload;
  longer.push_back(0);
  EXPECT_FALSE(decode(longer, &d).is_ok());
  Bytes wide = payload;
  wide[wide.size() - 3] = 0x10;  // 0x10a0 = 010240
  EXPECT_FALSE(decode(wide, &d).is_ok());
}

// kFeatureGenerations: OPEN's keep behind source_mode; kKeepUnchanged is
// "no --keep"; past kMaxKeepGenerations is malformed.
TEST(GoldenVectors, OpenGenerations) {
  Open m = vm1_open();
  m.has_source_facts = true;
  m.source_mode = 0640;
  m.has_keep = true;
  m.keep = 7;
  EXPECT_EQ(frame(MsgType::kOpen, encode(m)), golden("OPEN_GENERATIONS"));
  Open d;
  Bytes payload = payload_of(golden("OPEN_GENERATIONS"), MsgType::kOpen);
  ASSERT_TRUE(decode(payload, &d).is_ok());
  EXPECT_TRUE(d.has_source_facts);
  EXPECT_TRUE(d.has_keep);
  EXPECT_EQ(d.keep, 7u);
  EXPECT_EQ(d.source_mode, 0640u);
  Open facts_only;
  ASSERT_TRUE(decode(payload_of(golden("OPEN_SOURCE_FACTS"), MsgType::kOpen), &facts_only).is_ok());
  EXPECT_FALSE(facts_only.has_keep);
  EXPECT_EQ(facts_only.keep, kKeepUnchanged);
  Bytes unchanged = payload;
  unchanged[unchanged.size() - 2] = 0xff;
  unchanged[unchanged.size() - 1] = 0xff;
  ASSERT_TRUE(decode(unchanged, &d).is_ok());
  EXPECT_EQ(d.keep, kKeepUnchanged);
  Bytes too_many = payload;
  too_many[too_many.size() - 2] = 0xe9;  // 0x03e9 = 1001
  too_many[too_many.size() - 1] = 0x03;
  EXPECT_FALSE(decode(too_many, &d).is_ok());
  Bytes torn(payload.begin(), payload.end() - 1);
  EXPECT_FALSE(decode(torn, &d).is_ok());
  // Without source facts there is no keep to send.
  m.has_source_facts = false;
  EXPECT_EQ(encode(m), payload_of(golden("OPEN"), MsgType::kOpen));
}

TEST(GoldenVectors, OpenOkSourceFacts) {
  OpenOk m;
  m.kind = DeviceKind::kRegularFile;
  m.state = TargetState::kExisting;
  m.flags = static_cast<uint16_t>(static_cast<int>(CheckpointIgnored::kTargetChanged) << kOpenOkIgnoredShift);
  m.size = 18432;
  m.path = "/srv/vm1.img";
  EXPECT_EQ(frame(MsgType::kOpenOk, encode(m)), golden("OPEN_OK_SOURCE_FACTS"));
  OpenOk d;
  Bytes payload = payload_of(golden("OPEN_OK_SOURCE_FACTS"), MsgType::kOpenOk);
  ASSERT_TRUE(decode(payload, &d).is_ok());
  EXPECT_EQ(d.flags, 0x40);
  EXPECT_EQ((d.flags & kOpenOkIgnoredMask) >> kOpenOkIgnoredShift, 4);
  Bytes unknown = payload;
  unknown[2] = 0x02;  // flag bit 1: not defined
  EXPECT_FALSE(decode(unknown, &d).is_ok());
  Bytes wide = payload;
  wide[5] = 0x10;  // source_mode 0x1000
  EXPECT_FALSE(decode(wide, &d).is_ok());
}

TEST(GoldenVectors, Lanes) {
  Lanes m;
  for (uint8_t i = 0; i < 16; ++i) m.token[i] = i;
  m.path = "/tmp/l/s";
  EXPECT_EQ(frame(MsgType::kLanes, encode(m)), golden("LANES"));
  Lanes d;
  ASSERT_TRUE(decode(payload_of(golden("LANES"), MsgType::kLanes), &d).is_ok());
  EXPECT_EQ(d.token, m.token);
  EXPECT_EQ(d.path, "/tmp/l/s");
}

TEST(GoldenVectors, LanesStart) {
  EXPECT_EQ(frame(MsgType::kLanesStart, encode(LanesStart{8})), golden("LANES_START"));
  LanesStart d;
  ASSERT_TRUE(decode(payload_of(golden("LANES_START"), MsgType::kLanesStart), &d).is_ok());
  EXPECT_EQ(d.count, 8);
}

TEST(GoldenVectors, Rollback) {
  Rollback m{RollbackToKind::kInterrupted, 0, "/srv/vm1.img"};
  EXPECT_EQ(frame(MsgType::kRollback, encode(m)), golden("ROLLBACK"));
  Rollback d;
  Bytes payload = payload_of(golden("ROLLBACK"), MsgType::kRollback);
  ASSERT_TRUE(decode(payload, &d).is_ok());
  EXPECT_EQ(d.to_kind, RollbackToKind::kInterrupted);
  EXPECT_EQ(d.to_value, 0u);
  EXPECT_EQ(d.path, "/srv/vm1.img");
  // §4.18 rule 2: a to_kind above 2 is malformed.
  Bytes unknown = payload;
  unknown[0] = 3;
  EXPECT_FALSE(decode(unknown, &d).is_ok());
}

TEST(GoldenVectors, RollbackDone) {
  const std::string report = "/srv/vm1.img: nothing to roll back (no interrupted sync recorded)";
  EXPECT_EQ(frame(MsgType::kRollbackDone, encode(RollbackDone{report})), golden("ROLLBACK_DONE"));
  RollbackDone d;
  ASSERT_TRUE(decode(payload_of(golden("ROLLBACK_DONE"), MsgType::kRollbackDone), &d).is_ok());
  EXPECT_EQ(d.report, report);
}

TEST(GoldenVectors, Resume) {
  EXPECT_EQ(frame(MsgType::kResume, encode(Resume{8192})), golden("RESUME"));
  Resume d;
  ASSERT_TRUE(decode(payload_of(golden("RESUME"), MsgType::kResume), &d).is_ok());
  EXPECT_EQ(d.offset, 8192u);
}

TEST(GoldenVectors, VerifyDigests) {
  VerifyDigests m;
  m.count = 1;
  for (int i = 0; i < 32; ++i) m.digests.push_back(static_cast<uint8_t>(i));
  EXPECT_EQ(frame(MsgType::kVerifyDigests, encode(m)), golden("VERIFY_DIGESTS"));
  VerifyDigests d;
  ASSERT_TRUE(decode(payload_of(golden("VERIFY_DIGESTS"), MsgType::kVerifyDigests), &d).is_ok());
  EXPECT_EQ(d.first_region, 0u);
  EXPECT_EQ(d.count, 1u);
  EXPECT_EQ(d.digests, m.digests);
}

TEST(GoldenVectors, VerifyEnd) {
  VerifyEnd m;
  for (int i = 0; i < 32; ++i) m.digest[i] = static_cast<uint8_t>(0xff - i);
  EXPECT_EQ(frame(MsgType::kVerifyEnd, encode(m)), golden("VERIFY_END"));
  VerifyEnd d;
  ASSERT_TRUE(decode(payload_of(golden("VERIFY_END"), MsgType::kVerifyEnd), &d).is_ok());
  EXPECT_EQ(Bytes(d.digest, d.digest + 32), Bytes(m.digest, m.digest + 32));
}

TEST(GoldenVectors, Hash) {
  Hash m{0, 1, example_digest()};
  EXPECT_EQ(frame(MsgType::kHash, encode(m)), golden("HASH"));
  Hash d;
  ASSERT_TRUE(decode(payload_of(golden("HASH"), MsgType::kHash), hash_length(HashKind::kXxh3_128), &d).is_ok());
  EXPECT_EQ(d.first_block, 0u);
  EXPECT_EQ(d.count, 1u);
  EXPECT_EQ(d.digests, example_digest());
}

TEST(GoldenVectors, HashZero) {
  EXPECT_EQ(frame(MsgType::kHashZero, encode(HashZero{1, 2})), golden("HASH_ZERO"));
  HashZero d;
  ASSERT_TRUE(decode(payload_of(golden("HASH_ZERO"), MsgType::kHashZero), &d).is_ok());
  EXPECT_EQ(d.first_block, 1u);
  EXPECT_EQ(d.count, 2u);
}

TEST(GoldenVectors, HashSkip) {
  EXPECT_EQ(frame(MsgType::kHashSkip, encode(HashSkip{2, 3})), golden("HASH_SKIP"));
  HashSkip d;
  ASSERT_TRUE(decode(payload_of(golden("HASH_SKIP"), MsgType::kHashSkip), &d).is_ok());
  EXPECT_EQ(d.first_block, 2u);
  EXPECT_EQ(d.count, 3u);
  EXPECT_FALSE(decode(encode(HashSkip{2, 0}), &d).is_ok());
}

ChangeToken counting_token(uint8_t first) {
  ChangeToken t{};
  for (size_t i = 0; i < t.size(); ++i) t[i] = static_cast<uint8_t>(first + i);
  return t;
}

TEST(GoldenVectors, Changes) {
  Changes m;
  m.run_token = counting_token(1);
  m.base_token = counting_token(0x11);
  m.ranges = {ByteRange{4096, 8192}};
  EXPECT_EQ(frame(MsgType::kChanges, encode(m)), golden("CHANGES"));
  Changes d;
  ASSERT_TRUE(decode(payload_of(golden("CHANGES"), MsgType::kChanges), &d).is_ok());
  EXPECT_EQ(d.run_token, m.run_token);
  EXPECT_EQ(d.base_token, m.base_token);
  EXPECT_EQ(d.flags, 0);
  EXPECT_EQ(d.ranges, m.ranges);
}

TEST(GoldenVectors, ChangesRefusesWhatTheTargetCouldMisread) {
  Changes m;
  m.run_token = counting_token(1);
  m.base_token = counting_token(0x11);
  Changes d;
  for (const std::vector<ByteRange>& bad : std::vector<std::vector<ByteRange>>{
           {{4096, 0}},                // empty
           {{8192, 4096}, {0, 4096}},  // out of order
           {{0, 4096}, {4096, 4096}},  // touching
           {{~0ull - 10, 4096}},       // wraps
       }) {
    m.ranges = bad;
    EXPECT_FALSE(decode(encode(m), &d).is_ok());
  }
  m.ranges = {{0, 4096}};
  m.base_token = ChangeToken{};
  EXPECT_FALSE(decode(encode(m), &d).is_ok()) << "ranges without a base run";
  m.ranges.clear();
  m.run_token = ChangeToken{};
  EXPECT_FALSE(decode(encode(m), &d).is_ok()) << "no run token";
  m.run_token = counting_token(1);
  m.flags = 0x80;
  EXPECT_FALSE(decode(encode(m), &d).is_ok()) << "unknown flag";
}

TEST(GoldenVectors, SplitChangesFillsFramesToTheirBound) {
  std::vector<ByteRange> ranges;
  for (uint64_t i = 0; i < kMaxChangeRangesPerFrame + 5; ++i) ranges.push_back({i * 8192, 4096});
  auto frames = split_changes(counting_token(1), counting_token(0x11), ranges);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].ranges.size(), kMaxChangeRangesPerFrame);
  EXPECT_EQ(frames[0].flags, kChangesMore);
  EXPECT_EQ(frames[1].ranges.size(), 5u);
  EXPECT_EQ(frames[1].flags, 0);
  EXPECT_LE(encode(frames[0]).size(), kMaxPayload);
  EXPECT_EQ(split_changes(counting_token(1), ChangeToken{}, {}).size(), 1u);
}

TEST(GoldenVectors, HashEnd) {
  EXPECT_EQ(frame(MsgType::kHashEnd, encode(HashEnd{5})), golden("HASH_END"));
  HashEnd d;
  ASSERT_TRUE(decode(payload_of(golden("HASH_END"), MsgType::kHashEnd), &d).is_ok());
  EXPECT_EQ(d.total_blocks, 5u);
}

TEST(GoldenVectors, Data) {
  const Bytes body = {0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04};
  Bytes payload = encode_data_prefix(4096);
  payload.insert(payload.end(), body.begin(), body.end());
  EXPECT_EQ(frame(MsgType::kData, payload), golden("DATA"));
  const Bytes p = payload_of(golden("DATA"), MsgType::kData);
  DataView d;
  ASSERT_TRUE(decode(p, &d).is_ok());
  EXPECT_EQ(d.offset, 4096u);
  ASSERT_EQ(d.length, body.size());
  EXPECT_EQ(d.bytes, p.data() + 8);  // a view into the payload, not a copy
  EXPECT_EQ(Bytes(d.bytes, d.bytes + d.length), body);
}

TEST(GoldenVectors, DataZstd) {
  const Bytes p = payload_of(golden("DATA_ZSTD"), MsgType::kDataZstd);
  DataZstdView d;
  ASSERT_TRUE(decode(p, &d).is_ok());
  EXPECT_EQ(d.offset, 8192u);
  EXPECT_EQ(d.raw_length, 4096u);
  ASSERT_EQ(d.length, 18u);
  EXPECT_EQ(d.bytes, p.data() + 12);
  // The bytes are a real zstd frame of 4096 zero bytes.
  Bytes raw(4096, 0xff);
  ASSERT_EQ(ZSTD_decompress(raw.data(), raw.size(), d.bytes, d.length), 4096u);
  EXPECT_EQ(raw, Bytes(4096, 0));
}

TEST(GoldenVectors, Hole) {
  EXPECT_EQ(frame(MsgType::kHole, encode(Hole{12288, 4096})), golden("HOLE"));
  Hole d;
  ASSERT_TRUE(decode(payload_of(golden("HOLE"), MsgType::kHole), &d).is_ok());
  EXPECT_EQ(d.offset, 12288u);
  EXPECT_EQ(d.length, 4096u);
}

TEST(GoldenVectors, CheckpointAndAck) {
  EXPECT_EQ(frame(MsgType::kCheckpoint, encode(Checkpoint{16384})), golden("CHECKPOINT"));
  EXPECT_EQ(frame(MsgType::kAck, encode(Ack{16384})), golden("ACK"));
  Checkpoint c;
  ASSERT_TRUE(decode(payload_of(golden("CHECKPOINT"), MsgType::kCheckpoint), &c).is_ok());
  EXPECT_EQ(c.offset, 16384u);
  Ack a;
  ASSERT_TRUE(decode(payload_of(golden("ACK"), MsgType::kAck), &a).is_ok());
  EXPECT_EQ(a.offset, 16384u);
}

TEST(GoldenVectors, StopAndKeepalive) {
  EXPECT_EQ(frame(MsgType::kStop, encode(Stop{})), golden("STOP"));
  Stop st;
  ASSERT_TRUE(decode(payload_of(golden("STOP"), MsgType::kStop), &st).is_ok());
  EXPECT_FALSE(decode(Bytes{0}, &st).is_ok()) << "STOP has no payload";
  EXPECT_EQ(frame(MsgType::kKeepalive, encode(Keepalive{300})), golden("KEEPALIVE"));
  Keepalive k;
  ASSERT_TRUE(decode(payload_of(golden("KEEPALIVE"), MsgType::kKeepalive), &k).is_ok());
  EXPECT_EQ(k.timeout_seconds, 300u);
  EXPECT_FALSE(decode(Bytes{1, 0, 0}, &k).is_ok());
  EXPECT_FALSE(decode(Bytes{1, 0, 0, 0, 0}, &k).is_ok());
}

TEST(GoldenVectors, Done) {
  Done m{18432, 18432, 18432, 6144, 4096, 2, 3};
  EXPECT_EQ(frame(MsgType::kDone, encode(m)), golden("DONE"));
  Done d;
  ASSERT_TRUE(decode(payload_of(golden("DONE"), MsgType::kDone), &d).is_ok());
  EXPECT_EQ(d.final_size, 18432u);
  EXPECT_EQ(d.bytes_scanned, 18432u);
  EXPECT_EQ(d.bytes_read, 18432u);
  EXPECT_EQ(d.data_bytes, 6144u);
  EXPECT_EQ(d.hole_bytes, 4096u);
  EXPECT_EQ(d.unchanged_blocks, 2u);
  EXPECT_EQ(d.changed_blocks, 3u);
}

TEST(GoldenVectors, Summary) {
  Summary m{6144, 4096, 3, 10240, 18432, ZeroMethod::kPunchHole};
  EXPECT_EQ(frame(MsgType::kSummary, encode(m)), golden("SUMMARY"));
  Summary d;
  ASSERT_TRUE(decode(payload_of(golden("SUMMARY"), MsgType::kSummary), &d).is_ok());
  EXPECT_EQ(d.bytes_written, 6144u);
  EXPECT_EQ(d.bytes_zeroed, 4096u);
  EXPECT_EQ(d.blocks_hashed, 3u);
  EXPECT_EQ(d.bytes_hashed, 10240u);
  EXPECT_EQ(d.final_size, 18432u);
  EXPECT_EQ(d.zero_method, ZeroMethod::kPunchHole);
}

TEST(GoldenVectors, SummaryUndo) {
  Summary m{6144, 4096, 3, 10240, 18432, ZeroMethod::kPunchHole, true, 8192, 3};
  EXPECT_EQ(frame(MsgType::kSummary, encode(m)), golden("SUMMARY_UNDO"));
  Summary d;
  Bytes payload = payload_of(golden("SUMMARY_UNDO"), MsgType::kSummary);
  ASSERT_TRUE(decode(payload, &d).is_ok());
  EXPECT_TRUE(d.has_undo);
  EXPECT_EQ(d.undo_bytes, 8192u);
  EXPECT_EQ(d.generations_kept, 3u);
  Summary plain;
  ASSERT_TRUE(decode(payload_of(golden("SUMMARY"), MsgType::kSummary), &plain).is_ok());
  EXPECT_FALSE(plain.has_undo);
  Bytes torn(payload.begin(), payload.end() - 1);
  EXPECT_FALSE(decode(torn, &d).is_ok());
  Bytes too_many = payload;
  too_many[too_many.size() - 2] = 0xe9;
  too_many[too_many.size() - 1] = 0x03;
  EXPECT_FALSE(decode(too_many, &d).is_ok());
}

TEST(GoldenVectors, Error) {
  Error m{ErrorCode::kTarget, "no space left on device"};
  EXPECT_EQ(frame(MsgType::kError, encode(m)), golden("ERROR"));
  Error d;
  ASSERT_TRUE(decode(payload_of(golden("ERROR"), MsgType::kError), &d).is_ok());
  EXPECT_EQ(d.code, ErrorCode::kTarget);
  EXPECT_EQ(d.message, "no space left on device");
}

// PROTOCOL.md §2 table and §3 constants, as the document states them.
TEST(GoldenVectors, ConstantsMatchDocument) {
  EXPECT_EQ(kProtocolVersion, 1);
  EXPECT_EQ(kFrameHeaderSize, 8u);
  EXPECT_EQ(kMaxDataPerFrame, 1048576u);
  EXPECT_EQ(kMaxPayload, 1052672u);
  EXPECT_EQ(kMaxPathBytes, 4096u);
  EXPECT_EQ(kMaxTextBytes, 4096u);
  EXPECT_EQ(kMinBlockSize, 4096u);
  EXPECT_EQ(kMaxBlockSize, 4194304u);
  EXPECT_EQ(kFeaturesOffered, 0x1f7fu);
  EXPECT_EQ(static_cast<uint64_t>(kFeatureChanges), 0x1000u);
  EXPECT_EQ(kOpenChanges, 0x400);
  EXPECT_EQ(kOpenOkChangesMask, 0x0f00);
  EXPECT_EQ(kMaxChangeRangesPerFrame, 65536u);
  EXPECT_EQ(kMaxChangeRanges, 262144u);
  EXPECT_EQ(static_cast<uint64_t>(kFeatureGenerations), 0x200u);
  EXPECT_EQ(static_cast<uint64_t>(kFeatureRollback), 0x400u);
  EXPECT_EQ(static_cast<uint64_t>(kFeatureUndoCap), 0x800u);
  EXPECT_EQ(static_cast<uint64_t>(kFeatureKeepalive), 0x20u);
  EXPECT_EQ(static_cast<uint64_t>(kFeatureStop), 0x40u);
  EXPECT_EQ(static_cast<uint64_t>(kFeatureSourceFacts), 0x100u);
  EXPECT_EQ(kOpenOkKnownFlags, 0x0ff1);
  EXPECT_EQ(kOpenKnownFlags, 0x07ff);
  EXPECT_EQ(kOpenKeepCache, 0x200);
  EXPECT_EQ(kOpenNoUndo, 0x80);
  EXPECT_EQ(static_cast<uint64_t>(kFeatureLanes), 0x10u);
  EXPECT_EQ(kOpenLanes, 0x40);
  EXPECT_EQ(kLaneTokenBytes, 16u);
  EXPECT_EQ(kMaxLanes, 64);
  EXPECT_EQ(kMaxLaneSegment, 1048576u);
  EXPECT_EQ(kVerifyRegionBytes, 64ull << 20);
  EXPECT_EQ(kVerifyDigestsPerFrame, 1024u);
  EXPECT_EQ(static_cast<uint64_t>(kFeatureZstd), 0x8u);
  EXPECT_EQ(hash_length(HashKind::kXxh3_128), 16u);
  EXPECT_EQ(hash_length(HashKind::kSha256), 32u);
  const std::map<MsgType, uint8_t> codes = {
      {MsgType::kHello, 0x01},      {MsgType::kOpen, 0x02},         {MsgType::kOpenOk, 0x03},
      {MsgType::kLanes, 0x04},      {MsgType::kLanesStart, 0x05},   {MsgType::kHash, 0x10},
      {MsgType::kRollback, 0x06},   {MsgType::kRollbackDone, 0x07}, {MsgType::kHashZero, 0x11},
      {MsgType::kHashEnd, 0x12},    {MsgType::kData, 0x20},         {MsgType::kHole, 0x21},
      {MsgType::kCheckpoint, 0x30}, {MsgType::kResume, 0x13},       {MsgType::kVerifyDigests, 0x50},
      {MsgType::kVerifyEnd, 0x51},  {MsgType::kAck, 0x31},          {MsgType::kDone, 0x40},
      {MsgType::kSummary, 0x41},    {MsgType::kStop, 0x32},         {MsgType::kKeepalive, 0x60},
      {MsgType::kError, 0x7f}};
  for (const auto& [type, code] : codes) EXPECT_EQ(static_cast<uint8_t>(type), code);
}

std::filesystem::path repo_root() {
  // __FILE__ is tests/unit/golden_vectors_test.cpp under the repository root.
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
}

// Extracts the "; golden: NAME" blocks of PROTOCOL.md.
std::map<std::string, Bytes> document_vectors(const std::string& doc) {
  std::map<std::string, Bytes> out;
  std::istringstream lines(doc);
  std::string line, name, block;
  const std::string marker = "; golden: ";
  while (std::getline(lines, line)) {
    if (line.rfind(marker, 0) == 0) {
      name = line.substr(marker.size());
      block.clear();
    } else if (!name.empty() && line.rfind("```", 0) == 0) {
      out[name] = parse_hex(block);
      name.clear();
    } else if (!name.empty()) {
      block += line + "\n";
    }
  }
  return out;
}

std::string protocol_document() {
  std::ifstream in(repo_root() / "proto" / "PROTOCOL.md");
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// The type codes of §2's `type = ...` rule, continuation lines included.
std::set<int> grammar_types(const std::string& doc) {
  std::set<int> out;
  std::istringstream lines(doc);
  std::string line;
  bool in_rule = false;
  while (std::getline(lines, line)) {
    if (line.rfind("type ", 0) == 0 && line.find('=') != std::string::npos) {
      in_rule = true;
    } else if (in_rule && line.find_first_not_of(' ') != std::string::npos &&
               line[line.find_first_not_of(' ')] != '/') {
      break;
    }
    if (!in_rule) continue;
    const std::string rule = line.substr(0, line.find(';'));
    for (size_t at = rule.find("%x"); at != std::string::npos; at = rule.find("%x", at + 2)) {
      out.insert(std::stoi(rule.substr(at + 2, 2), nullptr, 16));
    }
  }
  return out;
}

// §2's grammar names exactly the types the frame decoder accepts: a type
// the code knows and the grammar omits (LANES and LANES_START once were)
// fails here, as does one the grammar lists and the decoder rejects.
TEST(GoldenVectors, FramingGrammarListsExactlyTheTypesTheDecoderAccepts) {
  const std::set<int> listed = grammar_types(protocol_document());
  ASSERT_FALSE(listed.empty()) << "no `type = ...` rule found in PROTOCOL.md §2";
  for (int code = 0; code < 256; ++code) {
    uint8_t header[kFrameHeaderSize]{static_cast<uint8_t>(code), 0, 0, 0, 0, 0, 0, 0};
    FrameHeader h;
    const bool accepted = decode_header(header, &h).is_ok();
    EXPECT_EQ(accepted, listed.count(code) == 1) << "type 0x" << std::hex << code;
  }
}

TEST(GoldenVectors, DocumentMatches) {
  const auto path = repo_root() / "proto" / "PROTOCOL.md";
  const std::string doc = protocol_document();
  ASSERT_FALSE(doc.empty()) << "cannot read " << path;
  const auto vectors = document_vectors(doc);
  ASSERT_EQ(vectors.size(), golden_hex().size()) << "golden blocks in " << path;
  for (const auto& [name, hex] : golden_hex()) {
    auto it = vectors.find(name);
    ASSERT_NE(it, vectors.end()) << "PROTOCOL.md lacks the golden block " << name;
    EXPECT_EQ(it->second, parse_hex(hex)) << "PROTOCOL.md golden block " << name << " differs";
  }
}

TEST(GoldenVectors, FuzzSeedsMatch) {
  for (const auto& [name, hex] : golden_hex()) {
    std::string file = name;
    for (char& c : file) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const auto path = repo_root() / "tests" / "fuzz" / "corpus" / (file + ".bin");
    std::ifstream in(path, std::ios::binary);
    ASSERT_TRUE(in.good()) << "cannot read " << path;
    Bytes bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(bytes, parse_hex(hex)) << path;
  }
}

}  // namespace
}  // namespace sparsync::proto
