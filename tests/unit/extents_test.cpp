// Extent mapping (FileDevice::next_extent) on real sparse files.
#include <gtest/gtest.h>

#include <vector>

#include "common/device.h"
#include "support/files.h"

namespace sparsync {
namespace {

using testing::SparseImage;
using testing::TempDir;

constexpr uint64_t kK = 1024, kM = 1024 * 1024;

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
  SparseImage img(dir_.file("a"), 4 * kM);
  img.data(0, 64 * kK).data(3 * kM, 64 * kK);
  expect(map(img.path()), {{0, 64 * kK, false}, {64 * kK, 3 * kM - 64 * kK, true},
                           {3 * kM, 64 * kK, false}, {3 * kM + 64 * kK, kM - 64 * kK, true}});
}

TEST_F(Extents, HoleDataHoleAtEnd) {
  SparseImage img(dir_.file("a"), 2 * kM);
  img.data(kM, 4 * kK);
  expect(map(img.path()), {{0, kM, true}, {kM, 4 * kK, false}, {kM + 4 * kK, kM - 4 * kK, true}});
}

TEST_F(Extents, FullySparse) {
  SparseImage img(dir_.file("a"), 8 * kM);
  expect(map(img.path()), {{0, 8 * kM, true}});
}

TEST_F(Extents, Dense) {
  SparseImage img(dir_.file("a"), kM);
  img.data(0, kM);
  expect(map(img.path()), {{0, kM, false}});
}

TEST_F(Extents, DenseWithUnalignedTail) {
  SparseImage img(dir_.file("a"), kM + 123);
  img.data(0, kM + 123);
  expect(map(img.path()), {{0, kM + 123, false}});
}

TEST_F(Extents, DataEndsInUnalignedTailAfterHole) {
  SparseImage img(dir_.file("a"), kM + 123);
  img.data(kM + 100, 23);
  // The filesystem allocates the whole last page: data from kM to the end.
  expect(map(img.path()), {{0, kM, true}, {kM, 123, false}});
}

TEST_F(Extents, WrittenZerosAreDataNotHoles) {
  SparseImage img(dir_.file("a"), kM);
  img.zeros(256 * kK, 64 * kK);
  expect(map(img.path()), {{0, 256 * kK, true}, {256 * kK, 64 * kK, false}, {320 * kK, 704 * kK, true}});
}

TEST_F(Extents, ClippedToTheRequestedEnd) {
  SparseImage img(dir_.file("a"), 4 * kM);
  img.data(kM, kM);
  // Starting inside a hole, ending inside data.
  expect(map(img.path(), 512 * kK, kM + 4 * kK), {{512 * kK, 512 * kK, true}, {kM, 4 * kK, false}});
  // Starting inside data, ending inside the trailing hole.
  expect(map(img.path(), kM + 8 * kK, 3 * kM), {{kM + 8 * kK, kM - 8 * kK, false}, {2 * kM, kM, true}});
}

TEST_F(Extents, PunchedHoleInTheMiddle) {
  SparseImage img(dir_.file("a"), kM);
  img.data(0, kM).hole(256 * kK, 512 * kK);
  expect(map(img.path()), {{0, 256 * kK, false}, {256 * kK, 512 * kK, true}, {768 * kK, 256 * kK, false}});
}

}  // namespace
}  // namespace sparsync
