// Live counters of a run, written by the engine threads and read by whoever
// shows progress (a terminal line, a log line). Lock-free: readers may see
// the counters a moment apart, which is fine for display.
// Thread-safety: all fields are atomics.
#pragma once

#include <atomic>
#include <cstdint>

namespace sparsync {

enum class Phase : int { kConnecting = 0, kSyncing = 1, kFlushing = 2, kVerifying = 3, kDone = 4 };

struct Progress {
  std::atomic<int> phase{static_cast<int>(Phase::kConnecting)};
  std::atomic<uint64_t> total{0};  // image size
  std::atomic<uint64_t> resumed_from{0};
  std::atomic<uint64_t> scanned{0};     // bytes of the image decided so far (from offset 0)
  std::atomic<uint64_t> data_bytes{0};  // DATA bytes sent (source) or applied (target)
  std::atomic<uint64_t> hole_bytes{0};
  // --verify: bytes of this side's image read and hashed so far (a pass of
  // its own after the sync, as long again as a full read of the image).
  std::atomic<uint64_t> verified{0};

  void set_phase(Phase p) { phase.store(static_cast<int>(p)); }
  Phase get_phase() const { return static_cast<Phase>(phase.load()); }
  // scanned only moves forward
  void advance_to(uint64_t offset) {
    uint64_t cur = scanned.load();
    while (offset > cur && !scanned.compare_exchange_weak(cur, offset)) {
    }
  }
};

}  // namespace sparsync
