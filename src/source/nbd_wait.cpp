#include "source/nbd_wait.h"

#include <algorithm>

namespace sparsync {
namespace {

using Clock = std::chrono::steady_clock;

// Each nbd_poll holds the handle's lock; short slices let another thread's
// call on the handle in between.
constexpr std::chrono::milliseconds kSlice{200};

}  // namespace

NbdWaitResult NbdWait::poll_until(Clock::time_point deadline, bool* answered) {
  std::lock_guard<std::mutex> lock(gate_.mutex_);
  if (gate_.closed_) return NbdWaitResult::kTimedOut;
  auto slice = kSlice;
  if (timeout_.count() > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      gate_.closed_ = true;
      return NbdWaitResult::kTimedOut;
    }
    slice = std::min(slice, left + std::chrono::milliseconds(1));
  }
  // Fewer commands in flight after the poll than before is the server
  // answering (ours or another thread's). More is another thread issuing
  // one, which says nothing of the server.
  const int before = lib_.aio_in_flight(h_);
  const int r = lib_.poll(h_, static_cast<int>(slice.count()));
  if (r < 0) return NbdWaitResult::kFailed;
  if (answered != nullptr) *answered = lib_.aio_in_flight(h_) < before;
  return NbdWaitResult::kDone;
}

NbdWaitResult NbdWait::command(int64_t cookie) {
  if (cookie < 0) return NbdWaitResult::kFailed;
  auto deadline = Clock::now() + timeout_;
  for (;;) {
    const int done = lib_.aio_command_completed(h_, static_cast<uint64_t>(cookie));
    if (done == 1) return NbdWaitResult::kDone;
    if (done < 0) return NbdWaitResult::kFailed;
    bool answered = false;
    NbdWaitResult r = poll_until(deadline, &answered);
    if (r != NbdWaitResult::kDone) return r;
    if (answered) deadline = Clock::now() + timeout_;
  }
}

NbdWaitResult NbdWait::connected() {
  const auto deadline = Clock::now() + timeout_;
  while (lib_.aio_is_connecting(h_) == 1) {
    NbdWaitResult r = poll_until(deadline, nullptr);
    if (r != NbdWaitResult::kDone) return r;
  }
  return lib_.aio_is_ready(h_) == 1 ? NbdWaitResult::kDone : NbdWaitResult::kFailed;
}

bool NbdWait::disconnected(std::chrono::milliseconds limit) {
  std::lock_guard<std::mutex> lock(gate_.mutex_);
  if (gate_.closed_ || lib_.aio_disconnect(h_, 0) != 0) return false;
  const auto deadline = Clock::now() + limit;
  while (lib_.aio_is_closed(h_) != 1 && lib_.aio_is_dead(h_) != 1) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return false;
    if (lib_.poll(h_, static_cast<int>(std::min(left, kSlice).count()) + 1) < 0) {
      return lib_.aio_is_closed(h_) == 1 || lib_.aio_is_dead(h_) == 1;
    }
  }
  return true;
}

}  // namespace sparsync
