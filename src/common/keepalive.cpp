#include "common/keepalive.h"

#include <algorithm>

namespace sparsync {

Heartbeat::Heartbeat(FrameWriter& out, uint32_t own_timeout, const PeerTimeout& peer)
    : out_(out), own_timeout_(own_timeout), peer_(peer) {}

Heartbeat::~Heartbeat() { stop(); }

void Heartbeat::start() {
  thread_ = std::thread([this] { run(); });
}

void Heartbeat::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

std::chrono::milliseconds Heartbeat::interval_for(uint32_t timeout_seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(timeout_seconds) * 1000 / 4);
}

void Heartbeat::run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    uint32_t timeout = peer_.known() ? peer_.seconds() : own_timeout_;
    auto interval = interval_for(timeout);
    // Looks an eighth of the interval at a time (at most once a second); a
    // peer without a timeout is looked at again later, it may announce one.
    auto tick = timeout == 0 ? std::chrono::milliseconds(1000)
                             : std::clamp(interval / 8, std::chrono::milliseconds(10), std::chrono::milliseconds(1000));
    if (cv_.wait_for(lock, tick, [&] { return stopping_; })) break;
    if (timeout == 0) continue;
    lock.unlock();
    // A failed write is the session's to notice and report.
    (void)out_.write_keepalive_if_idle(interval, own_timeout_);
    lock.lock();
  }
}

}  // namespace sparsync
