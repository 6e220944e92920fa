// A sync refused before it started (a bad option value, a missing source)
// is a failed run to monitoring too: a cron job broken by a bad edit must
// not leave the previous, green --metrics-file in place. Used by sync_mode
// (everything checked before connecting).
// Thread-safety: plain functions.
#pragma once

#include <string>

#include "common/status.h"

namespace sparsync {

// Writes the refusal's exit code to `metrics_path` (its last success kept),
// labelled with `target` as given. Nothing when the path is empty or is
// itself what check_metrics_path refuses; a write that fails is one line on
// stderr, and the refusal still decides the exit code.
void record_refused_run(const std::string& metrics_path, const std::string& target, const Status& refusal);

}  // namespace sparsync
