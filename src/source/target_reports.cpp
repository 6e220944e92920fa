#include "source/target_reports.h"

#include <chrono>
#include <string>

namespace sparsync {

TargetReports::TargetReports(uint64_t first_block, uint64_t total_blocks, size_t digest_len, size_t max_digest_bytes)
    : total_blocks_(total_blocks),
      digest_len_(digest_len),
      max_digest_bytes_(max_digest_bytes),
      next_block_(first_block) {}

Status TargetReports::add_run(TargetRun run) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!failure_.is_ok()) return failure_;
  if (finished_ || run.first_block != next_block_ || run.count == 0 || run.count > total_blocks_ - next_block_ ||
      (!run.zero && !run.skip && run.digests.size() != run.count * digest_len_)) {
    return Status(ErrorKind::kProtocol, "target sent a hash report for blocks " + std::to_string(run.first_block) +
                                            "+" + std::to_string(run.count) + " where block " +
                                            std::to_string(next_block_) + " of " + std::to_string(total_blocks_) +
                                            " was expected");
  }
  changed_.wait(lock, [&] {
    return !failure_.is_ok() || draining_ || digest_bytes_ == 0 ||
           digest_bytes_ + run.digests.size() <= max_digest_bytes_;
  });
  if (!failure_.is_ok()) return failure_;
  next_block_ += run.count;
  if (draining_) return Status::ok();
  digest_bytes_ += run.digests.size();
  runs_.push_back(std::move(run));
  changed_.notify_all();
  return Status::ok();
}

Status TargetReports::finish(uint64_t total_blocks) {
  std::lock_guard<std::mutex> lock(mu_);
  if (total_blocks != total_blocks_ || next_block_ != total_blocks_) {
    return Status(ErrorKind::kProtocol, "target ended its hash reports at block " + std::to_string(next_block_) +
                                            " of " + std::to_string(total_blocks_));
  }
  finished_ = true;
  changed_.notify_all();
  return Status::ok();
}

void TargetReports::fail(const Status& status) {
  std::lock_guard<std::mutex> lock(mu_);
  if (failure_.is_ok()) failure_ = status;
  changed_.notify_all();
}

Status TargetReports::wait_for(uint64_t block, const TargetRun** run, const std::function<bool()>& stop) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (!failure_.is_ok()) return failure_;
    for (const TargetRun& r : runs_) {
      if (block >= r.first_block && block < r.first_block + r.count) {
        *run = &r;
        return Status::ok();
      }
    }
    if (finished_) {
      return Status(ErrorKind::kProtocol, "target never reported block " + std::to_string(block));
    }
    if (!stop) {
      changed_.wait(lock);
      continue;
    }
    if (stop()) return Status(ErrorKind::kInterrupted, "stopped while waiting for the target's hashes");
    changed_.wait_for(lock, std::chrono::milliseconds(100));
  }
}

void TargetReports::consume_before(uint64_t block) {
  std::lock_guard<std::mutex> lock(mu_);
  bool dropped = false;
  while (!runs_.empty() && runs_.front().first_block + runs_.front().count <= block) {
    digest_bytes_ -= runs_.front().digests.size();
    runs_.pop_front();
    dropped = true;
  }
  if (dropped) changed_.notify_all();
}

bool TargetReports::finished() {
  std::lock_guard<std::mutex> lock(mu_);
  return finished_;
}

Status TargetReports::wait_finished() {
  std::unique_lock<std::mutex> lock(mu_);
  changed_.wait(lock, [&] { return finished_ || !failure_.is_ok(); });
  return failure_;
}

void TargetReports::drain() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    draining_ = true;
    runs_.clear();
    digest_bytes_ = 0;
  }
  changed_.notify_all();
}

}  // namespace sparsync
