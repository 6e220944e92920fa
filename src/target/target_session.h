// The target side of a sync, after the handshake: hashes its blocks (hasher
// thread) while it receives DATA/HOLE (calling thread) and applies them
// (applier thread); on DONE it flushes everything to stable storage and only
// then sends SUMMARY. With an undo journal, the applier takes the writes in
// batches: the old content of a whole batch is journaled and flushed, then
// a writer thread writes the batch while the applier journals the next one.
// The same code runs in the server (push) and in the client (pull).
// Thread-safety: one call at a time; it owns its threads.
#pragma once

#include <chrono>
#include <string>

#include "common/change_list.h"
#include "common/change_map.h"
#include "common/checkpoint_store.h"
#include "common/device.h"
#include "common/frame_io.h"
#include "common/progress.h"
#include "common/session.h"
#include "common/undo_journal.h"
#include "common/verify.h"

namespace sparsync {

struct TargetSessionInput {
  Device* device = nullptr;  // null only for a missing target in a dry run
  SessionParams params;
  uint64_t readable_size = 0;
  bool known_zero = false;
  uint64_t resume_offset = 0;  // block-aligned; sent to the source in RESUME
  // Where the target's record lives (target/target_open.h wrote the first
  // one, marking the target incomplete); null: no records (dry run).
  const RecordPlace* record = nullptr;
  CheckpointRecord checkpoint;  // source identity etc.; offset and target state are ours to set
  int sync_directory = -1;      // fsync'd before SUMMARY (the target file was created)
  std::string sync_directory_shown;
  Progress* progress = nullptr;     // live counters for display; may be null
  ChangeMap* change_map = nullptr;  // where DATA/HOLE landed, for --map; may be null
  // A pull's client: a read that reports an interrupt (FrameReader::
  // set_interruptible) stops the run. With `stop_source` (kFeatureStop) it
  // asks the source for a final checkpoint (STOP, PROTOCOL.md §4.17) and
  // waits up to `stop_wait` for it; without, it stops at its last checkpoint.
  bool stop_source = false;
  std::chrono::milliseconds stop_wait{10000};
  // Where the before-images of this run's overwrites go (docs/undo-journal.md);
  // null: none (a new target, a dry run, --no-undo). On completion, after the
  // record is removed, it becomes the newest of `keep` kept generations, or
  // goes (common/undo_generations.h).
  UndoJournal* undo = nullptr;
  uint32_t keep = 0;
  bool report_undo = false;  // SUMMARY carries the journal's tail (kFeatureGenerations)
  // A push that carried CHANGES (PROTOCOL.md §4.19): the blocks to hash when
  // the target accepted the change list (block-aligned; null: all), and
  // where the synced record goes, with this run's token, once the run is
  // complete and durable (null: none is written).
  const std::vector<ByteRange>* hash_only = nullptr;
  const RecordPlace* synced = nullptr;
  std::string run_token;
};

struct TargetSessionResult {
  SyncStats stats;  // the source's counters from DONE plus ours
  bool verified = false;
  VerifyOutcome verify;
};

Status run_target_session(const TargetSessionInput& input, FrameReader& in, FrameWriter& out,
                          TargetSessionResult* result);

}  // namespace sparsync
