// Bounded waits on a peer's stream (docs/usage.md "Hangs and timeouts", PROTOCOL.md §5
// "Timeouts"). A frame reader or writer that would block polls its fd here
// instead, so a wait ends when the fd is ready, when the peer has moved no
// byte for the idle timeout, when a signal arrives at a point where the
// caller can stop, or at a deadline the caller set (a pull that asked its
// source to stop waits only so long for the final checkpoint).
// Thread-safety: plain function; WaitLimits is a value.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace sparsync {

enum class WaitEnd {
  kReady,        // the fd is readable or writable (or has hung up: the I/O call says so)
  kIdle,         // nothing moved for the idle timeout
  kInterrupted,  // SIGINT/SIGTERM arrived and the wait was interruptible
  kDeadline,     // the caller's deadline passed
  kError,        // poll failed; *err holds errno
};

struct WaitLimits {
  uint32_t idle_seconds = 0;  // 0: no idle bound
  bool interruptible = false;
  // Steady-clock nanoseconds after which the wait ends, 0: none. Another
  // thread may set it during the wait, which looks at it every 100 ms.
  const std::atomic<int64_t>* deadline_ns = nullptr;

  // Nothing bounds the wait: the caller may block in read or write.
  bool unbounded() const { return idle_seconds == 0 && !interruptible && deadline_ns == nullptr; }
};

// A time point as WaitLimits::deadline_ns holds it.
inline int64_t steady_ns(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

// Waits until `fd` has `events` (POLLIN or POLLOUT) or the limits end the wait.
WaitEnd wait_fd(int fd, short events, const WaitLimits& limits, int* err);

}  // namespace sparsync
