// ChangeMap (common/change_map.h) and the --map output built on it
// (app/map_output.h): cell size, marking precedence, runs, rendering.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "app/map_output.h"
#include "common/change_map.h"
#include "support/sizes.h"

namespace sparsync {
namespace {

using testing::kMiB;

using Cell = ChangeMap::Cell;

TEST(ChangeMapTest, CellSizeIsFixedResolution) {
  ChangeMap small(10);
  EXPECT_EQ(small.cells().size(), 10u);
  EXPECT_EQ(small.cell_bytes(), 1u);
  ChangeMap big(64 * kMiB);
  EXPECT_EQ(big.cells().size(), ChangeMap::kMaxCells);
  EXPECT_EQ(big.cell_bytes(), 16u * 1024);
  // Not a multiple: the last cell is short, and there is never a cell more.
  ChangeMap odd(ChangeMap::kMaxCells * 3 + 1);
  EXPECT_EQ(odd.cell_bytes(), 4u);
  EXPECT_LE(odd.cells().size(), ChangeMap::kMaxCells);
  EXPECT_GE(odd.cells().size() * odd.cell_bytes(), odd.image_size());
  ChangeMap empty;
  EXPECT_TRUE(empty.cells().empty());
  EXPECT_EQ(empty.render(10), "");
  EXPECT_TRUE(empty.runs().empty());
}

TEST(ChangeMapTest, MarkKeepsTheMostSignificant) {
  ChangeMap m(8);
  for (Cell c : m.cells()) EXPECT_EQ(c, Cell::kUnchanged);
  m.mark(0, 2, Cell::kZero);  // cells 0,1 zero
  m.mark(1, 2, Cell::kHole);  // 1,2 zeroed (beats zero and unchanged)
  m.mark(2, 1, Cell::kData);  // 2 data beats zeroed
  m.mark(2, 1, Cell::kHole);  // ... and stays data
  m.mark(3, 1, Cell::kData);
  m.mark(3, 1, Cell::kZero);    // zero never overrides a change
  m.mark(5, 100, Cell::kZero);  // clipped at the image end
  m.mark(8, 4, Cell::kData);    // past the end: ignored
  m.mark(4, 0, Cell::kData);    // empty: ignored
  std::vector<Cell> want = {Cell::kZero,      Cell::kHole, Cell::kData, Cell::kData,
                            Cell::kUnchanged, Cell::kZero, Cell::kZero, Cell::kZero};
  EXPECT_EQ(m.cells(), want);
}

TEST(ChangeMapTest, RunsMergeEqualNeighbours) {
  ChangeMap m(8);
  m.mark(0, 2, Cell::kData);
  m.mark(5, 3, Cell::kZero);
  std::vector<std::pair<Cell, uint64_t>> want = {{Cell::kData, 2}, {Cell::kUnchanged, 3}, {Cell::kZero, 3}};
  EXPECT_EQ(m.runs(), want);
  EXPECT_STREQ(ChangeMap::name(Cell::kData), "data");
  EXPECT_STREQ(ChangeMap::name(Cell::kHole), "zeroed");
  EXPECT_STREQ(ChangeMap::name(Cell::kUnchanged), "unchanged");
  EXPECT_STREQ(ChangeMap::name(Cell::kZero), "zero");
}

TEST(ChangeMapTest, RenderMergesCellsPerColumn) {
  ChangeMap m(8);
  m.mark(0, 1, Cell::kHole);
  m.mark(4, 4, Cell::kZero);
  m.mark(7, 1, Cell::kData);
  EXPECT_EQ(m.render(8), "~...   #");
  // Two cells a column: a change anywhere in a column shows.
  EXPECT_EQ(m.render(4), "~. #");
  EXPECT_EQ(m.render(1), "#");
  // Wider than the cells: columns repeat them.
  EXPECT_EQ(m.render(16), "~~......      ##");
}

TEST(ChangeMapTest, FirstAndLastMiBOf64MiB) {
  ChangeMap m(64 * kMiB);
  m.mark(0, kMiB, Cell::kData);
  m.mark(63 * kMiB, kMiB, Cell::kData);
  // Built with append: GCC 12 warns falsely (-Warray-bounds) on "literal" + std::string&&.
  std::string middle(62, '.');
  EXPECT_EQ(m.render(64), std::string("#").append(middle).append("#"));
  EXPECT_EQ(map_text(m, 66), std::string("[#").append(middle).append(
                                 "#]\nmap: 64.0 MiB, one column ~ 1.00 MiB: '#' data written, '~' zeroed, "
                                 "'.' unchanged, ' ' zeros on both sides\n"));
  nlohmann::json j = map_json(m);
  EXPECT_EQ(j.dump(), R"({"cell_bytes":16384,"runs":[["data",64],["unchanged",3968],["data",64]]})");
}

TEST(MapOutputTest, ReportSaysWhyADryRunPullHasNoMap) {
  ChangeMap m(8);
  SyncRequest r;
  EXPECT_EQ(map_report(r, 80), "");  // no --map
  r.change_map = &m;
  EXPECT_EQ(map_report(r, 10), map_text(m, 10));
  r.pull = true;
  r.dry_run = true;
  EXPECT_EQ(map_report(r, 10), "map: not available for a dry-run pull (the far side plans and sends no operations)\n");
  std::string bar = "[";
  bar += m.render(78);
  bar += ']';
  EXPECT_EQ(map_text(m, 0).substr(0, 80), bar);  // 0 columns: 80
}

}  // namespace
}  // namespace sparsync
