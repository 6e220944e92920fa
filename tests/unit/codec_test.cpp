// Payload codecs (common/proto/messages.h) and the frame header codec
// (common/proto/frame_codec.h) against proto/PROTOCOL.md §1–§5: round trips with
// edge values, and the rejections the spec requires (truncated payloads,
// trailing bytes, bad magic, unknown enum values and flag bits, empty runs,
// count/length mismatches, over-long strings, bad frame headers). Every
// rejection must be a kProtocol status. The byte-exact golden frames are in
// golden_vectors_test.cpp; this file covers the edges around them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "common/byte_codec.h"
#include "common/proto/frame_codec.h"
#include "common/proto/messages.h"
#include "common/proto/protocol_constants.h"
#include "common/status.h"

namespace sparsync::proto {
namespace {

using Bytes = std::vector<uint8_t>;
using DecodeFn = std::function<Status(const Bytes&)>;

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr uint32_t kU32Max = std::numeric_limits<uint32_t>::max();

// A string of n bytes that is not all one value, so a shifted copy shows.
std::string pattern_string(size_t n, char base = 'a') {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(base + i % 26);
  return s;
}

Bytes pattern_bytes(size_t n, uint8_t seed = 0) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed + i * 7 + (i >> 8));
  return b;
}

void expect_protocol_error(const Status& s, const std::string& what) {
  EXPECT_FALSE(s.is_ok()) << what << ": decoded although malformed";
  EXPECT_EQ(s.kind(), ErrorKind::kProtocol) << what << ": " << s.message();
}

// PROTOCOL.md §2 rule 4: every prefix of a valid payload is malformed.
void expect_every_truncation_fails(const Bytes& full, const DecodeFn& dec, const std::string& name,
                                   size_t up_to = SIZE_MAX) {
  ASSERT_TRUE(dec(full).is_ok()) << name << ": the untruncated payload must decode";
  size_t end = std::min(up_to, full.size());
  for (size_t len = 0; len < end; ++len) {
    Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(len));
    Status s = dec(cut);
    EXPECT_FALSE(s.is_ok()) << name << " truncated to " << len << " of " << full.size() << " bytes was accepted";
    EXPECT_EQ(s.kind(), ErrorKind::kProtocol) << name << " truncated to " << len << ": " << s.message();
  }
}

// PROTOCOL.md §2 rule 4: bytes left over after the last field are malformed.
void expect_trailing_byte_fails(const Bytes& full, const DecodeFn& dec, const std::string& name) {
  ASSERT_TRUE(dec(full).is_ok()) << name;
  for (uint8_t extra : {uint8_t{0x00}, uint8_t{0xff}}) {
    Bytes longer = full;
    longer.push_back(extra);
    expect_protocol_error(dec(longer), name + " with a trailing byte");
  }
}

template <typename M>
DecodeFn decoder() {
  return [](const Bytes& p) {
    M m;
    return decode(p, &m);
  };
}

DecodeFn hash_decoder(size_t hash_len) {
  return [hash_len](const Bytes& p) {
    Hash m;
    return decode(p, hash_len, &m);
  };
}

// ---------------------------------------------------------------------------
// Round trips

TEST(CodecRoundTrip, Hello) {
  for (uint16_t version : {uint16_t{0}, uint16_t{1}, uint16_t{0xffff}}) {
    for (uint64_t features : {uint64_t{0}, kFeaturesOffered, kU64Max}) {
      for (size_t len : {size_t{0}, size_t{1}, size_t{kMaxTextBytes}}) {
        Hello in;
        in.version = version;
        in.features = features;
        in.software = pattern_string(len);
        Bytes p = encode(in);
        EXPECT_EQ(p.size(), 20 + 2 + len);
        EXPECT_EQ(0, std::memcmp(p.data(), kHelloMagic, sizeof(kHelloMagic)));
        Hello out;
        out.version = 77;
        out.features = 77;
        out.software = "junk";
        Status s = decode(p, &out);
        ASSERT_TRUE(s.is_ok()) << s.message();
        EXPECT_EQ(out.version, version);
        EXPECT_EQ(out.features, features);
        EXPECT_EQ(out.software, in.software);
      }
    }
  }
}

TEST(CodecRoundTrip, Open) {
  for (Role role : {Role::kServerIsTarget, Role::kServerIsSource}) {
    for (HashKind kind : {HashKind::kXxh3_128, HashKind::kSha256}) {
      for (uint16_t flags : {uint16_t{0}, uint16_t{kOpenDryRun}, uint16_t{kOpenVerify}, uint16_t{kOpenKnownFlags}}) {
        for (size_t len : {size_t{0}, size_t{kMaxPathBytes}}) {
          Open in;
          in.role = role;
          in.hash_kind = kind;
          in.flags = flags;
          in.block_size = len == 0 ? 0 : kU32Max;
          in.source_size = len == 0 ? 0 : kU64Max;
          in.path = pattern_string(len, 'A');
          in.source_id = pattern_string(len == 0 ? 0 : kMaxTextBytes, 'a');
          in.checkpoint_bytes = len == 0 ? 0 : kU64Max;
          in.checkpoint_seconds = len == 0 ? 0 : kU32Max;
          Bytes p = encode(in);
          EXPECT_EQ(p.size(), 16 + 2 + in.path.size() + 2 + in.source_id.size() + 21);
          Open out;
          Status s = decode(p, &out);
          ASSERT_TRUE(s.is_ok()) << s.message();
          EXPECT_EQ(out.role, role);
          EXPECT_EQ(out.hash_kind, kind);
          EXPECT_EQ(out.flags, flags);
          EXPECT_EQ(out.block_size, in.block_size);
          EXPECT_EQ(out.source_size, in.source_size);
          EXPECT_EQ(out.path, in.path);
          EXPECT_EQ(out.source_id, in.source_id);
          EXPECT_EQ(out.checkpoint_bytes, in.checkpoint_bytes);
          EXPECT_EQ(out.checkpoint_seconds, in.checkpoint_seconds);
        }
      }
    }
  }
}

TEST(CodecRoundTrip, OpenOk) {
  for (DeviceKind kind : {DeviceKind::kRegularFile, DeviceKind::kBlockDevice}) {
    for (TargetState state : {TargetState::kExisting, TargetState::kCreated, TargetState::kMissingDryRun}) {
      for (size_t len : {size_t{0}, size_t{kMaxPathBytes}}) {
        OpenOk in;
        in.kind = kind;
        in.state = state;
        in.flags = 0;
        in.size = len == 0 ? 0 : kU64Max;
        in.path = pattern_string(len, 'A');
        in.source_id = pattern_string(len == 0 ? 0 : kMaxTextBytes);
        Bytes p = encode(in);
        EXPECT_EQ(p.size(), 16 + 2 + in.path.size() + 2 + in.source_id.size());
        OpenOk out;
        Status s = decode(p, &out);
        ASSERT_TRUE(s.is_ok()) << s.message();
        EXPECT_EQ(out.kind, kind);
        EXPECT_EQ(out.state, state);
        EXPECT_EQ(out.flags, 0);
        EXPECT_EQ(out.size, in.size);
        EXPECT_EQ(out.path, in.path);
        EXPECT_EQ(out.source_id, in.source_id);
      }
    }
  }
}

TEST(CodecRoundTrip, Hash) {
  for (size_t hash_len : {size_t{16}, size_t{32}}) {
    // One digest, and the most a frame can carry: (kMaxPayload - 16) / L.
    const uint32_t max_count = static_cast<uint32_t>((kMaxPayload - 16) / hash_len);
    for (uint32_t count : {uint32_t{1}, uint32_t{2}, max_count}) {
      for (uint64_t first : {uint64_t{0}, kU64Max}) {
        Hash in;
        in.first_block = first;
        in.count = count;
        in.digests = pattern_bytes(static_cast<size_t>(count) * hash_len, static_cast<uint8_t>(count));
        Bytes p = encode(in);
        ASSERT_EQ(p.size(), 16 + in.digests.size());
        EXPECT_LE(p.size(), kMaxPayload);
        Hash out;
        Status s = decode(p, hash_len, &out);
        ASSERT_TRUE(s.is_ok()) << s.message();
        EXPECT_EQ(out.first_block, first);
        EXPECT_EQ(out.count, count);
        EXPECT_EQ(out.digests, in.digests);
      }
    }
  }
}

TEST(CodecRoundTrip, HashZero) {
  for (uint64_t first : {uint64_t{0}, uint64_t{1}, kU64Max}) {
    for (uint64_t count : {uint64_t{1}, kU64Max}) {
      HashZero in{first, count};
      Bytes p = encode(in);
      EXPECT_EQ(p.size(), 16u);
      HashZero out;
      Status s = decode(p, &out);
      ASSERT_TRUE(s.is_ok()) << s.message();
      EXPECT_EQ(out.first_block, first);
      EXPECT_EQ(out.count, count);
    }
  }
}

TEST(CodecRoundTrip, SingleU64Messages) {
  // HASH_END, RESUME, CHECKPOINT, ACK: one u64 each, 0 is valid for all.
  for (uint64_t v : {uint64_t{0}, uint64_t{1}, uint64_t{0x0102030405060708}, kU64Max}) {
    Bytes expected(8);
    for (int i = 0; i < 8; ++i) expected[i] = static_cast<uint8_t>(v >> (8 * i));
    {
      Bytes p = encode(HashEnd{v});
      EXPECT_EQ(p, expected);
      HashEnd out{123};
      ASSERT_TRUE(decode(p, &out).is_ok());
      EXPECT_EQ(out.total_blocks, v);
    }
    {
      Bytes p = encode(Resume{v});
      EXPECT_EQ(p, expected);
      Resume out{123};
      ASSERT_TRUE(decode(p, &out).is_ok());
      EXPECT_EQ(out.offset, v);
    }
    {
      Bytes p = encode(Checkpoint{v});
      EXPECT_EQ(p, expected);
      Checkpoint out{123};
      ASSERT_TRUE(decode(p, &out).is_ok());
      EXPECT_EQ(out.offset, v);
    }
    {
      Bytes p = encode(Ack{v});
      EXPECT_EQ(p, expected);
      Ack out{123};
      ASSERT_TRUE(decode(p, &out).is_ok());
      EXPECT_EQ(out.offset, v);
    }
  }
}

TEST(CodecRoundTrip, Data) {
  for (uint64_t offset : {uint64_t{0}, kU64Max}) {
    for (size_t n : {size_t{1}, size_t{4096}, size_t{kMaxDataPerFrame}}) {
      Bytes p = encode_data_prefix(offset);
      ASSERT_EQ(p.size(), 8u);
      Bytes body = pattern_bytes(n, 3);
      p.insert(p.end(), body.begin(), body.end());
      DataView out;
      Status s = decode(p, &out);
      ASSERT_TRUE(s.is_ok()) << s.message();
      EXPECT_EQ(out.offset, offset);
      ASSERT_EQ(out.length, n);
      // A view into the payload, not a copy.
      EXPECT_EQ(out.bytes, p.data() + 8);
      EXPECT_EQ(0, std::memcmp(out.bytes, body.data(), n));
    }
  }
}

TEST(CodecRoundTrip, Hole) {
  for (uint64_t offset : {uint64_t{0}, kU64Max}) {
    for (uint64_t length : {uint64_t{1}, kU64Max}) {
      Bytes p = encode(Hole{offset, length});
      EXPECT_EQ(p.size(), 16u);
      Hole out;
      ASSERT_TRUE(decode(p, &out).is_ok());
      EXPECT_EQ(out.offset, offset);
      EXPECT_EQ(out.length, length);
    }
  }
}

TEST(CodecRoundTrip, Done) {
  for (uint64_t v : {uint64_t{0}, kU64Max}) {
    Done in{v, v ^ 1, v ^ 2, v ^ 3, v ^ 4, v ^ 5, v ^ 6};
    Bytes p = encode(in);
    EXPECT_EQ(p.size(), 56u);
    Done out;
    ASSERT_TRUE(decode(p, &out).is_ok());
    EXPECT_EQ(out.final_size, in.final_size);
    EXPECT_EQ(out.bytes_scanned, in.bytes_scanned);
    EXPECT_EQ(out.bytes_read, in.bytes_read);
    EXPECT_EQ(out.data_bytes, in.data_bytes);
    EXPECT_EQ(out.hole_bytes, in.hole_bytes);
    EXPECT_EQ(out.unchanged_blocks, in.unchanged_blocks);
    EXPECT_EQ(out.changed_blocks, in.changed_blocks);
  }
}

TEST(CodecRoundTrip, Summary) {
  for (uint64_t v : {uint64_t{0}, kU64Max}) {
    for (ZeroMethod zm : {ZeroMethod::kNone, ZeroMethod::kPunchHole, ZeroMethod::kZeroRange, ZeroMethod::kBlkZeroOut,
                          ZeroMethod::kWriteZeros}) {
      Summary in{v, v ^ 1, v ^ 2, v ^ 3, v ^ 4, zm};
      Bytes p = encode(in);
      EXPECT_EQ(p.size(), 41u);
      Summary out;
      ASSERT_TRUE(decode(p, &out).is_ok());
      EXPECT_EQ(out.bytes_written, in.bytes_written);
      EXPECT_EQ(out.bytes_zeroed, in.bytes_zeroed);
      EXPECT_EQ(out.blocks_hashed, in.blocks_hashed);
      EXPECT_EQ(out.bytes_hashed, in.bytes_hashed);
      EXPECT_EQ(out.final_size, in.final_size);
      EXPECT_EQ(out.zero_method, zm);
    }
  }
}

TEST(CodecRoundTrip, VerifyDigests) {
  for (uint32_t count : {uint32_t{1}, uint32_t{2}, kVerifyDigestsPerFrame}) {
    for (uint64_t first : {uint64_t{0}, kU64Max}) {
      VerifyDigests in;
      in.first_region = first;
      in.count = count;
      in.digests = pattern_bytes(static_cast<size_t>(count) * 32, 5);
      Bytes p = encode(in);
      ASSERT_EQ(p.size(), 16 + in.digests.size());
      EXPECT_LE(p.size(), kMaxPayload);
      VerifyDigests out;
      Status s = decode(p, &out);
      ASSERT_TRUE(s.is_ok()) << s.message();
      EXPECT_EQ(out.first_region, first);
      EXPECT_EQ(out.count, count);
      EXPECT_EQ(out.digests, in.digests);
    }
  }
}

TEST(CodecRoundTrip, VerifyEnd) {
  for (uint8_t fill : {uint8_t{0x00}, uint8_t{0xff}}) {
    VerifyEnd in;
    std::memset(in.digest, fill, sizeof(in.digest));
    in.digest[0] = 0x5a;
    in.digest[31] = 0xa5;
    Bytes p = encode(in);
    ASSERT_EQ(p.size(), 32u);
    VerifyEnd out;
    ASSERT_TRUE(decode(p, &out).is_ok());
    EXPECT_EQ(0, std::memcmp(out.digest, in.digest, 32));
  }
}

TEST(CodecRoundTrip, Error) {
  for (ErrorCode code : {ErrorCode::kInternal, ErrorCode::kUsage, ErrorCode::kSource, ErrorCode::kTarget,
                         ErrorCode::kConnection, ErrorCode::kProtocol, ErrorCode::kVerify, ErrorCode::kInterrupted}) {
    for (size_t len : {size_t{0}, size_t{kMaxTextBytes}}) {
      Error in{code, pattern_string(len)};
      Bytes p = encode(in);
      EXPECT_EQ(p.size(), 2 + 2 + len);
      Error out;
      Status s = decode(p, &out);
      ASSERT_TRUE(s.is_ok()) << s.message();
      EXPECT_EQ(out.code, code);
      EXPECT_EQ(out.message, in.message);
    }
  }
}

TEST(CodecRoundTrip, ErrorLongMessageIsCutTo4096) {
  // §5: a sender MUST cut a longer message to 4096 bytes.
  Error in{ErrorCode::kTarget, pattern_string(kMaxTextBytes + 1000)};
  Bytes p = encode(in);
  EXPECT_EQ(p.size(), 2 + 2 + kMaxTextBytes);
  Error out;
  ASSERT_TRUE(decode(p, &out).is_ok());
  EXPECT_EQ(out.message, in.message.substr(0, kMaxTextBytes));
}

TEST(CodecRoundTrip, ErrorUnknownCodeBecomesInternal) {
  // §5: an unknown code is treated as 1 (internal), not rejected.
  for (uint16_t code : {uint16_t{0}, uint16_t{9}, uint16_t{0xffff}}) {
    ByteWriter w;
    w.u16(code);
    w.str("why");
    Error out;
    Status s = decode(w.take(), &out);
    ASSERT_TRUE(s.is_ok()) << code << ": " << s.message();
    EXPECT_EQ(out.code, ErrorCode::kInternal) << code;
    EXPECT_EQ(out.message, "why");
  }
}

TEST(CodecRoundTrip, Rollback) {
  for (RollbackToKind kind : {RollbackToKind::kInterrupted, RollbackToKind::kRunsBack, RollbackToKind::kTime}) {
    for (uint64_t value : {uint64_t{0}, uint64_t{1}, kU64Max}) {
      for (size_t len : {size_t{0}, size_t{1}, size_t{kMaxPathBytes}}) {
        Rollback in{kind, value, pattern_string(len)};
        Bytes p = encode(in);
        EXPECT_EQ(p.size(), 1 + 8 + 2 + len);
        Rollback out;
        Status s = decode(p, &out);
        ASSERT_TRUE(s.is_ok()) << s.message();
        EXPECT_EQ(out.to_kind, kind);
        EXPECT_EQ(out.to_value, value);
        EXPECT_EQ(out.path, in.path);
      }
    }
  }
}

TEST(CodecRoundTrip, RollbackDoneLongReportIsCutTo4096) {
  for (size_t len : {size_t{0}, size_t{kMaxTextBytes}, size_t{kMaxTextBytes + 1000}}) {
    RollbackDone in{pattern_string(len)};
    Bytes p = encode(in);
    EXPECT_EQ(p.size(), 2 + std::min<size_t>(len, kMaxTextBytes));
    RollbackDone out;
    ASSERT_TRUE(decode(p, &out).is_ok());
    EXPECT_EQ(out.report, in.report.substr(0, kMaxTextBytes));
  }
}

TEST(CodecRoundTrip, ReservedPayloadFieldsAreIgnored) {
  // §1: version 1 ignores non-zero reserved fields inside payloads.
  Bytes hello = encode(Hello{1, 7, "x"});
  hello[10] = 0xaa;
  hello[11] = 0xbb;
  Hello h;
  EXPECT_TRUE(decode(hello, &h).is_ok());

  Bytes hash = encode(Hash{3, 1, Bytes(16, 9)});
  hash[12] = 0xff;
  Hash hh;
  EXPECT_TRUE(decode(hash, 16, &hh).is_ok());
  EXPECT_EQ(hh.first_block, 3u);
}

// ---------------------------------------------------------------------------
// Rejections: truncation and trailing bytes, for every message

TEST(CodecReject, TruncatedAndTrailingHello) {
  Bytes p = encode(Hello{1, kFeaturesOffered, "sparsync 0.1.0"});
  expect_every_truncation_fails(p, decoder<Hello>(), "HELLO");
  expect_trailing_byte_fails(p, decoder<Hello>(), "HELLO");
}

TEST(CodecReject, TruncatedAndTrailingOpen) {
  Open m;
  m.role = Role::kServerIsSource;
  m.hash_kind = HashKind::kSha256;
  m.flags = kOpenDryRun | kOpenVerify;
  m.block_size = 4096;
  m.source_size = 18432;
  m.path = "/srv/vm1.img";
  m.source_id = "f:2049:131:1700000000";
  Bytes p = encode(m);
  expect_every_truncation_fails(p, decoder<Open>(), "OPEN");
  expect_trailing_byte_fails(p, decoder<Open>(), "OPEN");
}

TEST(CodecReject, TruncatedAndTrailingOpenOk) {
  OpenOk m;
  m.kind = DeviceKind::kBlockDevice;
  m.state = TargetState::kCreated;
  m.size = 18432;
  m.path = "/dev/sdz";
  m.source_id = "id";
  Bytes p = encode(m);
  expect_every_truncation_fails(p, decoder<OpenOk>(), "OPEN_OK");
  expect_trailing_byte_fails(p, decoder<OpenOk>(), "OPEN_OK");
}

TEST(CodecReject, TruncatedAndTrailingRollback) {
  Bytes p = encode(Rollback{RollbackToKind::kRunsBack, 2, "/srv/vm1.img"});
  expect_every_truncation_fails(p, decoder<Rollback>(), "ROLLBACK");
  expect_trailing_byte_fails(p, decoder<Rollback>(), "ROLLBACK");
  Bytes done = encode(RollbackDone{"rolled back /srv/vm1.img"});
  expect_every_truncation_fails(done, decoder<RollbackDone>(), "ROLLBACK_DONE");
  expect_trailing_byte_fails(done, decoder<RollbackDone>(), "ROLLBACK_DONE");
}

// §4.18 rule 2: to_kind above 2, and a path or report over its limit.
TEST(CodecReject, RollbackUnknownKindAndOverLongStrings) {
  Bytes good = encode(Rollback{RollbackToKind::kInterrupted, 0, "/srv/vm1.img"});
  for (int kind : {3, 4, 0x80, 0xff}) {
    Bytes bad = good;
    bad[0] = static_cast<uint8_t>(kind);
    expect_protocol_error(decoder<Rollback>()(bad), "ROLLBACK to_kind " + std::to_string(kind));
  }
  expect_protocol_error(
      decoder<Rollback>()(encode(Rollback{RollbackToKind::kInterrupted, 0, pattern_string(kMaxPathBytes + 1)})),
      "ROLLBACK path of 4097 bytes");
  ByteWriter w;  // ROLLBACK_DONE's encoder cuts, so build the over-long one by hand.
  w.str(pattern_string(kMaxTextBytes + 1));
  expect_protocol_error(decoder<RollbackDone>()(w.take()), "ROLLBACK_DONE report of 4097 bytes");
  ByteWriter count;  // a count past the bytes there
  count.u16(10);
  count.str("abc");
  expect_protocol_error(decoder<RollbackDone>()(count.take()), "ROLLBACK_DONE count > remaining");
}

TEST(CodecReject, TruncatedAndTrailingHash) {
  for (size_t hash_len : {size_t{16}, size_t{32}}) {
    Bytes p = encode(Hash{7, 3, pattern_bytes(3 * hash_len)});
    expect_every_truncation_fails(p, hash_decoder(hash_len), "HASH/" + std::to_string(hash_len));
    expect_trailing_byte_fails(p, hash_decoder(hash_len), "HASH/" + std::to_string(hash_len));
  }
}

TEST(CodecReject, TruncatedAndTrailingFixedSizeMessages) {
  struct Case {
    const char* name;
    Bytes payload;
    DecodeFn dec;
  };
  VerifyEnd ve;
  std::memset(ve.digest, 0x42, sizeof(ve.digest));
  const Case cases[] = {
      {"HASH_ZERO", encode(HashZero{1, 2}), decoder<HashZero>()},
      {"HASH_END", encode(HashEnd{5}), decoder<HashEnd>()},
      {"RESUME", encode(Resume{8192}), decoder<Resume>()},
      {"HOLE", encode(Hole{12288, 4096}), decoder<Hole>()},
      {"CHECKPOINT", encode(Checkpoint{16384}), decoder<Checkpoint>()},
      {"ACK", encode(Ack{16384}), decoder<Ack>()},
      {"DONE", encode(Done{1, 2, 3, 4, 5, 6, 7}), decoder<Done>()},
      {"SUMMARY", encode(Summary{1, 2, 3, 4, 5, ZeroMethod::kWriteZeros}), decoder<Summary>()},
      {"VERIFY_DIGESTS", encode(VerifyDigests{0, 2, pattern_bytes(64)}), decoder<VerifyDigests>()},
      {"VERIFY_END", encode(ve), decoder<VerifyEnd>()},
      {"ERROR", encode(Error{ErrorCode::kTarget, "no space left on device"}), decoder<Error>()},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    expect_every_truncation_fails(c.payload, c.dec, c.name);
    expect_trailing_byte_fails(c.payload, c.dec, c.name);
  }
}

TEST(CodecReject, TruncatedData) {
  // DATA's tail is "the rest of the payload": the offset cut short, or an
  // offset with no byte after it, is malformed (§4.6: 8 bytes or fewer).
  Bytes p = encode_data_prefix(4096);
  p.push_back(0xde);
  expect_every_truncation_fails(p, decoder<DataView>(), "DATA");
}

// ---------------------------------------------------------------------------
// Rejections: specific fields

TEST(CodecReject, HelloBadMagic) {
  Bytes good = encode(Hello{1, 7, "sparsync 0.1.0"});
  for (size_t i = 0; i < sizeof(kHelloMagic); ++i) {
    Bytes bad = good;
    bad[i] ^= 0x20;  // "Sparsync", "sPansync", ...
    // Built with append: GCC 12 warns falsely (-Warray-bounds) on "literal" + std::string&&.
    expect_protocol_error(decoder<Hello>()(bad),
                          std::string("HELLO with magic byte ").append(std::to_string(i)).append(" changed"));
  }
  // Something that printed to stdout before the server spoke.
  std::string banner = "Welcome to host\n";
  Bytes text(banner.begin(), banner.end());
  Hello h;
  Status s = decode(text, &h);
  expect_protocol_error(s, "HELLO from a shell banner");
  EXPECT_NE(s.message().find("magic"), std::string::npos) << s.message();
}

TEST(CodecReject, OpenUnknownRole) {
  Open m;
  m.path = "/x";
  Bytes good = encode(m);
  ASSERT_TRUE(decoder<Open>()(good).is_ok());
  for (uint8_t role : {uint8_t{0}, uint8_t{3}, uint8_t{0xff}}) {
    Bytes bad = good;
    bad[0] = role;
    expect_protocol_error(decoder<Open>()(bad), "OPEN role " + std::to_string(role));
  }
}

TEST(CodecReject, OpenUnknownHashKind) {
  Open m;
  m.path = "/x";
  Bytes good = encode(m);
  for (uint8_t kind : {uint8_t{0}, uint8_t{3}, uint8_t{0xff}}) {
    Bytes bad = good;
    bad[1] = kind;
    expect_protocol_error(decoder<Open>()(bad), "OPEN hash kind " + std::to_string(kind));
  }
}

TEST(CodecReject, OpenUnknownFlagBits) {
  // §4.1: unknown OPEN.flags bits MUST be rejected; every known bit passes.
  for (int bit = 0; bit < 16; ++bit) {
    Open m;
    m.path = "/x";
    m.flags = static_cast<uint16_t>(1u << bit);
    Status s = decoder<Open>()(encode(m));
    if ((1u << bit) & kOpenKnownFlags) {
      EXPECT_TRUE(s.is_ok()) << "known flag bit " << bit << ": " << s.message();
    } else {
      expect_protocol_error(s, "OPEN flag bit " + std::to_string(bit));
    }
  }
  Open m;
  m.flags = 0xffff;
  expect_protocol_error(decoder<Open>()(encode(m)), "OPEN flags 0xffff");
}

TEST(CodecReject, OpenOkUnknownKindOrState) {
  OpenOk m;
  Bytes good = encode(m);
  ASSERT_TRUE(decoder<OpenOk>()(good).is_ok());
  for (uint8_t kind : {uint8_t{0}, uint8_t{3}, uint8_t{0xff}}) {
    Bytes bad = good;
    bad[0] = kind;
    expect_protocol_error(decoder<OpenOk>()(bad), "OPEN_OK kind " + std::to_string(kind));
  }
  for (uint8_t state : {uint8_t{3}, uint8_t{0xff}}) {
    Bytes bad = good;
    bad[1] = state;
    expect_protocol_error(decoder<OpenOk>()(bad), "OPEN_OK state " + std::to_string(state));
  }
}

TEST(CodecReject, HashDigestBytesDoNotMatchCount) {
  for (size_t hash_len : {size_t{16}, size_t{32}}) {
    SCOPED_TRACE(hash_len);
    // count 2 with 1, 3 digests' worth, one byte short, one byte over.
    for (size_t have : {hash_len, 3 * hash_len, 2 * hash_len - 1, 2 * hash_len + 1, size_t{0}}) {
      ByteWriter w;
      w.u64(0);
      w.u32(2);
      w.u32(0);
      Bytes d = pattern_bytes(have);
      w.bytes(d.data(), d.size());
      expect_protocol_error(hash_decoder(hash_len)(w.take()),
                            "HASH count 2 with " + std::to_string(have) + " digest bytes");
    }
    // Digests sized for the other hash kind.
    Bytes other = encode(Hash{0, 2, pattern_bytes(2 * (hash_len == 16 ? 32 : 16))});
    expect_protocol_error(hash_decoder(hash_len)(other), "HASH with the other kind's digests");
    // A count so large that count * L would not fit any frame.
    ByteWriter w;
    w.u64(0);
    w.u32(kU32Max);
    w.u32(0);
    Bytes d = pattern_bytes(hash_len);
    w.bytes(d.data(), d.size());
    expect_protocol_error(hash_decoder(hash_len)(w.take()), "HASH count 0xffffffff");
  }
}

TEST(CodecReject, HashCountZero) {
  for (size_t hash_len : {size_t{16}, size_t{32}}) {
    expect_protocol_error(hash_decoder(hash_len)(encode(Hash{0, 0, {}})), "HASH count 0");
    expect_protocol_error(hash_decoder(hash_len)(encode(Hash{0, 0, pattern_bytes(hash_len)})),
                          "HASH count 0 with a digest");
  }
}

TEST(CodecReject, HoleEmpty) {
  expect_protocol_error(decoder<Hole>()(encode(Hole{0, 0})), "HOLE length 0");
  expect_protocol_error(decoder<Hole>()(encode(Hole{kU64Max, 0})), "HOLE length 0 at max offset");
}

TEST(CodecReject, HashZeroCountZero) {
  expect_protocol_error(decoder<HashZero>()(encode(HashZero{0, 0})), "HASH_ZERO count 0");
  expect_protocol_error(decoder<HashZero>()(encode(HashZero{kU64Max, 0})), "HASH_ZERO count 0 at max block");
}

TEST(CodecReject, DataEmptyOrTooLarge) {
  Bytes empty = encode_data_prefix(0);
  expect_protocol_error(decoder<DataView>()(empty), "DATA with no bytes");

  Bytes max = encode_data_prefix(0);
  max.resize(8 + kMaxDataPerFrame, 0xab);
  EXPECT_TRUE(decoder<DataView>()(max).is_ok());
  Bytes over = max;
  over.push_back(0xab);
  expect_protocol_error(decoder<DataView>()(over), "DATA with kMaxDataPerFrame + 1 bytes");
  over.resize(kMaxPayload, 0xab);
  expect_protocol_error(decoder<DataView>()(over), "DATA filling kMaxPayload");
}

TEST(CodecReject, VerifyDigestsCount) {
  expect_protocol_error(decoder<VerifyDigests>()(encode(VerifyDigests{0, 0, {}})), "VERIFY_DIGESTS count 0");
  // Over the per-frame limit, even with the digest bytes to match.
  const uint32_t over = kVerifyDigestsPerFrame + 1;
  VerifyDigests m{0, over, pattern_bytes(static_cast<size_t>(over) * 32)};
  expect_protocol_error(decoder<VerifyDigests>()(encode(m)), "VERIFY_DIGESTS count 1025");
  // Digest bytes not matching the count.
  expect_protocol_error(decoder<VerifyDigests>()(encode(VerifyDigests{0, 2, pattern_bytes(32)})),
                        "VERIFY_DIGESTS count 2 with one digest");
  expect_protocol_error(decoder<VerifyDigests>()(encode(VerifyDigests{0, 1, pattern_bytes(16)})),
                        "VERIFY_DIGESTS with a 16-byte digest");
}

TEST(CodecReject, SummaryUnknownZeroMethod) {
  for (uint8_t zm : {uint8_t{5}, uint8_t{0xff}}) {
    Bytes p = encode(Summary{});
    p.back() = zm;
    expect_protocol_error(decoder<Summary>()(p), "SUMMARY zero_method " + std::to_string(zm));
  }
}

// A string field whose u16 count exceeds the bytes left in the payload.
TEST(CodecReject, StringLengthBeyondPayload) {
  {  // HELLO.software claims 10 bytes, 5 follow.
    ByteWriter w;
    w.bytes(kHelloMagic, sizeof(kHelloMagic));
    w.u16(1);
    w.u16(0);
    w.u64(7);
    w.u16(10);
    w.bytes("abcde", 5);
    expect_protocol_error(decoder<Hello>()(w.take()), "HELLO software count > remaining");
  }
  {  // OPEN.path claims more than is left, with source_id absent.
    Open m;
    m.path = "/srv/vm1.img";
    Bytes p = encode(m);
    p[16] = 0xff;  // path count low byte: 0x00ff = 255 > remaining
    expect_protocol_error(decoder<Open>()(p), "OPEN path count > remaining");
  }
  {  // OPEN.source_id count one larger than the bytes present.
    Open m;
    m.path = "/p";
    m.source_id = "abc";
    Bytes p = encode(m);
    p[16 + 2 + 2] = 4;
    expect_protocol_error(decoder<Open>()(p), "OPEN source_id count > remaining");
  }
  {  // OPEN_OK.path
    OpenOk m;
    m.path = "/p";
    Bytes p = encode(m);
    p[16] = 200;
    expect_protocol_error(decoder<OpenOk>()(p), "OPEN_OK path count > remaining");
  }
  {  // ERROR.message claims 0xffff bytes, 3 follow.
    ByteWriter w;
    w.u16(4);
    w.u16(0xffff);
    w.bytes("abc", 3);
    expect_protocol_error(decoder<Error>()(w.take()), "ERROR message count > remaining");
  }
}

// A string field whose count exceeds its limit, even with all bytes present.
TEST(CodecReject, StringLengthAboveLimit) {
  const std::string too_long = pattern_string(kMaxTextBytes + 1);
  {
    Hello m{1, 7, too_long};
    Bytes p = encode(m);  // the encoder writes what it is given
    ASSERT_EQ(p.size(), 22 + too_long.size());
    expect_protocol_error(decoder<Hello>()(p), "HELLO software of 4097 bytes");
  }
  {
    Open m;
    m.path = pattern_string(kMaxPathBytes + 1);
    expect_protocol_error(decoder<Open>()(encode(m)), "OPEN path of 4097 bytes");
  }
  {
    Open m;
    m.path = "/p";
    m.source_id = too_long;
    expect_protocol_error(decoder<Open>()(encode(m)), "OPEN source_id of 4097 bytes");
  }
  {
    OpenOk m;
    m.path = pattern_string(kMaxPathBytes + 1);
    expect_protocol_error(decoder<OpenOk>()(encode(m)), "OPEN_OK path of 4097 bytes");
  }
  {
    OpenOk m;
    m.source_id = too_long;
    expect_protocol_error(decoder<OpenOk>()(encode(m)), "OPEN_OK source_id of 4097 bytes");
  }
  {  // ERROR's encoder cuts, so build the over-long one by hand.
    ByteWriter w;
    w.u16(4);
    w.str(too_long);
    expect_protocol_error(decoder<Error>()(w.take()), "ERROR message of 4097 bytes");
  }
}

// ---------------------------------------------------------------------------
// Frame header (frame_codec)

const MsgType kAllTypes[] = {
    MsgType::kHello,      MsgType::kOpen,     MsgType::kOpenOk,       MsgType::kHash,       MsgType::kHashZero,
    MsgType::kHashEnd,    MsgType::kResume,   MsgType::kData,         MsgType::kHole,       MsgType::kDataZstd,
    MsgType::kCheckpoint, MsgType::kAck,      MsgType::kDone,         MsgType::kSummary,    MsgType::kVerifyDigests,
    MsgType::kVerifyEnd,  MsgType::kError,    MsgType::kLanes,        MsgType::kLanesStart, MsgType::kStop,
    MsgType::kKeepalive,  MsgType::kRollback, MsgType::kRollbackDone, MsgType::kChanges,    MsgType::kHashSkip,
};

bool is_known(uint8_t t) {
  for (MsgType k : kAllTypes) {
    if (static_cast<uint8_t>(k) == t) return true;
  }
  return false;
}

TEST(CodecFrameHeader, EncodeLayout) {
  uint8_t h[kFrameHeaderSize];
  encode_header(MsgType::kData, 0x04030201u, h);
  const uint8_t expected[kFrameHeaderSize] = {0x20, 0, 0, 0, 0x01, 0x02, 0x03, 0x04};
  EXPECT_EQ(0, std::memcmp(h, expected, sizeof(h)));
}

TEST(CodecFrameHeader, EveryKnownTypeAccepted) {
  ASSERT_EQ(std::size(kAllTypes), 25u);  // PROTOCOL.md §2 table
  for (MsgType type : kAllTypes) {
    for (uint32_t length : {uint32_t{0}, uint32_t{1}, uint32_t{0x12345}, kMaxPayload}) {
      uint8_t h[kFrameHeaderSize];
      encode_header(type, length, h);
      FrameHeader out;
      Status s = decode_header(h, &out);
      ASSERT_TRUE(s.is_ok()) << msg_type_name(type) << " length " << length << ": " << s.message();
      EXPECT_EQ(out.type, type);
      EXPECT_EQ(out.length, length);
    }
    EXPECT_STRNE(msg_type_name(type), "UNKNOWN");
  }
}

TEST(CodecFrameHeader, UnknownTypesRejected) {
  int rejected = 0;
  for (int t = 0; t < 256; ++t) {
    if (is_known(static_cast<uint8_t>(t))) continue;
    const uint8_t h[kFrameHeaderSize] = {static_cast<uint8_t>(t), 0, 0, 0, 8, 0, 0, 0};
    FrameHeader out;
    Status s = decode_header(h, &out);
    expect_protocol_error(s, "frame type " + std::to_string(t));
    ++rejected;
  }
  EXPECT_EQ(rejected, 256 - 25);
}

TEST(CodecFrameHeader, UnknownTypeNamedInHex) {
  const uint8_t h[kFrameHeaderSize] = {0x99, 0, 0, 0, 0, 0, 0, 0};
  FrameHeader out;
  Status s = decode_header(h, &out);
  ASSERT_FALSE(s.is_ok());
  EXPECT_NE(s.message().find("0x99"), std::string::npos) << s.message();
}

TEST(CodecFrameHeader, NonZeroReservedBytesRejected) {
  for (MsgType type : {MsgType::kHello, MsgType::kData, MsgType::kError}) {
    for (int pos = 1; pos <= 3; ++pos) {
      for (uint8_t v : {uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
        uint8_t h[kFrameHeaderSize];
        encode_header(type, 16, h);
        h[pos] = v;
        FrameHeader out;
        expect_protocol_error(decode_header(h, &out),
                              "reserved byte " + std::to_string(pos) + " = " + std::to_string(v));
      }
    }
  }
}

TEST(CodecFrameHeader, LengthLimit) {
  for (MsgType type : kAllTypes) {
    uint8_t h[kFrameHeaderSize];
    FrameHeader out;
    encode_header(type, kMaxPayload, h);
    EXPECT_TRUE(decode_header(h, &out).is_ok()) << msg_type_name(type);
    EXPECT_EQ(out.length, kMaxPayload);
    for (uint32_t bad : {kMaxPayload + 1, kMaxPayload * 2, 0x80000000u, kU32Max}) {
      encode_header(type, bad, h);
      expect_protocol_error(decode_header(h, &out),
                            std::string(msg_type_name(type)) + " length " + std::to_string(bad));
    }
  }
  EXPECT_EQ(kMaxPayload, 1052672u);  // §2 rule 1: 0x00101000
}

}  // namespace
}  // namespace sparsync::proto
