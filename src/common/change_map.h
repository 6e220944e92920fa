// ChangeMap: where on the disk a run changed things, at a fixed resolution
// (at most kMaxCells cells, whatever the image size), for --map. Each cell
// keeps the most significant thing that happened in it:
//   data written  >  zeroed (sent as a hole)  >  unchanged  >  zeros/holes
// Thread-safety: written by one engine thread during the run, read after the
// session ends; not for concurrent use.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace sparsync {

class ChangeMap {
 public:
  enum class Cell : uint8_t { kZero = 0, kUnchanged = 1, kHole = 2, kData = 3 };
  static constexpr size_t kMaxCells = 4096;

  // `image_size` may be set later (pull: known only after OPEN_OK).
  explicit ChangeMap(uint64_t image_size = 0) { reset(image_size); }
  void reset(uint64_t image_size);

  void mark(uint64_t offset, uint64_t length, Cell cell);

  uint64_t image_size() const { return image_size_; }
  uint64_t cell_bytes() const { return cell_bytes_; }
  const std::vector<Cell>& cells() const { return cells_; }
  // Consecutive equal cells merged: (cell, count).
  std::vector<std::pair<Cell, uint64_t>> runs() const;
  // `width` characters, each the most significant of the cells it covers:
  // '#' data, '~' zeroed, '.' unchanged, ' ' zeros/holes.
  std::string render(size_t width) const;

  static const char* name(Cell cell);

 private:
  uint64_t image_size_ = 0;
  uint64_t cell_bytes_ = 1;
  std::vector<Cell> cells_;
};

}  // namespace sparsync
