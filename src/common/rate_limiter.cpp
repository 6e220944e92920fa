#include "common/rate_limiter.h"

#include <algorithm>
#include <thread>

namespace sparsync {

void RateLimiter::acquire(uint64_t bytes) {
  if (rate_ == 0) return;
  auto now = std::chrono::steady_clock::now();
  if (!started_) {
    started_ = true;
    last_ = now;
    tokens_ = static_cast<double>(max_burst());
  }
  const double rate = static_cast<double>(rate_);
  tokens_ =
      std::min(static_cast<double>(max_burst()), tokens_ + std::chrono::duration<double>(now - last_).count() * rate);
  last_ = now;
  tokens_ -= static_cast<double>(bytes);
  if (tokens_ < 0) {
    // Pay the debt by waiting; the refill during the sleep is accounted for
    // on the next call through `last_`.
    std::this_thread::sleep_for(std::chrono::duration<double>(-tokens_ / rate));
    auto after = std::chrono::steady_clock::now();
    tokens_ += std::chrono::duration<double>(after - last_).count() * rate;
    last_ = after;
  }
}

}  // namespace sparsync
