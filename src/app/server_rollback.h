// The server's answer to ROLLBACK (proto/PROTOCOL.md §4.18): `sparsync
// --rollback host:TARGET` asks the far side to return TARGET to its state
// before an interrupted run, from the undo journal beside it. The request
// passes the same fence as a push onto TARGET (it writes the target), so a
// --read-only server or a path outside --allow-root is refused before
// anything is opened.
// Thread-safety: plain function.
#pragma once

#include <cstdint>
#include <string>

#include "app/server_fence.h"
#include "common/frame_io.h"
#include "common/safe_path.h"
#include "common/status.h"

namespace sparsync {

// Decodes `request` (a ROLLBACK frame), checks the feature was negotiated,
// fences and resolves the path and rolls the target back. Returns the report
// line for ROLLBACK_DONE, or the failure to send as ERROR: kProtocol for a
// malformed request or one without kFeatureRollback, the fence's category,
// or rollback_target's (kUsage for a --to this build cannot honour).
Result<std::string> roll_back_for_client(const ServerFence& fence, const Frame& request, uint64_t features,
                                         const PathTrust& trust);

}  // namespace sparsync
