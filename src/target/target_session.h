// The target side of a sync, after the handshake: hashes its blocks (hasher
// thread) while it receives DATA/HOLE (calling thread) and applies them
// (applier thread); on DONE it flushes everything to stable storage and only
// then sends SUMMARY. The same code runs in the server (push) and in the
// client (pull).
// Thread-safety: one call at a time; it owns its threads.
#pragma once

#include "common/device.h"
#include "common/frame_io.h"
#include "common/session.h"

namespace sparsync {

struct TargetSessionInput {
  Device* device = nullptr;  // null only for a missing target in a dry run
  SessionParams params;
  uint64_t readable_size = 0;
  bool known_zero = false;
};

struct TargetSessionResult {
  SyncStats stats;  // the source's counters from DONE plus ours
};

Status run_target_session(const TargetSessionInput& input, FrameReader& in, FrameWriter& out,
                          TargetSessionResult* result);

}  // namespace sparsync
