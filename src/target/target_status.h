// What `sparsync --status TARGET` says (docs/usage.md): whether a sync of
// the target is incomplete and from where it would resume, whether an undo
// journal can roll it back, the generations it keeps, and, where a run with
// --changes completed it, when, and whether the target is still as that run
// left it. Read first (read_target_status), then said as text here, or as
// JSON (app/status_json.h). Reads only: the status of a target changes
// nothing, not even a torn journal tail, and takes no lock (a run in
// progress is reported, not waited for).
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/checkpoint_store.h"
#include "common/status.h"
#include "common/undo_generations.h"

namespace sparsync {

struct TargetStatusFacts {
  std::string path;  // as given
  // The checkpoint record: present while a sync is incomplete (an
  // interrupted one, or one running now).
  std::string record_shown;
  bool record_unreadable = false;
  std::optional<CheckpointRecord> record;
  // Read only with a record: the undo journal that can return the target to
  // its state before the interrupted run.
  std::string undo_shown;  // "" when there is none
  uint64_t undo_bytes = 0;
  std::string undo_unusable;  // why it cannot be used, when it cannot
  // Read only without a record: the synced record a run with --changes left.
  enum class Since { kUnchanged, kChanged, kUnknown };
  std::optional<uint64_t> synced_unix;
  Since since = Since::kUnknown;
  std::string since_unknown;  // why not, with kUnknown (may be "")
  // The kept generations, newest first (K = index + 1), or why they cannot
  // be listed.
  std::vector<UndoGeneration> generations;
  std::string generations_unlisted;

  bool incomplete() const { return record_unreadable || record.has_value(); }
  bool rollback_interrupted() const;
};

Result<TargetStatusFacts> read_target_status(const std::string& path);
// The line (and a line per kept generation) --status prints.
std::string target_status_text(const TargetStatusFacts& facts);

}  // namespace sparsync
