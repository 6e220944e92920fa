// End to end: holes that begin or end inside a block (issue 15, item 15).
// With -b 64K or -b 1M on a filesystem of 4 KiB blocks, one sync block can
// be part hole and part data on either side. A target hasher that counted
// such a block as zeros synced "16 blocks unchanged", exited 0, and cmp
// found the target different at byte 4097. Each case here builds real
// sparse images, runs the built binary with both hash kinds, and checks
// the exit code, the bytes (first_difference) and the summary's figures;
// then runs again and expects nothing left to send.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/units.h"
#include "support/command.h"
#include "support/files.h"
#include "support/sizes.h"

namespace sparsync {
namespace partial_block {
namespace {

using testing::kKiB;
using testing::kMiB;
using testing::SparseImage;
using testing::TempDir;

constexpr uint64_t kFs = 4 * kKiB;  // the filesystem block, the hole granularity

struct Params {
  const char* block;  // as given to -b
  uint64_t bytes;
  const char* checksum;
};

std::string params_name(const ::testing::TestParamInfo<Params>& info) {
  return std::string(info.param.block) + "_" + info.param.checksum;
}

// What the summary must say.
struct Want {
  uint64_t changed = 0, unchanged = 0;
  uint64_t data = 0, holes = 0;
};

class PartialBlock : public ::testing::TestWithParam<Params> {
 protected:
  void SetUp() override {
    if (!testing::supports_holes(dir_.path())) {
      GTEST_SKIP() << "the filesystem of " << dir_.path() << " does not report holes (SEEK_DATA)";
    }
    b_ = GetParam().bytes;
  }

  // Syncs src onto dst; exit 0, identical bytes, and exactly these figures.
  // Then once more: everything unchanged.
  void sync_and_check(const std::string& src, const std::string& dst, const Want& want) {
    const std::vector<std::string> args{"-b", GetParam().block, "--checksum", GetParam().checksum, src, dst};
    testing::CommandResult r = testing::run_sparsync(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto diff = testing::first_difference(src, dst);
    EXPECT_FALSE(diff.has_value()) << "exit 0, but the target differs at byte " << *diff;
    auto s = testing::parse_summary(r.out);
    ASSERT_TRUE(s.has_value()) << "no summary in: " << r.out;
    EXPECT_EQ(s->changed, want.changed) << r.out;
    EXPECT_EQ(s->unchanged, want.unchanged) << r.out;
    EXPECT_EQ(s->data, format_bytes(want.data)) << r.out;
    EXPECT_EQ(s->holes, format_bytes(want.holes)) << r.out;

    r = testing::run_sparsync(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    s = testing::parse_summary(r.out);
    ASSERT_TRUE(s.has_value()) << "no summary in: " << r.out;
    EXPECT_EQ(s->changed, 0u) << "a second run found more to send: " << r.out;
    EXPECT_EQ(s->unchanged, want.changed + want.unchanged) << r.out;
  }

  TempDir dir_;
  uint64_t b_ = 0;
};

// The case: the target's block 5 is a hole for 4 KiB, then data;
// the source is zero there. The target must hash that block, not call it
// zero, so that the source sends a HOLE over it.
TEST_P(PartialBlock, TargetDataAfterAHoleInsideABlockIsZeroed) {
  SparseImage src(dir_.file("src.img"), 16 * b_);
  src.data(0, 5 * b_, 1).data(6 * b_, 10 * b_, 1);
  SparseImage dst(dir_.file("dst.img"), 16 * b_);
  dst.data(0, 5 * b_, 1).data(5 * b_ + kFs, b_ - kFs, 2).data(6 * b_, 10 * b_, 1);
  sync_and_check(src.path(), dst.path(), Want{1, 15, 0, b_});
}

// The reverse: the source's block 5 is a hole for 4 KiB, then data; the
// target is a hole there. The source must read and send that block.
TEST_P(PartialBlock, SourceDataAfterAHoleInsideABlockIsSent) {
  SparseImage src(dir_.file("src.img"), 16 * b_);
  src.data(0, 5 * b_, 1).data(5 * b_ + kFs, b_ - kFs, 2).data(6 * b_, 10 * b_, 1);
  SparseImage dst(dir_.file("dst.img"), 16 * b_);
  dst.data(0, 5 * b_, 1).data(6 * b_, 10 * b_, 1);
  sync_and_check(src.path(), dst.path(), Want{1, 15, b_, 0});
}

// Holes that start inside a block, on each side, and one that runs from
// inside a block into the next; between them, blocks that stay.
TEST_P(PartialBlock, HolesStartingInsideBlocks) {
  const uint64_t size = 12 * b_;
  SparseImage src(dir_.file("src.img"), size);
  src.data(0, size, 1)
      .hole(2 * b_, b_)                      // block 2: zero
      .hole(4 * b_, 3 * b_)                  // blocks 4-6: zero
      .hole(8 * b_ + 2 * kFs, b_ - 2 * kFs)  // block 8: data, then a hole to its end
      .hole(10 * b_, b_);                    // block 10: zero
  SparseImage dst(dir_.file("dst.img"), size);
  dst.data(0, size, 1)
      .data(2 * b_, 2 * kFs, 3)
      .hole(2 * b_ + 2 * kFs, b_ - 2 * kFs)  // block 2: other data, then a hole
      .hole(4 * b_, b_)
      .data(5 * b_ - kFs, kFs, 4)      // block 4: a hole, then its last 4 KiB data
      .hole(6 * b_ - kFs, 2 * kFs)     // blocks 5-6: data, a hole across the boundary, data
      .hole(8 * b_, b_)                // block 8: zero
      .hole(10 * b_ + kFs, b_ - kFs);  // block 10: 4 KiB of data, then a hole
  // HOLE over blocks 2, 4-6 and 10; DATA for block 8; 0, 1, 3, 7, 9, 11 stay.
  sync_and_check(src.path(), dst.path(), Want{6, 6, b_, 5 * b_});
}

// Equal bytes with the holes in different places are unchanged: the part
// of a block that is hole on one side is written zeros on the other.
TEST_P(PartialBlock, SameBytesWithHolesElsewhereAreUnchanged) {
  const uint64_t size = 8 * b_;
  SparseImage src(dir_.file("src.img"), size);
  src.data(0, size, 1).hole(b_, kFs).hole(3 * b_ + 2 * kFs, b_ - 2 * kFs).hole(6 * b_ - kFs, 2 * kFs);
  SparseImage dst(dir_.file("dst.img"), size);
  dst.data(0, size, 1).zeros(b_, kFs).zeros(3 * b_ + 2 * kFs, b_ - 2 * kFs).zeros(6 * b_ - kFs, 2 * kFs);
  sync_and_check(src.path(), dst.path(), Want{0, 8, 0, 0});
  // And the other way round.
  sync_and_check(dst.path(), src.path(), Want{0, 8, 0, 0});
}

// The short last block: hole then data on the source over a hole on the
// target (the source must read it), and the reverse (the target must hash it).
TEST_P(PartialBlock, ShortLastBlockHalfHole) {
  const uint64_t size = 3 * b_ + b_ / 2 + 100;
  const uint64_t last = size - 3 * b_;
  SparseImage hole_then_data(dir_.file("a.img"), size);
  hole_then_data.data(0, 3 * b_, 1).data(3 * b_ + kFs, last - kFs, 2);
  SparseImage all_hole(dir_.file("b.img"), size);
  all_hole.data(0, 3 * b_, 1);
  SparseImage target(dir_.file("t1.img"), size);
  target.data(0, 3 * b_, 1);
  sync_and_check(hole_then_data.path(), target.path(), Want{1, 3, last, 0});
  SparseImage target2(dir_.file("t2.img"), size);
  target2.data(0, 3 * b_, 1).data(3 * b_ + kFs, last - kFs, 2);
  sync_and_check(all_hole.path(), target2.path(), Want{1, 3, 0, last});
}

INSTANTIATE_TEST_SUITE_P(LargerThanTheFilesystemBlock, PartialBlock,
                         ::testing::Values(Params{"64K", 64 * kKiB, "xxh3"}, Params{"64K", 64 * kKiB, "sha256"},
                                           Params{"1M", kMiB, "xxh3"}, Params{"1M", kMiB, "sha256"}),
                         params_name);

}  // namespace
}  // namespace partial_block
}  // namespace sparsync
