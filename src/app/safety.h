// Checks on the two sides of a sync made before anything is opened for
// writing (docs/security.md "Safety rails"): a stdin source is local only, and an image
// is never synced onto itself. The in-use check of a target block device
// happens where the target is opened (target/target_open.cpp), on its host.
// Thread-safety: a plain function.
#pragma once

#include "app/sync_request.h"
#include "common/status.h"

namespace sparsync {

// `remote`: one side is on another host (then only the stdin rule applies:
// the far side's paths cannot be compared with this host's). kUsage on a
// refusal.
Status check_sides(const SyncRequest& request, bool remote);

}  // namespace sparsync
