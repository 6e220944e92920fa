#include "target/synced_state.h"

#include <fstream>
#include <sstream>
#include <vector>

namespace sparsync {
namespace {

// Fields 5 (write requests completed), 7 (sectors written) and 12 (discard
// requests completed) of /sys/dev/block/MAJ:MIN/stat
// (Documentation/block/stat.rst), and the boot they count from.
std::string device_write_counts(const std::string& identity) {
  // identity: "blockdev:MAJ:MIN:SIZE" (common/device.cpp).
  std::vector<std::string> parts;
  std::stringstream in(identity);
  for (std::string part; std::getline(in, part, ':');) parts.push_back(part);
  if (parts.size() != 4 || parts[0] != "blockdev") return {};
  std::ifstream stat("/sys/dev/block/" + parts[1] + ":" + parts[2] + "/stat");
  std::vector<std::string> fields;
  for (std::string f; stat >> f;) fields.push_back(f);
  std::ifstream boot("/proc/sys/kernel/random/boot_id");
  std::string boot_id;
  std::getline(boot, boot_id);
  if (fields.size() < 12 || boot_id.empty()) return {};
  return ":writes=" + fields[4] + ":sectors=" + fields[6] + ":discards=" + fields[11] + ":boot=" + boot_id;
}

}  // namespace

std::string synced_state_of(const std::string& identity) {
  if (identity.rfind("blockdev:", 0) != 0) return identity;
  std::string counts = device_write_counts(identity);
  return counts.empty() ? std::string() : identity + counts;
}

std::string synced_state(const Device& target) { return synced_state_of(target.current_identity()); }

proto::ChangesAnswer decide_changes(const ChangesRequest& request, const Device* target, const RecordPlace& place,
                                    bool resuming) {
  using A = proto::ChangesAnswer;
  if (request.base_token.empty()) return A::kNoBase;
  if (resuming) return A::kResuming;
  if (target == nullptr) return A::kNoCompletedRun;
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  if (!load_checkpoint(place, &rec, &corrupt).is_ok() || !rec || corrupt) return A::kNoCompletedRun;
  if (rec->run_token != request.base_token) return A::kOtherRun;
  if (rec->source_size != request.source_size || rec->block_size != request.block_size ||
      rec->hash_kind != request.hash_kind || rec->durable_offset != rec->source_size) {
    return A::kOtherShape;
  }
  const std::string now = synced_state(*target);
  if (now.empty() || now != rec->target_id) return A::kTargetChanged;
  return A::kAccepted;
}

const char* changes_answer_name(proto::ChangesAnswer answer) {
  switch (answer) {
    case proto::ChangesAnswer::kAccepted:
      return "";
    case proto::ChangesAnswer::kNoBase:
      return "no-base";
    case proto::ChangesAnswer::kNoCompletedRun:
      return "no-completed-run";
    case proto::ChangesAnswer::kOtherRun:
      return "other-run";
    case proto::ChangesAnswer::kTargetChanged:
      return "target-changed";
    case proto::ChangesAnswer::kOtherShape:
      return "other-shape";
    case proto::ChangesAnswer::kResuming:
      return "resuming";
  }
  return "unknown";
}

std::string changes_answer_text(proto::ChangesAnswer answer) {
  switch (answer) {
    case proto::ChangesAnswer::kAccepted:
      return "";
    case proto::ChangesAnswer::kNoBase:
      return "no earlier run to start from";
    case proto::ChangesAnswer::kNoCompletedRun:
      return "the target records no completed run (the last one did not complete, or ran without --changes)";
    case proto::ChangesAnswer::kOtherRun:
      return "the target's last completed run is not the one the change list starts from";
    case proto::ChangesAnswer::kTargetChanged:
      return "the target changed since the last run (written, restored or rolled back outside it)";
    case proto::ChangesAnswer::kOtherShape:
      return "the image size, block size or hash differ from the last run's";
    case proto::ChangesAnswer::kResuming:
      return "an interrupted run is resumed from its checkpoint";
  }
  return "unknown answer";
}

}  // namespace sparsync
