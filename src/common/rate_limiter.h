// RateLimiter: caps a byte rate smoothly (--bwlimit). A token bucket holding
// at most ~100 ms worth of bytes, so the rate holds over any window longer
// than that instead of arriving in per-second bursts.
// Thread-safety: one caller at a time.
#pragma once

#include <chrono>
#include <cstdint>

namespace sparsync {

class RateLimiter {
 public:
  explicit RateLimiter(uint64_t bytes_per_second) : rate_(bytes_per_second) {}
  bool enabled() const { return rate_ > 0; }
  // A frame size that keeps bursts to about 1/10 s at this rate.
  uint64_t max_burst() const { return rate_ / 10 > 4096 ? rate_ / 10 : 4096; }
  // Blocks until `bytes` may be sent.
  void acquire(uint64_t bytes);

 private:
  uint64_t rate_;
  double tokens_ = 0;
  std::chrono::steady_clock::time_point last_{};
  bool started_ = false;
};

}  // namespace sparsync
