// The sync mode of the command line: checks the request, runs it with
// retries under the progress display, writes the metrics file, and prints
// the summary (or JSON) and the map. Failures are returned, not printed
// (app/exit_code.h prints them); with --json a failure's JSON line goes to
// stdout here first.
// Thread-safety: called once, from main's thread.
#pragma once

#include "app/cli.h"
#include "common/status.h"

namespace sparsync {

Status run_sync_mode(const CliOptions& options);

}  // namespace sparsync
