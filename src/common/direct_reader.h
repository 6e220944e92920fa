// DirectReader: reads an image around the page cache (O_DIRECT, through a
// second descriptor of the same open file), in aligned 4 MiB windows, with
// the next windows already being read by two helper threads while the caller
// works on this one.
//
// Why: a nightly run over a cold disk reads every byte once, so caching it
// only costs: buffered, each byte is copied into a freshly allocated page
// and the host's own cache (its VMs') is evicted to make room, and the run
// leaves the whole image cached. On the 2-core VM this was measured on, a
// cold 1 GiB file read at 262 MB/s buffered and 1.3 GB/s with 1 MiB direct
// reads (dd). Direct reads also keep whatever was cached where it was.
// Helpers, not io_uring: with fio here, 2, 4 and 8 requests in flight read
// both images at once equally fast (docs/performance.md "Cold disks"), and
// threads need no new library. 4 MiB windows, not 1 MiB: over SSH a 4 GiB
// cold incremental took 8.05-8.53 s against 8.80-13.94 s (the disk's
// largest request here is 4 MiB, as is its readahead's).
//
// Memory: kWindows x kWindowBytes (16 MiB) per reader, whatever the image.
// Coherence: a write to the file through another descriptor must call
// invalidate() for its range, or a window read before it would be served
// after it (FileDevice does).
// Thread-safety: read() and invalidate() may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "common/unique_fd.h"

namespace sparsync {

class DirectReader {
 public:
  static constexpr uint64_t kWindowBytes = 4u << 20;
  static constexpr size_t kWindows = 4;
  static constexpr size_t kHelpers = 2;

  // Reopens `fd` (a regular file or block device of `size` bytes) with
  // O_DIRECT. nullptr where the filesystem refuses O_DIRECT (tmpfs).
  static std::unique_ptr<DirectReader> open(int fd, uint64_t size);
  ~DirectReader();
  DirectReader(const DirectReader&) = delete;
  DirectReader& operator=(const DirectReader&) = delete;

  // Reads [offset, offset + len); *got is less than len only at the end of
  // the file. Returns 0 or the errno; EINVAL means this file wants another
  // alignment, and the caller should read through the cache from now on.
  int read(uint64_t offset, uint8_t* buf, size_t len, size_t* got);
  // Forgets what was read of [offset, offset + len), which was just written.
  void invalidate(uint64_t offset, uint64_t len);

 private:
  enum class State { kEmpty, kQueued, kReading, kReady };
  struct Window {
    uint64_t offset = 0;
    State state = State::kEmpty;
    bool stale = false;  // written while being read: drop the result
    size_t got = 0;
    int err = 0;
    uint8_t* data = nullptr;  // kWindowBytes, page-aligned
  };

  DirectReader(UniqueFd fd, uint64_t size);
  void helper();
  Window* find(uint64_t offset);
  // Queues the window at `offset` into a slot that is neither being read nor
  // `keep`; nullptr when every other slot is busy.
  Window* queue(uint64_t offset, const Window* keep);

  UniqueFd fd_;
  uint64_t size_;
  std::mutex mu_;
  std::condition_variable changed_;
  bool stopping_ = false;
  std::vector<Window> windows_;
  std::vector<std::thread> helpers_;
};

}  // namespace sparsync
