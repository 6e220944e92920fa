// ChangeList: the byte ranges of an image that may have changed since the
// last completed run, as a change tracker (a dirty bitmap, a reflink
// reference, stored digests) reports them; both engines confine a run to
// them (proto/PROTOCOL.md §4.19). Kept sorted, non-overlapping and
// coalesced, and bounded: past `max_ranges` ranges, neighbours with the
// smallest gaps are merged (the gap doubling each time), so the list only
// ever grows into a superset of what was added, never loses a byte of it.
// Thread-safety: none; one owner.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace sparsync {

struct ByteRange {
  uint64_t offset = 0;
  uint64_t length = 0;
  uint64_t end() const { return offset + length; }
  bool operator==(const ByteRange&) const = default;
};

class ChangeList {
 public:
  // The wire's bound (proto::kMaxChangeRanges): 4 MiB of ranges.
  static constexpr size_t kDefaultMaxRanges = 262144;

  explicit ChangeList(size_t max_ranges = kDefaultMaxRanges);

  // Ranges arrive in increasing offset order (an overlapping or touching one
  // is merged); an empty one is ignored. Out of order is a caller's bug and
  // is merged correctly but slowly (the list is re-sorted).
  void add(uint64_t offset, uint64_t length);
  // Every range widened to whole blocks of `block_size`, clipped to
  // `image_size`, and merged again.
  void align(uint32_t block_size, uint64_t image_size);

  const std::vector<ByteRange>& ranges() const { return ranges_; }
  bool empty() const { return ranges_.empty(); }
  size_t size() const { return ranges_.size(); }
  uint64_t bytes() const;  // the sum of the lengths
  // The smallest gap left between ranges; 0 while nothing was coarsened.
  uint64_t merged_gap() const { return merged_gap_; }

 private:
  void coarsen();
  void remerge(uint64_t gap);

  size_t max_ranges_;
  uint64_t merged_gap_ = 0;
  std::vector<ByteRange> ranges_;
};

}  // namespace sparsync
