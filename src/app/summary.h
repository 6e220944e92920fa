// The end-of-run summary line, printed only after the target confirmed that
// everything is durable.
#pragma once

#include <string>

#include "app/sync_request.h"

namespace sparsync {

std::string summary_line(const SyncRequest& request, const SyncOutcome& outcome);

// The same figures as one JSON object (--json), exact bytes, for scripts.
// Field names are stable; README "JSON output" documents each.
std::string summary_json(const SyncRequest& request, const SyncOutcome& outcome);
// The JSON object for a failed run: {"ok": false, "exit_code": N, "error": "..."}.
std::string failure_json(int exit_code, const std::string& message);

}  // namespace sparsync
