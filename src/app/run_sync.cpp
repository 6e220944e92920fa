#include "app/run_sync.h"

#include <algorithm>
#include <chrono>
#include <thread>

#include "app/client.h"
#include "common/interrupt.h"
#include "common/log.h"
#include "common/units.h"

namespace sparsync {
namespace {

// Sleeps in small steps so that Ctrl-C during the wait is honoured promptly.
void wait_before_retry(double seconds) {
  auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!interrupted() && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

}  // namespace

Status run_with_retries(const TransportFactory& connect, const SyncRequest& original, const RetryPolicy& policy,
                        SyncOutcome* outcome) {
  SyncRequest request = original;
  double wait = policy.first_wait_seconds;
  for (int attempt = 0;; ++attempt) {
    *outcome = SyncOutcome{};
    auto transport = connect();
    Status s = transport.is_ok() ? run_client(*transport.value(), request, outcome) : transport.status();
    if (s.is_ok()) return s;
    bool retryable = s.kind() == ErrorKind::kConnection && outcome->session_started && !request.dry_run;
    if (!retryable || attempt >= policy.retries || interrupted()) return s;
    log::info(s.message() + "; retrying in " + std::to_string(static_cast<int>(wait)) + " s (retry " +
              std::to_string(attempt + 1) + " of " + std::to_string(policy.retries) + ")");
    wait_before_retry(wait);
    if (interrupted())
      return Status(ErrorKind::kInterrupted, "interrupted while waiting to retry; run the same command to resume");
    wait = std::min(policy.max_wait_seconds, wait * 2);
    // The previous attempt's far side may still hold the target's lock for a
    // moment; let the next one wait for it instead of failing at once.
    request.retry = true;
  }
}

Status check_verify(const SyncOutcome& o) {
  if (!o.verified || o.verify.match) return Status::ok();
  return Status(ErrorKind::kVerify, "verify failed: " + o.target_shown + " differs from " + o.source_shown +
                                        " (first difference in the 64 MiB region at offset " +
                                        std::to_string(o.verify.first_difference) + "; SHA-256 here " +
                                        o.verify.local_sha256 + ", there " + o.verify.peer_sha256 +
                                        "); run again with --restart to re-compare everything");
}

}  // namespace sparsync
