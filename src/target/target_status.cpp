#include "target/target_status.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <optional>

#include "common/checkpoint_store.h"
#include "common/device.h"
#include "common/rollback_to.h"
#include "common/safe_path.h"
#include "common/undo_journal.h"
#include "common/unique_fd.h"
#include "common/units.h"
#include "target/generation_status.h"
#include "target/synced_state.h"

namespace sparsync {
namespace {

// "; an undo journal ... can roll it back ..." when one is pending, else "".
std::string undo_status(const ResolvedPath& where, bool block, const std::string& path) {
  auto place = undo_journal_place(where, block);
  if (!place.is_ok()) return {};
  // Read only: --status changes nothing, not even a torn tail.
  UndoFileFacts facts;
  Status read = read_undo_facts(place.value(), &facts);
  if (!read.is_ok()) return "; its undo journal is unusable (" + read.message() + ")";
  if (!facts.exists) return {};
  return "; its undo journal " + place.value().shown() + " (" + format_bytes(facts.bytes) +
         ") can return it to its state before the interrupted run: sparsync --rollback " + path;
}

// For a target with no interrupted sync: ": complete..." as its synced
// record (PROTOCOL.md §4.19) has it, "" when it has none (only runs with
// --changes leave one).
std::string synced_status(const ResolvedPath& where, bool block) {
  auto place = synced_record_place(where, block);
  if (!place.is_ok()) return {};
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  if (!load_checkpoint(place.value(), &rec, &corrupt).is_ok() || !rec || corrupt ||
      rec->durable_offset != rec->source_size) {
    return {};
  }
  // Opened only to tell its state: no lock, nothing followed, never blocking.
  UniqueFd fd(::openat(where.dir.get(), where.name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  const int open_errno = errno;
  const std::string now = fd.valid() ? synced_state_of(identity_of_open(fd.get())) : std::string();
  const std::string last = "last synced " + format_local_time(rec->updated_unix) + " by a run with --changes";
  if (now.empty()) {
    // Not "changed": a user who may not open the target cannot tell, and
    // the run (which may) decides for itself.
    return ": complete: " + last + "; whether it changed since cannot be told here" +
           (fd.valid() ? std::string() : std::string(" (") + std::strerror(open_errno) + ")");
  }
  if (now == rec->target_id) return ": complete: " + last + ", and unchanged since";
  return ": complete (no interrupted sync recorded); changed since a run with --changes last synced it (" +
         format_local_time(rec->updated_unix) + "), so the next such run compares in full";
}

std::string checkpoint_status(const std::string& path, const std::optional<CheckpointRecord>& rec, bool corrupt,
                              const std::string& cp, const std::string& synced) {
  if (corrupt) return path + ": incomplete (checkpoint " + cp + " is unreadable; the next run compares from the start)";
  if (!rec) return path + (synced.empty() ? ": complete (no interrupted sync recorded)" : synced);
  if (rec->durable_offset == 0) {
    return path +
           ": incomplete: a sync was interrupted before its first checkpoint; the next run compares "
           "from the start";
  }
  return path + ": incomplete: an interrupted sync is checkpointed at " + format_bytes(rec->durable_offset) + " of " +
         format_bytes(rec->source_size) +
         "; the next run from the same source resumes there if the target is unchanged";
}

}  // namespace

Result<std::string> target_status(const std::string& path) {
  auto where = resolve_path(path, ErrorKind::kTarget);
  if (!where.is_ok()) return where.status();
  struct stat st {};
  if (!where.value().exists ||
      ::fstatat(where.value().dir.get(), where.value().name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno_status(ErrorKind::kTarget, "cannot stat " + path, where.value().exists ? errno : ENOENT);
  }
  const bool block = S_ISBLK(st.st_mode);
  auto place = record_place(where.value(), block);
  if (!place.is_ok()) return place.status();
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  SPARSYNC_RETURN_IF_ERROR(load_checkpoint(place.value(), &rec, &corrupt));
  const std::string synced = rec || corrupt ? std::string() : synced_status(where.value(), block);
  std::string line = checkpoint_status(path, rec, corrupt, place.value().shown(), synced);
  // A journal without a record is a completed run's leftover, not a way back.
  if (rec || corrupt) line += undo_status(where.value(), block, path);
  auto journal = undo_journal_place(where.value(), block);
  if (journal.is_ok()) line += generations_status(journal.value(), path);
  return line;
}

}  // namespace sparsync
