#include "target/target_status.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

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

void read_undo(const ResolvedPath& where, bool block, TargetStatusFacts* f) {
  auto place = undo_journal_place(where, block);
  if (!place.is_ok()) return;
  UndoFileFacts facts;
  Status read = read_undo_facts(place.value(), &facts);
  if (!read.is_ok()) {
    f->undo_unusable = read.message();
  } else if (facts.exists) {
    f->undo_shown = place.value().shown();
    f->undo_bytes = facts.bytes;
  }
}

// The target's identity now, opened only to tell it: no lock, nothing
// followed, never blocking, and nothing opened for real but a regular file
// or a block device (a name swapped for a tape device since it was looked at
// must not rewind it). "" when it cannot be told; *open_errno says why when
// an open failed.
std::string state_identity(const ResolvedPath& where, int* open_errno) {
  UniqueFd path_fd(::openat(where.dir.get(), where.name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!path_fd.valid() || ::fstat(path_fd.get(), &st) != 0) {
    *open_errno = errno;
    return {};
  }
  if (S_ISREG(st.st_mode)) return identity_of_open(path_fd.get());
  if (!S_ISBLK(st.st_mode)) return {};
  // The size of a block device takes an ioctl, on a real descriptor of the
  // very inode looked at.
  UniqueFd fd(::open(("/proc/self/fd/" + std::to_string(path_fd.get())).c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!fd.valid()) {
    *open_errno = errno;
    return {};
  }
  return identity_of_open(fd.get());
}

void read_synced(const ResolvedPath& where, bool block, TargetStatusFacts* f) {
  auto place = synced_record_place(where, block);
  if (!place.is_ok()) return;
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  if (!load_checkpoint(place.value(), &rec, &corrupt).is_ok() || !rec || corrupt ||
      rec->durable_offset != rec->source_size) {
    return;
  }
  f->synced_unix = rec->updated_unix;
  int open_errno = 0;
  const std::string now = synced_state_of(state_identity(where, &open_errno));
  if (now.empty()) {
    // Not "changed": a user who may not open the target cannot tell, and
    // the run (which may) decides for itself.
    f->since = TargetStatusFacts::Since::kUnknown;
    if (open_errno != 0) f->since_unknown = std::strerror(open_errno);
  } else {
    f->since = now == rec->target_id ? TargetStatusFacts::Since::kUnchanged : TargetStatusFacts::Since::kChanged;
  }
}

std::string first_line(const TargetStatusFacts& f) {
  const std::string& path = f.path;
  if (f.record_unreadable) {
    return path + ": incomplete (checkpoint " + f.record_shown +
           " is unreadable; the next run compares from the start)";
  }
  if (f.record && f.record->durable_offset == 0) {
    return path +
           ": incomplete: a sync was interrupted before its first checkpoint; the next run compares "
           "from the start";
  }
  if (f.record) {
    return path + ": incomplete: an interrupted sync is checkpointed at " + format_bytes(f.record->durable_offset) +
           " of " + format_bytes(f.record->source_size) +
           "; the next run from the same source resumes there if the target is unchanged";
  }
  if (!f.synced_unix) return path + ": complete (no interrupted sync recorded)";
  const std::string when = format_local_time(*f.synced_unix);
  const std::string last = "last synced " + when + " by a run with --changes";
  switch (f.since) {
    case TargetStatusFacts::Since::kUnchanged:
      return path + ": complete: " + last + ", and unchanged since";
    case TargetStatusFacts::Since::kChanged:
      return path + ": complete (no interrupted sync recorded); changed since a run with --changes last synced it (" +
             when + "), so the next such run compares in full";
    case TargetStatusFacts::Since::kUnknown:
      break;
  }
  return path + ": complete: " + last + "; whether it changed since cannot be told here" +
         (f.since_unknown.empty() ? std::string() : " (" + f.since_unknown + ")");
}

}  // namespace

bool TargetStatusFacts::rollback_interrupted() const {
  for (const UndoGeneration& g : generations) {
    if (g.undoing) return true;
  }
  return false;
}

Result<TargetStatusFacts> read_target_status(const std::string& path) {
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
  TargetStatusFacts f;
  f.path = path;
  f.record_shown = place.value().shown();
  SPARSYNC_RETURN_IF_ERROR(load_checkpoint(place.value(), &f.record, &f.record_unreadable));
  // A journal without a record is a completed run's leftover, not a way back.
  if (f.incomplete()) {
    read_undo(where.value(), block, &f);
  } else {
    read_synced(where.value(), block, &f);
  }
  auto journal = undo_journal_place(where.value(), block);
  if (journal.is_ok()) {
    auto listed = list_undo_generations(journal.value());
    if (listed.is_ok()) {
      f.generations = listed.take();
    } else {
      f.generations_unlisted = listed.status().message();
    }
  }
  return f;
}

std::string target_status_text(const TargetStatusFacts& f) {
  std::string text = first_line(f);
  if (!f.undo_unusable.empty()) {
    text += "; its undo journal is unusable (" + f.undo_unusable + ")";
  } else if (!f.undo_shown.empty()) {
    text += "; its undo journal " + f.undo_shown + " (" + format_bytes(f.undo_bytes) +
            ") can return it to its state before the interrupted run: sparsync --rollback " + f.path;
  }
  return text + generations_text(f.generations, f.generations_unlisted, f.path);
}

}  // namespace sparsync
