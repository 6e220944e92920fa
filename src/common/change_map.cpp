#include "common/change_map.h"

#include <algorithm>

namespace sparsync {

void ChangeMap::reset(uint64_t image_size) {
  image_size_ = image_size;
  uint64_t cells = std::min<uint64_t>(kMaxCells, image_size);
  cell_bytes_ = cells == 0 ? 1 : (image_size + cells - 1) / cells;
  cells_.assign(cells == 0 ? 0 : (image_size + cell_bytes_ - 1) / cell_bytes_, Cell::kUnchanged);
}

void ChangeMap::mark(uint64_t offset, uint64_t length, Cell cell) {
  if (length == 0 || offset >= image_size_) return;
  uint64_t last = std::min(offset + length, image_size_) - 1;
  for (uint64_t i = offset / cell_bytes_; i <= last / cell_bytes_ && i < cells_.size(); ++i) {
    // A cell that only ever saw zeros shows as zeros; anything else wins.
    if (cell == Cell::kZero) {
      if (cells_[i] == Cell::kUnchanged) cells_[i] = Cell::kZero;
    } else if (cells_[i] == Cell::kZero || cell > cells_[i]) {
      cells_[i] = cell;
    }
  }
}

std::vector<std::pair<ChangeMap::Cell, uint64_t>> ChangeMap::runs() const {
  std::vector<std::pair<Cell, uint64_t>> out;
  for (Cell c : cells_) {
    if (!out.empty() && out.back().first == c) {
      ++out.back().second;
    } else {
      out.emplace_back(c, 1);
    }
  }
  return out;
}

std::string ChangeMap::render(size_t width) const {
  std::string line;
  if (cells_.empty() || width == 0) return line;
  static const char glyph[] = {' ', '.', '~', '#'};
  for (size_t col = 0; col < width; ++col) {
    size_t from = col * cells_.size() / width;
    size_t to = std::max(from + 1, (col + 1) * cells_.size() / width);
    Cell best = cells_[from];
    for (size_t i = from; i < to && i < cells_.size(); ++i) {
      Cell c = cells_[i];
      if (best == Cell::kZero || (c != Cell::kZero && c > best)) best = c;
    }
    line += glyph[static_cast<int>(best)];
  }
  return line;
}

const char* ChangeMap::name(Cell cell) {
  switch (cell) {
    case Cell::kZero:
      return "zero";
    case Cell::kUnchanged:
      return "unchanged";
    case Cell::kHole:
      return "zeroed";
    case Cell::kData:
      return "data";
  }
  return "unknown";
}

}  // namespace sparsync
