#include "common/change_list.h"

#include <gtest/gtest.h>

namespace sparsync {
namespace {

TEST(ChangeList, MergesTouchingAndOverlappingRanges) {
  ChangeList list;
  list.add(0, 4096);
  list.add(4096, 4096);
  list.add(6000, 10000);
  list.add(65536, 1);
  list.add(70000, 0);
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list.ranges()[0], (ByteRange{0, 16000}));
  EXPECT_EQ(list.ranges()[1], (ByteRange{65536, 1}));
  EXPECT_EQ(list.bytes(), 16001u);
}

TEST(ChangeList, OutOfOrderRangesAreSortedAndMerged) {
  ChangeList list;
  list.add(8192, 4096);
  list.add(0, 4096);
  list.add(4096, 4096);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list.ranges()[0], (ByteRange{0, 12288}));
}

TEST(ChangeList, AlignWidensToBlocksAndClipsAtTheImageEnd) {
  ChangeList list;
  list.add(100, 10);
  list.add(70000, 20000);
  list.align(65536, 80000);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list.ranges()[0], (ByteRange{0, 80000}));
}

TEST(ChangeList, CoarsensPastItsBoundIntoASuperset) {
  ChangeList list(64);
  std::vector<ByteRange> added;
  for (uint64_t i = 0; i < 1000; ++i) {
    ByteRange r{i * 100000 + (i % 7) * 4096, 4096 + (i % 3) * 512};
    added.push_back(r);
    list.add(r.offset, r.length);
  }
  EXPECT_LE(list.size(), 64u);
  EXPECT_GT(list.merged_gap(), 0u);
  // Every byte added is still covered.
  for (const ByteRange& r : added) {
    bool covered = false;
    for (const ByteRange& c : list.ranges()) covered |= c.offset <= r.offset && r.end() <= c.end();
    EXPECT_TRUE(covered) << r.offset;
  }
  for (size_t i = 1; i < list.size(); ++i) EXPECT_GT(list.ranges()[i].offset, list.ranges()[i - 1].end());
}

}  // namespace
}  // namespace sparsync
