// A sync refused before it started (a command line that does not parse, a
// bad option value, a missing source) is a failed run to monitoring too: a
// cron job broken by a bad edit must not leave the previous, green
// --metrics-file in place. Used by main (parse errors) and sync_mode
// (everything checked before connecting).
// Thread-safety: plain functions.
#pragma once

#include <string>

#include "app/cli.h"
#include "common/status.h"

namespace sparsync {

// The --metrics-file path of a sync whose command line failed to parse
// (CLI11 may stop before storing it, so argv is read as well); empty when
// none was given in full, or the command line asks for another mode
// (--server, --status, --help, --version).
std::string refused_run_metrics_path(const CliOptions& options, int argc, char** argv);

// Writes the refusal's exit code to `metrics_path` (its last success kept),
// labelled with `target` as given. Nothing when the path is empty or is
// itself what check_metrics_path refuses; a write that fails is one line on
// stderr, and the refusal still decides the exit code.
void record_refused_run(const std::string& metrics_path, const std::string& target, const Status& refusal);

}  // namespace sparsync
