#include "source/reflink_changes.h"

#include <linux/fiemap.h>
#include <linux/fs.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

namespace sparsync {
namespace {

// Flags under which an extent's physical address does not identify its
// bytes (see the header).
constexpr uint32_t kOpaqueFlags = FIEMAP_EXTENT_UNKNOWN | FIEMAP_EXTENT_DELALLOC | FIEMAP_EXTENT_ENCODED |
                                  FIEMAP_EXTENT_DATA_ENCRYPTED | FIEMAP_EXTENT_NOT_ALIGNED | FIEMAP_EXTENT_DATA_INLINE |
                                  FIEMAP_EXTENT_DATA_TAIL | FIEMAP_EXTENT_MERGED;

// What one file holds from an offset on, up to `end`.
struct Piece {
  uint64_t end = 0;
  bool mapped = false;     // false: a hole
  uint64_t physical = 0;   // at the offset asked for
  bool unwritten = false;  // allocated, reads as zeros
  bool opaque = false;     // the physical address says nothing
};

// One file's extent map, read a batch at a time as the offsets asked for
// move forward.
class FiemapWalk {
 public:
  FiemapWalk(int fd, uint64_t size, const char* what) : fd_(fd), size_(size), what_(what), map_(alloc()) {}

  // The piece at `pos` (pos < size, never smaller than the last one asked).
  Status at(uint64_t pos, Piece* out) {
    for (;;) {
      while (next_ < map_->fm_mapped_extents && extent_end(map_->fm_extents[next_]) <= pos) ++next_;
      if (next_ < map_->fm_mapped_extents) break;
      if (done_) {
        *out = Piece{.end = size_};
        return Status::ok();
      }
      SPARSYNC_RETURN_IF_ERROR(refill(pos));
    }
    const fiemap_extent& e = map_->fm_extents[next_];
    if (e.fe_logical > pos) {
      *out = Piece{.end = std::min<uint64_t>(e.fe_logical, size_)};
      return Status::ok();
    }
    *out = Piece{.end = std::min(extent_end(e), size_),
                 .mapped = true,
                 .physical = e.fe_physical + (pos - e.fe_logical),
                 .unwritten = (e.fe_flags & FIEMAP_EXTENT_UNWRITTEN) != 0,
                 .opaque = (e.fe_flags & kOpaqueFlags) != 0};
    return Status::ok();
  }

 private:
  struct Free {
    void operator()(fiemap* m) const { ::operator delete(m); }
  };

  static std::unique_ptr<fiemap, Free> alloc() {
    const size_t bytes = sizeof(fiemap) + kFiemapBatch * sizeof(fiemap_extent);
    void* raw = ::operator new(bytes);
    std::memset(raw, 0, bytes);  // no extents yet: the first at() reads a batch
    return std::unique_ptr<fiemap, Free>(static_cast<fiemap*>(raw));
  }

  static uint64_t extent_end(const fiemap_extent& e) {
    const uint64_t end = e.fe_logical + e.fe_length;
    return end < e.fe_logical ? UINT64_MAX : end;
  }

  // The next batch: the extents that reach past `pos`.
  Status refill(uint64_t pos) {
    *map_ = fiemap{};
    map_->fm_start = pos;
    map_->fm_length = size_ - pos;
    // Only the first call needs to flush: nobody writes a reference, and
    // each flush walks the page cache of the whole file again.
    map_->fm_flags = first_ ? FIEMAP_FLAG_SYNC : 0;
    map_->fm_extent_count = kFiemapBatch;
    first_ = false;
    if (::ioctl(fd_, FS_IOC_FIEMAP, map_.get()) != 0) {
      return errno_status(ErrorKind::kSource, std::string("cannot map the extents of ") + what_ + " (FIEMAP)", errno);
    }
    next_ = 0;
    const uint32_t n = map_->fm_mapped_extents;
    // A short batch holds every extent left in the range asked for; so does
    // one that ends with the file's last extent, or at the end of the range.
    done_ = n < kFiemapBatch || (map_->fm_extents[n - 1].fe_flags & FIEMAP_EXTENT_LAST) != 0 ||
            extent_end(map_->fm_extents[n - 1]) >= size_;
    if (n > 0 && extent_end(map_->fm_extents[n - 1]) <= pos) {
      return Status(ErrorKind::kSource, std::string("FIEMAP of ") + what_ + " returned no extent past offset " +
                                            std::to_string(pos) + " and did not say it was the last");
    }
    return Status::ok();
  }

  int fd_;
  uint64_t size_;
  const char* what_;  // for messages
  std::unique_ptr<fiemap, Free> map_;
  uint32_t next_ = 0;
  bool done_ = false;
  bool first_ = true;
};

bool same_bytes(const Piece& a, const Piece& b) {
  if (!a.mapped || !b.mapped) return !a.mapped && !b.mapped;
  return !a.opaque && !b.opaque && a.physical == b.physical && a.unwritten == b.unwritten;
}

}  // namespace

Status changed_extents(int kept_fd, int new_fd, uint64_t size, ChangeList* out) {
  FiemapWalk kept(kept_fd, size, "the kept reflink reference");
  FiemapWalk fresh(new_fd, size, "the new reflink reference");
  uint64_t pos = 0;
  while (pos < size) {
    Piece a, b;
    SPARSYNC_RETURN_IF_ERROR(kept.at(pos, &a));
    SPARSYNC_RETURN_IF_ERROR(fresh.at(pos, &b));
    const uint64_t end = std::min(a.end, b.end);
    if (!same_bytes(a, b)) out->add(pos, end - pos);
    pos = end;
  }
  return Status::ok();
}

}  // namespace sparsync
