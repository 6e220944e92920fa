// Opening the target: the size policy, decided before the first write.
//   missing file      -> created sparse at the source size (dry run: nothing
//                        is created; it is reported as all zeros)
//   file larger       -> truncated to the source size
//   file smaller      -> extended (the extension is a hole)
//   device smaller    -> refused
//   device larger     -> refused unless allow_larger_target (then only the
//                        first source-size bytes are synced; never truncated)
//   device in use     -> refused, naming the mount point or holder (the mount
//                        check is skipped with force; O_EXCL still applies)
// Thread-safety: a plain function.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/device.h"
#include "common/messages.h"

namespace sparsync {

struct TargetOpenRequest {
  std::string path;
  uint64_t source_size = 0;
  bool dry_run = false;
  bool allow_larger_target = false;
  // For matching a checkpoint left by an interrupted run:
  std::string source_id;
  uint32_t block_size = 0;
  proto::HashKind hash_kind = proto::HashKind::kXxh3_128;
  bool restart = false;  // ignore any checkpoint deliberately
  bool force = false;    // skip the mount check of a block device (common/in_use.h)
  bool retry = false;    // an automatic retry: wait briefly for the previous run's lock
};

struct OpenedTarget {
  std::unique_ptr<Device> device;  // null only for a missing target in a dry run
  proto::OpenOk reply;             // what to tell the source
  bool known_zero = false;         // new file: every block is zero, nothing to hash
  uint64_t readable_size = 0;      // bytes of existing content within the image
  uint64_t resume_offset = 0;      // from a matching checkpoint, else 0
  std::string checkpoint_path;     // where this target's record lives; empty in a dry run
  std::string notice;              // one line for the user about the checkpoint, if any
  std::string created_in;          // directory of a file this run created, to fsync
};

Result<OpenedTarget> open_target(const TargetOpenRequest& request);

// What `sparsync --status TARGET` prints: whether a sync of the target is
// incomplete, and from where it would resume.
Result<std::string> target_status(const std::string& path);

// The absolute path of `path` with symlinks resolved (of its directory when
// the file does not exist yet), for the source to show what was opened.
std::string resolved_path(const std::string& path);

}  // namespace sparsync
