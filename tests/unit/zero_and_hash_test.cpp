#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/block_hash.h"
#include "common/xxh3_avx2.h"

#include <xxhash.h>

namespace sparsync {
namespace {

std::string hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

TEST(IsAllZero, EmptyAndAllZero) {
  std::vector<uint8_t> z(65536, 0);
  EXPECT_TRUE(is_all_zero(z.data(), 0));
  for (size_t len : {1, 2, 15, 16, 17, 31, 32, 33, 4095, 4096, 65536}) EXPECT_TRUE(is_all_zero(z.data(), len)) << len;
}

TEST(IsAllZero, OneByteSetAnywhere) {
  for (size_t len : {1, 2, 15, 16, 17, 32, 33, 4096, 4097, 65536}) {
    std::vector<size_t> positions{0, len / 2, len - 1};
    for (size_t extra : {15, 16, 17})
      if (extra < len) positions.push_back(extra);
    for (size_t pos : positions) {
      std::vector<uint8_t> b(len, 0);
      b[pos] = 0x80;
      EXPECT_FALSE(is_all_zero(b.data(), len)) << "len " << len << " pos " << pos;
    }
  }
}

TEST(IsAllZero, OnlyLooksAtTheGivenLength) {
  std::vector<uint8_t> b(4096, 0);
  b[100] = 1;
  EXPECT_TRUE(is_all_zero(b.data(), 100));
  EXPECT_FALSE(is_all_zero(b.data(), 101));
  EXPECT_TRUE(is_all_zero(b.data() + 101, 4096 - 101));
}

TEST(IsAllZero, PeriodicNonZeroDataIsNotZero) {
  // A block equal to itself shifted by 16 bytes but non-zero after the probe.
  std::vector<uint8_t> b(4096, 7);
  std::fill(b.begin(), b.begin() + 16, 0);
  EXPECT_FALSE(is_all_zero(b.data(), b.size()));
}

TEST(DigestBlock, LengthsPerKind) {
  EXPECT_EQ(proto::hash_length(proto::HashKind::kXxh3_128), 16u);
  EXPECT_EQ(proto::hash_length(proto::HashKind::kSha256), 32u);
  // xxh3 writes exactly 16 bytes: the sentinel after it survives.
  std::vector<uint8_t> data(4096, 0x5a);
  uint8_t out[kMaxDigest + 1];
  std::fill(std::begin(out), std::end(out), 0xEE);
  digest_block(proto::HashKind::kXxh3_128, data.data(), data.size(), out);
  for (size_t i = 16; i < sizeof(out); ++i) EXPECT_EQ(out[i], 0xEE) << i;
  std::fill(std::begin(out), std::end(out), 0xEE);
  digest_block(proto::HashKind::kSha256, data.data(), data.size(), out);
  EXPECT_EQ(out[32], 0xEE);
}

TEST(DigestBlock, Sha256KnownAnswers) {
  uint8_t out[32];
  std::vector<uint8_t> zero(4096, 0);
  digest_block(proto::HashKind::kSha256, zero.data(), zero.size(), out);
  // head -c 4096 /dev/zero | sha256sum
  EXPECT_EQ(hex(out, 32), "ad7facb2586fc6e966c004d7d1d16b024f5805ff7cb47c7a85dabd8b48892ca7");
  const uint8_t abc[] = {'a', 'b', 'c'};
  digest_block(proto::HashKind::kSha256, abc, 3, out);
  EXPECT_EQ(hex(out, 32), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(DigestBlock, Xxh3KnownAnswerForEmptyInput) {
  // XXH3_128bits("") canonical form, from the xxHash reference test vectors:
  // high 0x99aa06d3014798d8, low 0x6001c324468d497f.
  uint8_t out[16];
  digest_block(proto::HashKind::kXxh3_128, nullptr, 0, out);
  EXPECT_EQ(hex(out, 16), "99aa06d3014798d86001c324468d497f");
}

// The AVX2 path must give libxxhash's digest at every length class XXH3
// treats differently (0-16, 17-128, 129-240, long, long with a partial
// stripe), or two hosts with different CPUs would see every block as changed.
TEST(DigestBlock, Avx2PathMatchesTheLibrary) {
  if (!xxh3_avx2_built() || !__builtin_cpu_supports("avx2")) GTEST_SKIP() << "no AVX2 on this CPU or build";
  std::vector<uint8_t> data((1 << 20) + 77);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>((i * 2654435761u) >> 13);
  for (size_t len : {size_t{0}, size_t{1}, size_t{16}, size_t{17}, size_t{128}, size_t{129}, size_t{240}, size_t{241},
                     size_t{1000}, size_t{4096}, size_t{65536}, data.size()}) {
    XXH128_canonical_t want;
    XXH128_canonicalFromHash(&want, XXH3_128bits(data.data(), len));
    uint8_t got[16];
    xxh3_128_avx2(data.data(), len, got);
    EXPECT_EQ(hex(got, 16), hex(want.digest, 16)) << len;
    digest_block(proto::HashKind::kXxh3_128, data.data(), len, got);
    EXPECT_EQ(hex(got, 16), hex(want.digest, 16)) << len;
  }
}

TEST(DigestBlock, DeterministicAndSensitiveToEveryByte) {
  for (auto kind : {proto::HashKind::kXxh3_128, proto::HashKind::kSha256}) {
    const size_t n = proto::hash_length(kind);
    std::vector<uint8_t> data(4096);
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i * 31 + 7);
    uint8_t a[kMaxDigest], b[kMaxDigest];
    digest_block(kind, data.data(), data.size(), a);
    digest_block(kind, data.data(), data.size(), b);
    EXPECT_EQ(hex(a, n), hex(b, n));
    for (size_t pos : {size_t{0}, size_t{2048}, size_t{4095}}) {
      auto changed = data;
      changed[pos] ^= 1;
      digest_block(kind, changed.data(), changed.size(), b);
      EXPECT_NE(hex(a, n), hex(b, n)) << pos;
    }
    // A short (tail) block hashes differently from the same bytes plus zeros.
    std::vector<uint8_t> padded(data.begin(), data.begin() + 1000);
    digest_block(kind, padded.data(), padded.size(), a);
    padded.resize(4096, 0);
    digest_block(kind, padded.data(), padded.size(), b);
    EXPECT_NE(hex(a, n), hex(b, n));
  }
}

}  // namespace
}  // namespace sparsync
