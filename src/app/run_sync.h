// One sync as the user asked for it, with automatic retries: when the link or
// the far process dies after the handshake, reconnect with backoff and run
// again; the target's checkpoint makes the new run resume where the durable
// data ends. Failures that a retry cannot fix (usage, source, target,
// authentication, protocol) are returned at once.
#pragma once

#include <functional>
#include <memory>

#include "app/sync_request.h"
#include "transport/transport.h"

namespace sparsync {

using TransportFactory = std::function<Result<std::unique_ptr<Transport>>()>;

struct RetryPolicy {
  int retries = 3;
  double first_wait_seconds = 5;
  double max_wait_seconds = 300;
};

Status run_with_retries(const TransportFactory& connect, const SyncRequest& request, const RetryPolicy& policy,
                        SyncOutcome* outcome);

// Maps a finished run to its final status: a verify mismatch is an error.
Status check_verify(const SyncOutcome& outcome);

}  // namespace sparsync
