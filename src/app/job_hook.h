// A group's `pre` or `post` command (docs/usage.md "Jobs"): run with
// /bin/sh -c in a process group of its own, stdin from /dev/null, its
// stdout and stderr collected (64 KiB at most), for at most the group's
// hook-timeout; past it the whole process group is killed. The command sees
// SPARSYNC_JOB, SPARSYNC_GROUP and SPARSYNC_HOOK (pre or post).
// Thread-safety: reentrant; several groups' commands may run at once.
#pragma once

#include <string>

#include "common/status.h"

namespace sparsync {

struct HookRun {
  Status status;       // kCommand with exit status and first line, or ok
  std::string output;  // what it wrote, escaped line by line for a terminal
  double seconds = 0;
};

HookRun run_hook(const std::string& command, int timeout_seconds, const std::string& job, const std::string& group,
                 const std::string& which);

}  // namespace sparsync
