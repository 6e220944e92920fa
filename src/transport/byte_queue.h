// ByteQueue: a byte FIFO that compacts lazily, so the hot path is one
// memmove per `cap` bytes consumed; used by the channel pump for what goes
// to and from the SSH channels. `cap` also bounds what room() offers, so a
// queue filled only up to room() holds at most twice `cap`, sent prefix included.
// Thread-safety: one thread.
#pragma once

#include <cstddef>
#include <vector>

namespace sparsync {

class ByteQueue {
 public:
  explicit ByteQueue(size_t cap) : cap_(cap) {}
  size_t size() const { return buf_.size() - head_; }
  bool empty() const { return size() == 0; }
  size_t room() const { return size() >= cap_ ? 0 : cap_ - size(); }
  const char* data() const { return buf_.data() + head_; }
  void append(const char* p, size_t n) { buf_.insert(buf_.end(), p, p + n); }
  void consume(size_t n) {
    head_ += n;
    if (head_ == buf_.size()) {
      clear();
    } else if (head_ > cap_) {
      buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }
  void clear() {
    buf_.clear();
    head_ = 0;
  }

 private:
  size_t cap_;
  std::vector<char> buf_;
  size_t head_ = 0;
};

}  // namespace sparsync
