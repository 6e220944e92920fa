// Extent mapping (FileDevice::next_extent) on real sparse files.
#include <gtest/gtest.h>

#include <vector>

#include "common/device.h"
#include "support/files.h"
#include "support/sizes.h"

namespace sparsync {
namespace {

using testing::kKiB;
using testing::kMiB;
using testing::SparseImage;
using testing::TempDir;

class Extents : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::supports_holes(dir_.path())) {
      GTEST_SKIP() << "the filesystem of " << dir_.path() << " does not report holes (SEEK_DATA)";
    }
  }

  std::vector<Extent> map(const std::string& path, uint64_t from = 0, uint64_t end = UINT64_MAX) {
    auto opened = FileDevice::open(path, false, ErrorKind::kSource);
    EXPECT_TRUE(opened.is_ok()) << opened.status().message();
    std::vector<Extent> out;
    if (!opened.is_ok()) return out;
    auto dev = opened.take();
    if (end == UINT64_MAX) end = dev->size();
    for (uint64_t pos = from; pos < end;) {
      Extent e;
      Status s = dev->next_extent(pos, end, &e);
      EXPECT_TRUE(s.is_ok()) << s.message();
      if (!s.is_ok() || e.length == 0) break;
      EXPECT_EQ(e.offset, pos);
      // Adjacent extents of the same kind are merged for comparison.
      if (!out.empty() && out.back().hole == e.hole) {
        out.back().length += e.length;
      } else {
        out.push_back(e);
      }
      pos += e.length;
    }
    return out;
  }

  static void expect(const std::vector<Extent>& got, const std::vector<Extent>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_EQ(got[i].offset, want[i].offset) << i;
      EXPECT_EQ(got[i].length, want[i].length) << i;
      EXPECT_EQ(got[i].hole, want[i].hole) << i;
    }
  }

  TempDir dir_;
};

TEST_F(Extents, DataHoleData) {
  SparseImage img(dir_.file("a"), 4 * kMiB);
  img.data(0, 64 * kKiB).data(3 * kMiB, 64 * kKiB);
  expect(map(img.path()), {{0, 64 * kKiB, false},
                           {64 * kKiB, 3 * kMiB - 64 * kKiB, true},
                           {3 * kMiB, 64 * kKiB, false},
                           {3 * kMiB + 64 * kKiB, kMiB - 64 * kKiB, true}});
}

TEST_F(Extents, HoleDataHoleAtEnd) {
  SparseImage img(dir_.file("a"), 2 * kMiB);
  img.data(kMiB, 4 * kKiB);
  expect(map(img.path()), {{0, kMiB, true}, {kMiB, 4 * kKiB, false}, {kMiB + 4 * kKiB, kMiB - 4 * kKiB, true}});
}

TEST_F(Extents, FullySparse) {
  SparseImage img(dir_.file("a"), 8 * kMiB);
  expect(map(img.path()), {{0, 8 * kMiB, true}});
}

TEST_F(Extents, Dense) {
  SparseImage img(dir_.file("a"), kMiB);
  img.data(0, kMiB);
  expect(map(img.path()), {{0, kMiB, false}});
}

TEST_F(Extents, DenseWithUnalignedTail) {
  SparseImage img(dir_.file("a"), kMiB + 123);
  img.data(0, kMiB + 123);
  expect(map(img.path()), {{0, kMiB + 123, false}});
}

TEST_F(Extents, DataEndsInUnalignedTailAfterHole) {
  SparseImage img(dir_.file("a"), kMiB + 123);
  img.data(kMiB + 100, 23);
  // The filesystem allocates the whole last page: data from kMiB to the end.
  expect(map(img.path()), {{0, kMiB, true}, {kMiB, 123, false}});
}

TEST_F(Extents, WrittenZerosAreDataNotHoles) {
  SparseImage img(dir_.file("a"), kMiB);
  img.zeros(256 * kKiB, 64 * kKiB);
  expect(map(img.path()), {{0, 256 * kKiB, true}, {256 * kKiB, 64 * kKiB, false}, {320 * kKiB, 704 * kKiB, true}});
}

TEST_F(Extents, ClippedToTheRequestedEnd) {
  SparseImage img(dir_.file("a"), 4 * kMiB);
  img.data(kMiB, kMiB);
  // Starting inside a hole, ending inside data.
  expect(map(img.path(), 512 * kKiB, kMiB + 4 * kKiB), {{512 * kKiB, 512 * kKiB, true}, {kMiB, 4 * kKiB, false}});
  // Starting inside data, ending inside the trailing hole.
  expect(map(img.path(), kMiB + 8 * kKiB, 3 * kMiB),
         {{kMiB + 8 * kKiB, kMiB - 8 * kKiB, false}, {2 * kMiB, kMiB, true}});
}

TEST_F(Extents, PunchedHoleInTheMiddle) {
  SparseImage img(dir_.file("a"), kMiB);
  img.data(0, kMiB).hole(256 * kKiB, 512 * kKiB);
  expect(map(img.path()), {{0, 256 * kKiB, false}, {256 * kKiB, 512 * kKiB, true}, {768 * kKiB, 256 * kKiB, false}});
}

}  // namespace
}  // namespace sparsync
