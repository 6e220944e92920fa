// The source side of a sync, after the handshake: reads the source (reader
// thread), receives the target's hash reports (receiver thread), plans and
// sends DATA/HOLE (calling thread), then DONE, and waits for the target's
// SUMMARY, which it sends only once everything is durable.
// The same code runs in the client (push) and in the server (pull).
// Thread-safety: one call at a time; it owns its threads.
#pragma once

#include "common/device.h"
#include "common/frame_io.h"
#include "common/session.h"

namespace sparsync {

struct SourceSessionResult {
  SyncStats stats;
};

Status run_source_session(Device& source, const SessionParams& params, FrameReader& in,
                          FrameWriter& out, SourceSessionResult* result);

}  // namespace sparsync
