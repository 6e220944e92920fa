// The end-of-run summary line, printed only after the target confirmed that
// everything is durable.
#pragma once

#include <string>

#include "app/sync_request.h"

namespace sparsync {

std::string summary_line(const SyncRequest& request, const SyncOutcome& outcome);

}  // namespace sparsync
