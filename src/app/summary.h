// The end-of-run summary line, printed only after the target confirmed that
// everything is durable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "app/sync_request.h"

namespace sparsync {

std::string summary_line(const SyncRequest& request, const SyncOutcome& outcome);

// Share of the blocks compared in this run that needed DATA or HOLE, in
// percent (0 when nothing was compared). After a resume only the blocks above
// the resume point were compared.
double changed_percent(const SyncStats& stats);

// "checkpoints, sha256, xxh3" for HELLO's feature bits, for -v.
std::string describe_features(uint64_t features);

// Lines for -v after a finished run: zeroing method, checkpoints, resume point.
std::vector<std::string> verbose_details(const SyncOutcome& outcome);

// The same figures as one JSON object (--json), exact bytes, for scripts.
// Field names are stable; docs/usage.md "JSON output" documents each.
std::string summary_json(const SyncRequest& request, const SyncOutcome& outcome);
// The JSON object for a failed run: {"ok": false, "exit_code": N, "error": "..."}.
std::string failure_json(int exit_code, const std::string& message);

}  // namespace sparsync
