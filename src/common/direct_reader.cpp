#include "common/direct_reader.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>

namespace sparsync {

std::unique_ptr<DirectReader> DirectReader::open(int fd, uint64_t size) {
  // Through /proc/self/fd: the same file this run locked, not whatever the
  // path names now.
  std::string self = "/proc/self/fd/" + std::to_string(fd);
  UniqueFd direct(::open(self.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC | O_NOCTTY));
  if (!direct.valid()) return nullptr;
  return std::unique_ptr<DirectReader>(new DirectReader(std::move(direct), size));
}

DirectReader::DirectReader(UniqueFd fd, uint64_t size) : fd_(std::move(fd)), size_(size), windows_(kWindows) {
  for (Window& w : windows_) w.data = static_cast<uint8_t*>(std::aligned_alloc(4096, kWindowBytes));
  for (size_t i = 0; i < kHelpers; ++i) helpers_.emplace_back([this] { helper(); });
}

DirectReader::~DirectReader() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  for (std::thread& t : helpers_) t.join();
  for (Window& w : windows_) std::free(w.data);
}

void DirectReader::helper() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    auto queued =
        std::find_if(windows_.begin(), windows_.end(), [](const Window& w) { return w.state == State::kQueued; });
    if (queued == windows_.end()) {
      if (stopping_) return;
      changed_.wait(lock);
      continue;
    }
    Window& w = *queued;
    w.state = State::kReading;
    w.stale = false;
    const uint64_t offset = w.offset;
    lock.unlock();
    size_t got = 0;
    int err = w.data == nullptr ? ENOMEM : pread_full(fd_.get(), w.data, kWindowBytes, offset, &got);
    lock.lock();
    w.got = got;
    w.err = err;
    w.state = w.stale ? State::kEmpty : State::kReady;
    changed_.notify_all();
  }
}

DirectReader::Window* DirectReader::find(uint64_t offset) {
  for (Window& w : windows_) {
    if (w.state != State::kEmpty && !w.stale && w.offset == offset) return &w;
  }
  return nullptr;
}

DirectReader::Window* DirectReader::queue(uint64_t offset, const Window* keep) {
  // Prefer a free slot, then the window furthest behind `offset` (read and
  // done with), then the one furthest ahead of it.
  auto eviction_rank = [offset](const Window& w) {
    return w.offset < offset ? (UINT64_MAX / 2) + (offset - w.offset) : w.offset - offset;
  };
  Window* victim = nullptr;
  for (Window& w : windows_) {
    if (&w == keep || w.state == State::kReading) continue;
    if (w.state == State::kEmpty) {
      victim = &w;
      break;
    }
    if (victim == nullptr || eviction_rank(w) > eviction_rank(*victim)) victim = &w;
  }
  if (victim == nullptr) return nullptr;
  victim->offset = offset;
  victim->state = State::kQueued;
  victim->stale = false;
  changed_.notify_all();
  return victim;
}

int DirectReader::read(uint64_t offset, uint8_t* buf, size_t len, size_t* got) {
  *got = 0;
  std::unique_lock<std::mutex> lock(mu_);
  while (*got < len) {
    const uint64_t pos = offset + *got;
    const uint64_t start = pos / kWindowBytes * kWindowBytes;
    Window* w = nullptr;
    for (;;) {
      w = find(start);
      if (w == nullptr) w = queue(start, nullptr);
      if (w != nullptr && w->state == State::kReady) break;
      changed_.wait(lock);
    }
    // Keep the windows after this one coming while the caller works.
    for (uint64_t ahead = start + kWindowBytes; ahead < std::min(size_, start + kWindows * kWindowBytes);
         ahead += kWindowBytes) {
      if (find(ahead) == nullptr && queue(ahead, w) == nullptr) break;
    }
    if (w->err != 0) {
      const int err = w->err;
      w->state = State::kEmpty;
      return err;
    }
    const uint64_t in = pos - start;
    if (w->got <= in) return 0;  // the end of the file
    const size_t n = std::min<uint64_t>(len - *got, w->got - in);
    std::memcpy(buf + *got, w->data + in, n);
    *got += n;
  }
  return 0;
}

void DirectReader::invalidate(uint64_t offset, uint64_t len) {
  bool dropped = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (Window& w : windows_) {
      if (w.offset >= offset + len || w.offset + kWindowBytes <= offset) continue;
      // A queued window is read after this write: it stays. Dropping it
      // lost the wakeup of a reader waiting on it, whom no helper would
      // ever answer (a run hung for good when a write and the undo journal's
      // read of the next range shared a window).
      if (w.state == State::kReading) {
        w.stale = true;
      } else if (w.state == State::kReady) {
        w.state = State::kEmpty;
        dropped = true;
      }
    }
  }
  // A reader waiting on a window no longer there looks again.
  if (dropped) changed_.notify_all();
}

}  // namespace sparsync
