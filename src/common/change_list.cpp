#include "common/change_list.h"

#include <algorithm>

namespace sparsync {

ChangeList::ChangeList(size_t max_ranges) : max_ranges_(std::max<size_t>(max_ranges, 2)) {}

void ChangeList::add(uint64_t offset, uint64_t length) {
  if (length == 0) return;
  if (!ranges_.empty() && offset < ranges_.back().offset) {
    ranges_.push_back({offset, length});
    std::sort(ranges_.begin(), ranges_.end(),
              [](const ByteRange& a, const ByteRange& b) { return a.offset < b.offset; });
    remerge(merged_gap_);
    coarsen();
    return;
  }
  if (!ranges_.empty() && offset <= ranges_.back().end() + merged_gap_) {
    ByteRange& last = ranges_.back();
    last.length = std::max(last.end(), offset + length) - last.offset;
    return;
  }
  ranges_.push_back({offset, length});
  coarsen();
}

void ChangeList::align(uint32_t block_size, uint64_t image_size) {
  for (ByteRange& r : ranges_) {
    uint64_t first = r.offset / block_size * block_size;
    uint64_t end = std::min(image_size, (r.end() + block_size - 1) / block_size * block_size);
    r = {first, end > first ? end - first : 0};
  }
  std::erase_if(ranges_, [](const ByteRange& r) { return r.length == 0; });
  remerge(merged_gap_);
}

uint64_t ChangeList::bytes() const {
  uint64_t sum = 0;
  for (const ByteRange& r : ranges_) sum += r.length;
  return sum;
}

void ChangeList::coarsen() {
  if (ranges_.size() <= max_ranges_) return;
  // Halve the list at least, so that coarsening stays rare as ranges keep
  // coming: each pass doubles the gap that is merged over.
  uint64_t gap = merged_gap_ == 0 ? 4096 : merged_gap_;
  while (ranges_.size() > max_ranges_ / 2) {
    gap *= 2;
    remerge(gap);
  }
}

// Merges neighbours whose gap is at most `gap` (touching and overlapping ones
// always).
void ChangeList::remerge(uint64_t gap) {
  merged_gap_ = gap;
  size_t out = 0;
  for (size_t i = 0; i < ranges_.size(); ++i) {
    if (out > 0 && ranges_[i].offset <= ranges_[out - 1].end() + gap) {
      ByteRange& last = ranges_[out - 1];
      last.length = std::max(last.end(), ranges_[i].end()) - last.offset;
    } else {
      ranges_[out++] = ranges_[i];
    }
  }
  ranges_.resize(out);
}

}  // namespace sparsync
