// What proves a target untouched since the run that left it synced
// (PROTOCOL.md §4.19): the synced record (common/checkpoint_store.h) holds
// the target's state as that run left it, and a change list may start from
// that run only while the state is still the same.
//   regular file  the file's identity: device, inode, size, mtime and ctime
//                 (no write, truncate or rename-over leaves ctime alone)
//   block device  maj:min and size, plus the kernel's counts of completed
//                 write and discard requests on it and the boot they belong
//                 to: any write through the device since moves them; a
//                 reboot resets them, and then nothing is proved. A write
//                 that bypasses the device (the backing file of a loop
//                 device, the PV under an LV) is not seen: docs/
//                 change-tracking.md says so, and --full-every bounds it.
// Thread-safety: plain functions.
#pragma once

#include <string>

#include "common/checkpoint_store.h"
#include "common/device.h"
#include "common/proto/protocol_constants.h"

namespace sparsync {

// The target's state now; "" when it cannot be told (then nothing matches).
std::string synced_state(const Device& target);
// The same for a target known by its identity now (Device::identity()).
std::string synced_state_of(const std::string& identity);

struct ChangesRequest {
  std::string base_token;  // 16 bytes; empty: no base run named
  uint64_t source_size = 0;
  uint32_t block_size = 0;
  proto::HashKind hash_kind = proto::HashKind::kXxh3_128;
};

// Whether the target may confine this run to the change list: the synced
// record at `place` must name the base run, the run's shape, and the
// target's state now. `target` null: a missing target.
proto::ChangesAnswer decide_changes(const ChangesRequest& request, const Device* target, const RecordPlace& place,
                                    bool resuming);

// A short phrase for each answer, for the client's one line and JSON
// ("no-completed-run", ...); "" for kAccepted.
const char* changes_answer_name(proto::ChangesAnswer answer);
// The sentence the client prints: why the run compares in full.
std::string changes_answer_text(proto::ChangesAnswer answer);

}  // namespace sparsync
