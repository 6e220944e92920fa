// What the user asked for, after the command line is parsed and the two
// paths are sorted into local and remote. Plain data.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/change_map.h"
#include "common/progress.h"
#include "common/proto/protocol_constants.h"
#include "common/session.h"
#include "common/verify.h"

namespace sparsync {

class ChangeTracker;

inline constexpr int kAutoLanesMost = 16;
// --timeout: how long either side waits for a byte from the other before it
// calls the peer dead (docs/usage.md "Hangs and timeouts"); long enough for a slow disk's
// flush, short enough that a hung far side costs a night's run, not all of it.
inline constexpr uint32_t kDefaultIdleTimeout = 300;

struct SyncRequest {
  std::string source;  // path as given (on the far host when pull)
  std::string target;  // path as given (on the far host when push)
  bool pull = false;   // the server plays the source
  uint32_t block_size = 0;
  proto::HashKind hash_kind = proto::HashKind::kXxh3_128;
  bool dry_run = false;
  bool allow_larger_target = false;
  bool restart = false;                   // ignore a checkpoint of an interrupted run
  bool verify = false;                    // SHA-256 of both images after the sync
  bool force = false;                     // --force: the target skips its mount check
  bool undo = false;                      // --undo: a block device target keeps an undo journal too
  bool no_undo = false;                   // --no-undo: the target keeps no undo journal
  bool keep_cache = false;                // --keep-cache: both sides read through the page cache and leave it there
  uint16_t keep = proto::kKeepUnchanged;  // --keep N: kept generations of the journal
  // --max-undo: the most bytes the undo journal may hold, 0 = no cap; unset:
  // the target's default (docs/undo-journal.md "Size cap").
  std::optional<uint64_t> max_undo = std::nullopt;
  // --source-format: how a source file on this host is read (an NBD URI is
  // always read through NBD).
  enum class SourceFormat { kRaw, kQcow2, kAuto };
  SourceFormat source_format = SourceFormat::kRaw;
  // SOURCE "-": read the source from stdin (source/stream_source.h), once.
  bool source_stdin = false;
  std::optional<uint64_t> stdin_size = std::nullopt;  // --size; else from a redirected file
  uint64_t checkpoint_bytes = 1ull << 30;
  uint32_t checkpoint_seconds = 30;  // whole seconds, as OPEN carries them
  Progress* progress = nullptr;      // live counters for a progress display; not owned
  ChangeMap* change_map = nullptr;   // filled for --map; not owned
  uint64_t bwlimit = 0;              // --bwlimit: DATA bytes per second, 0 = unlimited
  int compress_level = 0;            // --compress: zstd level, 0 = off
  // --lanes: SSH channels a push uses (PROTOCOL.md §4.15); 0: as many as
  // the round trip calls for, up to kAutoLanesMost.
  int lanes = 0;
  bool retry = false;  // set by run_with_retries on its automatic retries
  // --timeout: seconds without a byte from the far side, or without it
  // taking one, before the run fails as a broken connection; 0: none.
  uint32_t timeout = kDefaultIdleTimeout;
  // --changes: the push's change tracker (app/change_tracker.h); not owned,
  // null without --changes.
  ChangeTracker* changes = nullptr;
};

struct SyncOutcome {
  SyncStats stats;
  uint64_t image_size = 0;  // once known (OPEN or OPEN_OK)
  double seconds = 0;
  std::string source_shown;  // resolved paths, with host for the remote one
  std::string target_shown;
  bool target_created = false;
  // A block device source in live use for writing (SourceFacts): the copy
  // may hold blocks torn by writes during the run.
  bool source_live = false;
  // Why a checkpoint beside the target was not resumed from
  // (checkpoint_ignored_name in target/target_open.h); "" when none was.
  std::string checkpoint_ignored;
  // --changes: "full" or the mode whose change list the run used, and why
  // it compared in full ("" when it did not, or without --changes).
  std::string change_source;
  std::string fallback_reason;
  bool session_started = false;  // the handshake completed: a retry can resume
  bool verified = false;
  VerifyOutcome verify;
};

// True for a power of two within the protocol's block size limits.
bool valid_block_size(uint64_t size);

}  // namespace sparsync
