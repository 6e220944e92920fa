// `sparsync --status host:path`: asks the far host, whose checkpoint record
// is beside its target, by running its own `sparsync --status PATH` over an
// exec channel (with the sync's -p/-i/-F, --remote-path and --sudo; a far
// host without sparsync gets this binary uploaded for the call, unless
// --no-upload). Its report and its errors are its text: escaped, one line;
// with --json its report is its JSON object, checked and given "host".
// Thread-safety: call from one thread.
#pragma once

#include <string>

#include "common/status.h"
#include "transport/ssh_options.h"

namespace sparsync {

// "host:PATH: complete (...)" as the far side put it (`json`: its JSON
// object with "host" added), or its failure with its exit code (a missing
// target is exit 4 there and here).
Result<std::string> remote_target_status(const SshOptions& options, const std::string& path, bool json);

}  // namespace sparsync
