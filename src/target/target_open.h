// Opening the target: every check that can refuse the run first, then the
// checkpoint record that marks the target incomplete, and only then the first
// change to an existing target (the size policy's truncate or extend):
//   missing file      -> created sparse at the source size, with the source's
//                        permission bits (0600 when unknown); never under
//                        /dev (a mistyped device name); dry run: nothing is
//                        created, it is reported as all zeros
//   file larger       -> truncated to the source size
//   file smaller      -> extended (the extension is a hole)
//   device smaller    -> refused
//   device larger     -> refused unless allow_larger_target (then only the
//                        first source-size bytes are synced; never truncated)
//   device in use     -> refused, naming the mount point or holder (the mount
//                        check is skipped with force; O_EXCL still applies)
// An existing target gets its undo journal (docs/undo-journal.md) before
// its checkpoint record, and a shrink journals what it cuts off first.
// The target is opened in the directory its path resolved to
// (common/safe_path.h), never through a symlink there.
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "common/checkpoint_store.h"
#include "common/device.h"
#include "common/proto/messages.h"
#include "common/safe_path.h"
#include "common/undo_journal.h"

namespace sparsync {

struct TargetOpenRequest {
  uint64_t source_size = 0;
  bool dry_run = false;
  bool allow_larger_target = false;
  // For matching a checkpoint left by an interrupted run:
  std::string source_id;
  uint32_t block_size = 0;
  proto::HashKind hash_kind = proto::HashKind::kXxh3_128;
  bool restart = false;                   // ignore any checkpoint deliberately
  bool force = false;                     // skip the mount check of a block device (common/in_use.h)
  bool retry = false;                     // an automatic retry: wait briefly for the previous run's lock
  uint32_t source_mode = 0;               // the source's permission bits, 0 when unknown
  bool undo = false;                      // --undo: a block device keeps an undo journal too
  bool no_undo = false;                   // --no-undo: no undo journal (a pending one is removed first)
  bool keep_cache = false;                // --keep-cache: read through the page cache and leave it there
  uint16_t keep = proto::kKeepUnchanged;  // --keep N: kept generations (docs/undo-journal.md)
  // --max-undo: the most bytes the journal may hold, 0 = no cap; unset: its
  // size now plus half the free space of its filesystem.
  std::optional<uint64_t> max_undo;
  // CHANGES came with OPEN (PROTOCOL.md §4.19): the run token to record on
  // completion, and the base run the change list starts from ("": none).
  bool changes = false;
  std::string run_token;
  std::string base_token;

  bool operator==(const TargetOpenRequest&) const = default;
};

using proto::CheckpointIgnored;
// "restart", "unreadable", "source-changed", "target-changed", "old-format"; "" for kNone.
const char* checkpoint_ignored_name(CheckpointIgnored why);

struct OpenedTarget {
  std::unique_ptr<Device> device;     // null only for a missing target in a dry run
  proto::OpenOk reply;                // what to tell the source
  bool known_zero = false;            // new file: every block is zero, nothing to hash
  uint64_t readable_size = 0;         // bytes of existing content within the image
  uint64_t resume_offset = 0;         // from a matching checkpoint, else 0
  std::optional<RecordPlace> record;  // where this target's record lives; none in a dry run
  CheckpointRecord checkpoint;        // as written when the target was opened
  std::string notice;                 // one line for the user about the checkpoint, if any
  CheckpointIgnored ignored = CheckpointIgnored::kNone;
  UniqueFd created_in;  // directory of a file this run created, to fsync
  std::string created_in_shown;
  // The before-images of this run's overwrites (docs/undo-journal.md): an
  // existing target's, created or continued; none for a target this run
  // created, in a dry run or with --no-undo.
  std::unique_ptr<UndoJournal> undo;
  uint32_t keep = 0;  // generations of the journal kept when the run completes
  // With CHANGES: whether this run is confined to the change list, or why
  // not; and where its synced record goes on completion (none in a dry run).
  proto::ChangesAnswer changes_answer = proto::ChangesAnswer::kNoBase;
  std::optional<RecordPlace> synced;
};

// `where` is the target's resolved path (a fence, if any, already checked).
Result<OpenedTarget> open_target(const TargetOpenRequest& request, const ResolvedPath& where);
// The same for a path on this host, resolved first (no fence, no extra trust).
Result<OpenedTarget> open_target(const TargetOpenRequest& request, const std::string& path);

// The absolute path of `path` with symlinks resolved (of its directory when
// the file does not exist yet), for the source to show what was opened.
std::string resolved_path(const std::string& path);

}  // namespace sparsync
