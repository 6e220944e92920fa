// The source side of a sync, after the handshake: reads the source (reader
// thread), receives the target's hash reports (receiver thread), plans and
// sends DATA/HOLE (calling thread), then DONE, and waits for the target's
// SUMMARY, which it sends only once everything is durable.
// The same code runs in the client (push) and in the server (pull).
// Thread-safety: one call at a time; it owns its threads.
#pragma once

#include "common/change_list.h"
#include "common/change_map.h"
#include "common/device.h"
#include "common/frame_io.h"
#include "common/progress.h"
#include "common/session.h"
#include "common/verify.h"

namespace sparsync {

struct SourceSessionOptions {
  // A CHECKPOINT goes out after this many bytes or seconds, whichever first:
  // a resumed run re-sends at most about this much.
  uint64_t checkpoint_bytes = 1ull << 30;
  double checkpoint_seconds = 30;
  bool checkpoints = true;          // kFeatureCheckpoint was negotiated (PROTOCOL.md §3)
  Progress* progress = nullptr;     // live counters for display; may be null
  ChangeMap* change_map = nullptr;  // where DATA/HOLE went, for --map; may be null
  uint64_t bwlimit = 0;             // DATA bytes per second, 0 = unlimited
  int compress_level = 0;           // zstd level for DATA_ZSTD (negotiated), 0 = off
  // kFeatureStop was negotiated: the target may send STOP (PROTOCOL.md
  // §4.17), which ends the run as a signal does, with a final checkpoint.
  bool stop_requests = false;
  // A run confined to a change list (PROTOCOL.md §4.19), once the target
  // accepted it: `read_only` (bitmap, reflink) is what the reader reads,
  // the same blocks the target hashes, and a block left out on both sides
  // is unchanged; or `stored` (--changes digest) stands in for the target's
  // reports of the blocks it skipped. Either may be null; neither owned.
  const std::vector<ByteRange>* read_only = nullptr;
  class StoredDigests* stored = nullptr;
  // --changes digest: every block's digest as read goes here, for the next
  // run (complete only for a run from offset 0). Not owned; may be null.
  class DigestRecorder* record_digests = nullptr;
  // --changes digest after a pre-scan: a fingerprint of the stored digests
  // of every block this run reads (not owned; may be null).
  class DigestFingerprint* fingerprint = nullptr;

  bool operator==(const SourceSessionOptions&) const = default;
};

struct SourceSessionResult {
  SyncStats stats;
  bool verified = false;  // --verify ran; see verify
  VerifyOutcome verify;
};

Status run_source_session(Device& source, const SessionParams& params, const SourceSessionOptions& options,
                          FrameReader& in, FrameWriter& out, SourceSessionResult* result);

inline Status run_source_session(Device& source, const SessionParams& params, FrameReader& in, FrameWriter& out,
                                 SourceSessionResult* result) {
  return run_source_session(source, params, SourceSessionOptions{}, in, out, result);
}

}  // namespace sparsync
