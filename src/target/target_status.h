// What `sparsync --status TARGET` prints (docs/usage.md): whether a sync of
// the target is incomplete and from where it would resume, whether an undo
// journal can roll it back, the generations it keeps, and, where a run with
// --changes completed it, when, and whether the target is still as that run
// left it. Reads only: the status of a target changes nothing, not even a
// torn journal tail, and takes no lock (a run in progress is reported, not
// waited for).
// Thread-safety: plain function.
#pragma once

#include <string>

#include "common/status.h"

namespace sparsync {

Result<std::string> target_status(const std::string& path);

}  // namespace sparsync
