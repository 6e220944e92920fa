// What one invocation of sparsync does, as its command line picks it, and
// running that: print help or the version, serve the protocol (--server),
// report a target's state (--status), or sync.
// Thread-safety: called once, from main.
#pragma once

#include "app/cli.h"
#include "common/status.h"

namespace sparsync {

enum class Mode { kHelp, kVersion, kServer, kStatus, kRollback, kJob, kSync };

// kUsage when a client is given options that belong to --server.
Result<Mode> pick_mode(const CliOptions& options);

// Runs `mode` and returns the process exit code (README "Exit codes").
int run_mode(Mode mode, const CliOptions& options);

}  // namespace sparsync
