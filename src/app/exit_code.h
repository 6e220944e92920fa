// How a run's result leaves the process: a failure's one line on stderr and
// its documented exit code (README "Exit codes"), which is the number of its
// ErrorKind; 0 for success.
// Thread-safety: a plain function (log lines are written whole).
#pragma once

#include "common/status.h"

namespace sparsync {

int exit_code(const Status& result);

}  // namespace sparsync
