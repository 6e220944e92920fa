// TargetReports: what the target said about its blocks (HASH and HASH_ZERO
// runs), kept in order between the receiver thread that decodes them and the
// sender thread that consumes them. Holds at most a bounded number of digest
// bytes: a target that hashes faster than the source reads waits (TCP/pipe
// back-pressure), so memory stays flat.
// Thread-safety: add_*/finish/fail from the receiver; wait_for/consume_before
// from the sender.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

#include "common/status.h"

namespace sparsync {

struct TargetRun {
  uint64_t first_block = 0;
  uint64_t count = 0;
  bool zero = false;
  bool skip = false;             // HASH_SKIP: outside the change list, not read (PROTOCOL.md §4.19)
  std::vector<uint8_t> digests;  // count * digest_len when neither zero nor skip
};

class TargetReports {
 public:
  // Reports are expected from `first_block` (the resume point) on.
  TargetReports(uint64_t first_block, uint64_t total_blocks, size_t digest_len, size_t max_digest_bytes);

  // Receiver side. Runs must arrive contiguous from block 0; anything else is
  // a protocol error. add_run blocks while the buffer is full.
  Status add_run(TargetRun run);
  Status finish(uint64_t total_blocks);  // HASH_END
  void fail(const Status& status);       // receiver failed, or peer sent ERROR

  // Sender side: waits until the run holding `block` has arrived; returns a
  // pointer to it, valid until consume_before() passes its end. Looks at
  // `stop` every 100 ms while it waits, and returns kInterrupted once it
  // holds: a target that has gone quiet must not keep a signal waiting.
  Status wait_for(uint64_t block, const TargetRun** run, const std::function<bool()>& stop = {});
  void consume_before(uint64_t block);
  // Waits for HASH_END (or failure).
  Status wait_finished();
  // At a stop, when nothing will be consumed any more: drops what is held,
  // and from now on checks runs without keeping them. A receiver waiting
  // for room would otherwise never read on to the final checkpoint's ACK
  // (the target runs megabytes of digests ahead on a large image).
  void drain();
  bool finished();

 private:
  const uint64_t total_blocks_;
  const size_t digest_len_;
  const size_t max_digest_bytes_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<TargetRun> runs_;
  uint64_t next_block_ = 0;  // first block not yet reported
  size_t digest_bytes_ = 0;
  bool finished_ = false;
  bool draining_ = false;
  Status failure_;
};

}  // namespace sparsync
