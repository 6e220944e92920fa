#include "common/io_wait.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <optional>

#include "common/interrupt.h"

namespace sparsync {
namespace {

using Clock = std::chrono::steady_clock;

// How often an interruptible wait or one with a deadline looks at the flag
// and the clock: a signal does not wake a poll in another thread.
constexpr std::chrono::milliseconds kSlice{100};

int millis_until(Clock::time_point t, Clock::time_point now) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 1 << 30));
}

}  // namespace

WaitEnd wait_fd(int fd, short events, const WaitLimits& limits, int* err) {
  // poll ignores a negative fd for ever; the I/O call says what is wrong with it.
  if (fd < 0) return WaitEnd::kReady;
  const Clock::time_point start = Clock::now();
  std::optional<Clock::time_point> idle_end;
  if (limits.idle_seconds > 0) idle_end = start + std::chrono::seconds(limits.idle_seconds);
  for (;;) {
    if (limits.interruptible && interrupted()) return WaitEnd::kInterrupted;
    Clock::time_point now = Clock::now();
    int64_t deadline = limits.deadline_ns != nullptr ? limits.deadline_ns->load() : 0;
    if (deadline != 0 && steady_ns(now) >= deadline) return WaitEnd::kDeadline;
    if (idle_end && now >= *idle_end) return WaitEnd::kIdle;
    int timeout = -1;
    if (idle_end) timeout = millis_until(*idle_end, now);
    if (limits.interruptible || limits.deadline_ns != nullptr) {
      timeout = std::min(timeout < 0 ? INT32_MAX : timeout, static_cast<int>(kSlice.count()));
    }
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, timeout);
    if (rc > 0) return WaitEnd::kReady;
    if (rc < 0 && errno != EINTR) {
      *err = errno;
      return WaitEnd::kError;
    }
  }
}

}  // namespace sparsync
