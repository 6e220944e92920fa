// The client: the process the user started. Runs the handshake over a
// transport, then plays the source (push) or the target (pull) with the
// same engines the server uses, and collects the outcome.
#pragma once

#include "app/sync_request.h"
#include "transport/transport.h"

namespace sparsync {

Status run_client(Transport& transport, const SyncRequest& request, SyncOutcome* outcome);

}  // namespace sparsync
