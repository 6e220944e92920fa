#include "target/frame_outbox.h"

namespace sparsync {

FrameOutbox::FrameOutbox(FrameWriter& out, size_t max_bulk) : out_(out), max_bulk_(max_bulk) {}

FrameOutbox::~FrameOutbox() { (void)close_and_flush(); }

void FrameOutbox::start() {
  thread_ = std::thread([this] { run(); });
}

bool FrameOutbox::push_bulk(Frame frame) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return closed_ || broken_ || bulk_closed_ || bulk_ < max_bulk_; });
  if (closed_ || broken_ || bulk_closed_) return false;
  ++bulk_;
  frames_.emplace_back(std::move(frame), true);
  cv_.notify_all();
  return true;
}

void FrameOutbox::push_control(Frame frame) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_ || broken_ || bulk_closed_) return;
  frames_.emplace_back(std::move(frame), false);
  cv_.notify_all();
}

void FrameOutbox::push_urgent(Frame frame) {
  std::lock_guard<std::mutex> lock(mu_);
  if (closed_ || broken_) return;
  // ERROR is the last frame (PROTOCOL.md §5): nothing queued goes before
  // it, and nothing pushed later goes after it.
  frames_.clear();
  bulk_ = 0;
  bulk_closed_ = true;
  frames_.emplace_back(std::move(frame), false);
  cv_.notify_all();
}

Status FrameOutbox::close_and_flush() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  return status_;
}

void FrameOutbox::run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return closed_ || !frames_.empty(); });
    if (frames_.empty()) return;  // closed and drained
    auto [frame, bulk] = std::move(frames_.front());
    frames_.pop_front();
    if (bulk) --bulk_;
    cv_.notify_all();
    lock.unlock();
    Status s = out_.write(frame.type, frame.payload);
    lock.lock();
    if (!s.is_ok()) {
      if (status_.is_ok()) status_ = s;
      broken_ = true;
      frames_.clear();
      bulk_ = 0;
      cv_.notify_all();
      if (closed_) return;
    }
  }
}

}  // namespace sparsync
