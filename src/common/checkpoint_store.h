// The checkpoint record: on the target host, the durable statement "every
// byte of this target below `durable_offset` equals the source named here,
// and the target has not changed since this was written".
// Its presence is also the mark that a sync of this target is incomplete.
//
// Written as one small file, replaced atomically: a temporary with an
// unpredictable name created O_EXCL|O_NOFOLLOW in the record's directory
// (an open descriptor, common/safe_path.h), fsync, renameat over the old
// record, fsync of the directory. Nothing is ever opened by a path another
// user could redirect. A record whose checksum (XXH64) or layout does not
// match is treated as absent, never as a resume point (format in
// proto/PROTOCOL.md §6).
// Thread-safety: plain functions; callers serialise writes per target.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/proto/protocol_constants.h"
#include "common/safe_path.h"
#include "common/status.h"
#include "common/unique_fd.h"

namespace sparsync {

struct CheckpointRecord {
  std::string source_id;  // identity of the source (Device::identity())
  uint64_t source_size = 0;
  uint32_t block_size = 0;
  proto::HashKind hash_kind = proto::HashKind::kXxh3_128;
  uint64_t durable_offset = 0;
  uint64_t updated_unix = 0;  // wall-clock seconds, for --status
  // The target's own state when the record was written (Device::identity()
  // of the target: for a file its device, inode, size, mtime and ctime).
  // Empty in a record of format 1, which did not bind the target.
  std::string target_id;
  // Format 3, the synced record only (synced_record_place): the token of the
  // completed run (PROTOCOL.md §4.19), 16 bytes; empty otherwise.
  std::string run_token;
};

// Where a record lives: its directory, open, and its name there.
struct RecordPlace {
  UniqueFd dir;
  std::string dir_shown;
  std::string name;
  std::string shown() const { return (dir_shown == "/" ? "" : dir_shown) + "/" + name; }
};

// The record of a target: beside a regular file, in the file's directory
// ("<dir>/.<name>.sparsync-checkpoint"; a long name is shortened and
// hashed to fit NAME_MAX, ".<head>.<hash>.sparsync-checkpoint-long", a name
// no short name's record can have), or for a block device in $SPARSYNC_STATE_DIR
// (default /var/lib/sparsync, created 0700 when missing), named after the
// device's resolved path.
Result<RecordPlace> record_place(const ResolvedPath& target, bool block_device);
// The record's file name for a target file named `name` (no directory).
std::string record_name(const std::string& name);
// Where the target's undo journal (common/undo_journal.h) lives: beside the
// record, ".<name>.sparsync-undo" (long names: "...sparsync-undo-long"), or
// for a block device "$SPARSYNC_STATE_DIR/<path with / as !>.undo".
Result<RecordPlace> undo_journal_place(const ResolvedPath& target, bool block_device);
std::string undo_journal_name(const std::string& name);
// The synced record (PROTOCOL.md §4.19): after a run that carried CHANGES
// completed, the same layout says "this target is exactly the result of run
// `run_token`, and was in state `target_id` then"; a change list may start
// from it. Beside the record, ".<name>.sparsync-synced" (long names:
// "...sparsync-synced-long"), or for a block device
// "$SPARSYNC_STATE_DIR/<path with / as !>.synced". Removed before any run
// changes the target.
Result<RecordPlace> synced_record_place(const ResolvedPath& target, bool block_device);

std::string encode_checkpoint(const CheckpointRecord& record);
// nullopt when the bytes are torn, corrupt or of an unknown format.
std::optional<CheckpointRecord> decode_checkpoint(const std::string& bytes);

Status save_checkpoint(const RecordPlace& place, const CheckpointRecord& record);
// No record: *record stays empty. Unreadable, corrupt, not a regular file
// (a symlink or FIFO planted at the name) or owned by neither root nor the
// user this process runs as (planted by someone else who can write the
// directory): *corrupt is set.
Status load_checkpoint(const RecordPlace& place, std::optional<CheckpointRecord>* record, bool* corrupt);
Status remove_checkpoint(const RecordPlace& place);

// The same by path (the directory resolved with common/safe_path.h, the
// record's own name never followed), for tests and tools.
std::string checkpoint_path(const std::string& target_path, bool block_device);
Result<RecordPlace> record_place_at(const std::string& record_path);
Status save_checkpoint(const std::string& path, const CheckpointRecord& record);
Status load_checkpoint(const std::string& path, std::optional<CheckpointRecord>* record, bool* corrupt);
Status remove_checkpoint(const std::string& path);

// fsync of a directory, so that a created or renamed entry is durable.
Status fsync_directory(int dir_fd, const std::string& shown);
Status fsync_directory(const std::string& dir);
// The directory part of a path ("." when there is none).
std::string directory_of(const std::string& path);

}  // namespace sparsync
