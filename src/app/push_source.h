// The source of a push, opened on this host: a file or block device, or
// stdin read once ("-"). The client opens it for each attempt; sync_mode
// opens it once more before connecting, so that a missing source, a
// directory or a pipe without --size fails alone, before the far side is
// started and has a hang-up of its own to report.
// Thread-safety: a plain function.
#pragma once

#include <memory>

#include "app/sync_request.h"
#include "common/device.h"
#include "common/status.h"

namespace sparsync {

// Opening stdin reads nothing from it (its size comes from --size, fstat or
// the block device), so it may be opened again.
Result<std::unique_ptr<Device>> open_push_source(const SyncRequest& r);

}  // namespace sparsync
