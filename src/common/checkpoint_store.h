// The checkpoint record: on the target host, the durable statement "every
// byte of this target below `durable_offset` equals the source named here".
// Its presence is also the mark that a sync of this target is incomplete.
//
// Written as one small file, replaced atomically: write a temp file, fsync
// it, rename it over the old one, fsync the directory. A record whose
// checksum (XXH64) or layout does not match is treated as absent, never as a
// resume point (format in proto/PROTOCOL.md §6).
// Thread-safety: plain functions; callers serialise writes per target.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/protocol_constants.h"
#include "common/status.h"

namespace sparsync {

struct CheckpointRecord {
  std::string source_id;  // identity of the source (see source_identity())
  uint64_t source_size = 0;
  uint32_t block_size = 0;
  proto::HashKind hash_kind = proto::HashKind::kXxh3_128;
  uint64_t durable_offset = 0;
  uint64_t updated_unix = 0;  // wall-clock seconds, for --status
};

// Where the record of `target_path` lives: beside a regular file
// ("<dir>/.<name>.sparsync-checkpoint"), or for a block device in
// $SPARSYNC_STATE_DIR (default /var/lib/sparsync).
std::string checkpoint_path(const std::string& target_path, bool block_device);

std::string encode_checkpoint(const CheckpointRecord& record);
// nullopt when the bytes are torn, corrupt or of another format.
std::optional<CheckpointRecord> decode_checkpoint(const std::string& bytes);

Status save_checkpoint(const std::string& path, const CheckpointRecord& record);
// *found is false when there is no file; a corrupt file sets *corrupt.
Status load_checkpoint(const std::string& path, std::optional<CheckpointRecord>* record,
                       bool* corrupt);
Status remove_checkpoint(const std::string& path);

// fsync of a directory, so that a created or renamed entry is durable.
Status fsync_directory(const std::string& dir);
// The directory part of a path ("." when there is none).
std::string directory_of(const std::string& path);

}  // namespace sparsync
