#include "target/target_open.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <string>

#include "common/in_use.h"
#include "common/undo_generations.h"
#include "common/units.h"
#include "target/generation_plan.h"
#include "target/synced_state.h"

namespace sparsync {

const char* checkpoint_ignored_name(CheckpointIgnored why) {
  switch (why) {
    case CheckpointIgnored::kNone:
      return "";
    case CheckpointIgnored::kRestart:
      return "restart";
    case CheckpointIgnored::kUnreadable:
      return "unreadable";
    case CheckpointIgnored::kOtherSource:
      return "source-changed";
    case CheckpointIgnored::kTargetChanged:
      return "target-changed";
    case CheckpointIgnored::kOldFormat:
      return "old-format";
  }
  return "";
}

std::string resolved_path(const std::string& path) {
  auto r = resolve_path(path, ErrorKind::kTarget);
  return r.is_ok() ? r.value().shown() : path;
}

namespace {

// The permission bits of a new target: the source's (never wider: umask
// still applies, and set-id bits are dropped), or private when unknown.
// Its owner, the user sparsync runs as, always keeps read and write: the
// next run (or the retry of this one) writes it in place, and a copy of a
// read-only source (0444) could otherwise never be opened again but by root.
mode_t new_file_mode(uint32_t source_mode) { return source_mode != 0 ? ((source_mode & 0777) | 0600) : 0600; }

// Finds the checkpoint of an interrupted run and decides whether it applies:
// only a record naming this very source, size, block size and hash, written
// when the target was exactly as it is now, resumes.
Status decide_resume(const TargetOpenRequest& req, const Device& dev, OpenedTarget* t, bool* incomplete) {
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  SPARSYNC_RETURN_IF_ERROR(load_checkpoint(*t->record, &rec, &corrupt));
  *incomplete = corrupt || rec.has_value();
  auto ignore = [&](CheckpointIgnored why, const std::string& notice) {
    t->ignored = why;
    t->notice = notice;
    return Status::ok();
  };
  if (corrupt) {
    return ignore(CheckpointIgnored::kUnreadable,
                  "ignoring unreadable checkpoint " + t->record->shown() + "; comparing from the start");
  }
  // A record at offset 0 vouches for nothing: it only marks a run that
  // stopped before its first checkpoint.
  if (!rec || rec->durable_offset == 0) return Status::ok();
  if (req.restart) {
    return ignore(CheckpointIgnored::kRestart,
                  "--restart: ignoring the checkpoint at " + format_bytes(rec->durable_offset));
  }
  if (rec->source_id.empty() || rec->source_id != req.source_id || rec->source_size != req.source_size ||
      rec->block_size != req.block_size || rec->hash_kind != req.hash_kind) {
    return ignore(CheckpointIgnored::kOtherSource,
                  "the checkpoint of an interrupted run does not match this source (changed or another one); "
                  "comparing from the start");
  }
  if (rec->target_id.empty()) {
    return ignore(CheckpointIgnored::kOldFormat,
                  "the checkpoint was written by an older sparsync that did not record the target's state; "
                  "comparing from the start");
  }
  if (rec->target_id != dev.current_identity()) {
    return ignore(CheckpointIgnored::kTargetChanged,
                  "the target changed since the checkpoint of the interrupted run (written, resized or "
                  "replaced, or its last run was killed); comparing from the start");
  }
  t->resume_offset = rec->durable_offset;
  t->notice =
      "resuming an interrupted run at " + format_bytes(rec->durable_offset) + " of " + format_bytes(rec->source_size);
  return Status::ok();
}

// Removes a synced record only where there is one: on a read-only
// filesystem even a missing name cannot be unlinked (EROFS), and that
// target deserves the refusal that names it, not one about this record.
Status forget_synced(const RecordPlace& place) {
  struct stat st {};
  if (::fstatat(place.dir.get(), place.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 && errno == ENOENT) {
    return Status::ok();
  }
  return remove_checkpoint(place);
}

ChangesRequest changes_request(const TargetOpenRequest& req) {
  return ChangesRequest{req.base_token, req.source_size, req.block_size, req.hash_kind};
}

// The synced record (PROTOCOL.md §4.19): read to decide whether this run may
// be confined to the change list, then removed before anything changes (the
// target is about to move on from the run it vouches for), and its place
// kept for this run's own on completion.
Status take_synced_record(const TargetOpenRequest& req, const Device& dev, const ResolvedPath& where, bool block,
                          OpenedTarget* t) {
  auto place = synced_record_place(where, block);
  if (!place.is_ok()) return place.status();
  if (req.changes) t->changes_answer = decide_changes(changes_request(req), &dev, place.value(), t->resume_offset > 0);
  SPARSYNC_RETURN_IF_ERROR(forget_synced(place.value()));
  t->synced = std::move(place.value());
  return Status::ok();
}

// The record that marks the target incomplete, written before its first change.
Status mark_incomplete(const TargetOpenRequest& req, const Device& dev, const std::string& where_name,
                       OpenedTarget* t) {
  t->checkpoint = CheckpointRecord{req.source_id,         req.source_size,  req.block_size,
                                   req.hash_kind,         t->resume_offset, static_cast<uint64_t>(::time(nullptr)),
                                   dev.current_identity()};
  Status s = save_checkpoint(*t->record, t->checkpoint);
  if (s.is_ok()) return s;
  return Status(s.kind(), "refusing to sync onto " + where_name + ": its checkpoint record cannot be written (" +
                              s.message() +
                              "), so an interrupted run could not be resumed or told apart "
                              "from a complete one; make " +
                              t->record->dir_shown + " writable");
}

// The journal's size cap (docs/undo-journal.md "Size cap"): --max-undo, or
// by default its size now plus half the free space of its filesystem, so a
// run whose journal would be huge (a first sync onto a file full of other
// data) stops before it fills the disk, and leaves the other half to the
// target's own growth.
Status cap_undo(const TargetOpenRequest& req, const ResolvedPath& where, const RecordPlace& place,
                UndoJournal& journal) {
  if (req.max_undo) {
    if (*req.max_undo > 0) journal.set_cap(*req.max_undo, where.given, "--max-undo " + format_bytes(*req.max_undo));
    return Status::ok();
  }
  struct statvfs fs {};
  if (::fstatvfs(place.dir.get(), &fs) != 0) {
    return errno_status(ErrorKind::kTarget, "cannot tell the free space of " + place.dir_shown, errno);
  }
  const uint64_t half_free = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize / 2;
  journal.set_cap(journal.bytes() + half_free, where.given,
                  "its default cap of " + format_bytes(journal.bytes() + half_free) + " (half the free space of " +
                      place.dir_shown + " when the run started; --max-undo sets it)");
  return Status::ok();
}

// The undo journal of an existing target, before anything changes it
// (docs/undo-journal.md "Which journal a run uses"): one left by an
// interrupted run is continued, whatever this run is (resumed, restarted,
// from another source), so its before-images keep the state before the
// first interrupted run; one without a checkpoint record belongs to a run
// that completed and becomes a kept generation, or goes; else a new one
// records the size now. Kept generations are planned here too.
Status prepare_undo(const TargetOpenRequest& req, const FileDevice& dev, const ResolvedPath& where, bool block,
                    bool incomplete, OpenedTarget* t) {
  auto place = undo_journal_place(where, block);
  if (!place.is_ok()) return place.status();
  const std::string key = undo_target_key(dev.fd());
  auto planned = plan_generations(req.keep, req.no_undo, place.value(), key, where.given);
  if (!planned.is_ok()) return planned.status();
  const GenerationPlan plan = planned.value();
  bool foreign = false;
  auto pending = UndoJournal::open(place.value(), &foreign);
  // A symlink, FIFO or other user's file planted at the journal's name is no
  // way back: the new journal is renamed over it (never following it), so a
  // user who can write the directory cannot block the syncs of its targets.
  if (!pending.is_ok() && foreign) pending = std::unique_ptr<UndoJournal>();
  if (!pending.is_ok()) {
    return Status(ErrorKind::kTarget,
                  "refusing to sync onto " + where.given + ": " + pending.status().message() +
                      "; removing it gives up the way back to the state before the interrupted run");
  }
  std::unique_ptr<UndoJournal> journal = pending.take();
  if (journal && !incomplete) {
    // A completed run's journal whose generation was not kept yet (a crash
    // between removing the record and keeping it).
    const bool ours = journal->header().target_key == key;
    journal.reset();
    SPARSYNC_RETURN_IF_ERROR(retire_undo_journal(place.value(), ours ? plan.keep : 0));
  }
  if (journal && journal->header().target_key != key) {
    return Status(ErrorKind::kTarget, "refusing to sync onto " + where.given + ": its undo journal " +
                                          journal->shown() +
                                          " belongs to another file (the target was replaced since the "
                                          "interrupted run); remove the journal to sync without a way back");
  }
  // --no-undo over the journal of an interrupted run (one stopped by its
  // cap, typically) gives up that way back: a journal that misses this
  // run's overwrites would roll back to a mix of states, so it goes before
  // anything changes, and the user is told.
  if (req.no_undo) {
    if (!journal) return Status::ok();
    SPARSYNC_RETURN_IF_ERROR(journal->discard());
    t->notice += std::string(t->notice.empty() ? "" : "; ") + "--no-undo: removed the undo journal " +
                 journal->shown() + " of the interrupted run; there is no way back to the state before it";
    return Status::ok();
  }
  // A block device's journal would go to the state directory, another
  // filesystem (often the root one) that must then hold the old content of
  // every changed block, up to the whole device: only when asked (--undo,
  // or generations to keep).
  if (!journal && block && !req.undo && !plan.needs_journal) return Status::ok();
  if (!journal) {
    auto created =
        UndoJournal::create(place.value(), UndoHeader{0, dev.size(), static_cast<uint64_t>(::time(nullptr)), key});
    if (!created.is_ok()) {
      return Status(ErrorKind::kTarget, "refusing to sync onto " + where.given + ": " + created.status().message() +
                                            "; make " + place.value().dir_shown + " writable, or pass --no-undo");
    }
    journal = created.take();
  }
  SPARSYNC_RETURN_IF_ERROR(cap_undo(req, where, place.value(), *journal));
  t->undo = std::move(journal);
  t->keep = plan.keep;
  return Status::ok();
}

bool under_dev(const std::string& dir) { return dir == "/dev" || dir.rfind("/dev/", 0) == 0; }

// Removes the record of `t` if it is still the one this run wrote (another
// run may have replaced it meanwhile).
void unmark_if_ours(const OpenedTarget& t) {
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  if (load_checkpoint(*t.record, &rec, &corrupt).is_ok() && rec && rec->target_id == t.checkpoint.target_id) {
    (void)remove_checkpoint(*t.record);
  }
}

// Removes the empty file this run made at `where`, if the name still holds it.
void remove_if_ours(const ResolvedPath& where, const FileDevice& dev) {
  struct stat ours {
  }, named{};
  if (::fstat(dev.fd(), &ours) == 0 &&
      ::fstatat(where.dir.get(), where.name.c_str(), &named, AT_SYMLINK_NOFOLLOW) == 0 && ours.st_dev == named.st_dev &&
      ours.st_ino == named.st_ino) {
    (void)::unlinkat(where.dir.get(), where.name.c_str(), 0);
  }
}

// A new target with its record written: the record before the file appears
// at its name (O_TMPFILE, then linkat), so no crash leaves a file there that
// --status would call complete. Where the filesystem has no O_TMPFILE, the
// file is created O_EXCL and locked first, then marked, and removed again if
// its record cannot be written (a crash between the two leaves an unmarked
// empty image; the next run still syncs it whole).
Result<std::unique_ptr<FileDevice>> create_marked(const TargetOpenRequest& req, const ResolvedPath& where,
                                                  OpenedTarget* t) {
  const mode_t mode = new_file_mode(req.source_mode);
  auto unnamed = FileDevice::create_unnamed(where, req.source_size, mode);
  if (!unnamed.is_ok()) return unnamed.status();
  if (std::unique_ptr<FileDevice> dev = unnamed.take()) {
    SPARSYNC_RETURN_IF_ERROR(mark_incomplete(req, *dev, where.given, t));
    Status linked = dev->publish(where);
    if (!linked.is_ok()) {
      unmark_if_ours(*t);
      return linked;
    }
    return dev;
  }
  auto created = FileDevice::create(where, req.source_size, mode);
  if (!created.is_ok()) return created.status();
  std::unique_ptr<FileDevice> dev = created.take();
  Status marked = mark_incomplete(req, *dev, where.given, t);
  if (!marked.is_ok()) {
    remove_if_ours(where, *dev);
    return marked;
  }
  return dev;
}

Result<OpenedTarget> create_target(const TargetOpenRequest& req, const ResolvedPath& where) {
  OpenedTarget t;
  t.known_zero = true;
  t.reply.kind = proto::DeviceKind::kRegularFile;
  t.reply.size = 0;
  t.reply.path = where.shown();
  if (under_dev(where.dir_shown)) {
    return Status(ErrorKind::kTarget, "there is no block device " + where.given +
                                          "; sparsync never creates a regular file under /dev: check the "
                                          "device's name (lsblk lists them)");
  }
  if (req.dry_run) {
    t.reply.state = proto::TargetState::kMissingDryRun;
    if (req.changes && !req.base_token.empty()) t.changes_answer = proto::ChangesAnswer::kNoCompletedRun;
    return t;
  }
  auto place = record_place(where, false);
  if (!place.is_ok()) return place.status();
  t.record = std::move(place.value());
  // A synced record left at the name by a file that is gone vouches for nothing.
  auto synced = synced_record_place(where, false);
  if (!synced.is_ok()) return synced.status();
  SPARSYNC_RETURN_IF_ERROR(forget_synced(synced.value()));
  if (req.changes) {
    t.changes_answer = req.base_token.empty() ? proto::ChangesAnswer::kNoBase : proto::ChangesAnswer::kNoCompletedRun;
  }
  t.synced = std::move(synced.value());
  auto created = create_marked(req, where, &t);
  if (!created.is_ok()) return created.status();
  std::unique_ptr<FileDevice> dev = created.take();
  dev->enable_direct_writes();  // where refused, all writes stay buffered
  t.device = std::move(dev);
  t.reply.state = proto::TargetState::kCreated;
  t.created_in.reset(::fcntl(where.dir.get(), F_DUPFD_CLOEXEC, 0));
  t.created_in_shown = where.dir_shown;
  return t;
}

// The size policy's refusals (nothing has changed yet when they apply).
Status check_device_size(const TargetOpenRequest& req, const std::string& path, uint64_t size) {
  if (size < req.source_size) {
    return Status(ErrorKind::kTarget, "target device " + path + " holds " + std::to_string(size) +
                                          " bytes, less than the source's " + std::to_string(req.source_size) +
                                          "; give a device at least as large");
  }
  if (size > req.source_size && !req.allow_larger_target) {
    return Status(ErrorKind::kTarget, "target device " + path + " holds " + std::to_string(size) +
                                          " bytes, more than the source's " + std::to_string(req.source_size) +
                                          "; pass --allow-larger-target to sync only the first " +
                                          std::to_string(req.source_size) + " bytes");
  }
  return Status::ok();
}

// A target file with other names (a snapshot made with `cp -al`, an
// rsnapshot tree) would change under all of them, since sparsync writes in
// place: refused, with the way out.
Status check_single_link(const TargetOpenRequest& req, const FileDevice& dev, const std::string& path) {
  struct stat st {};
  if (req.dry_run || ::fstat(dev.fd(), &st) != 0 || st.st_nlink <= 1) return Status::ok();
  return Status(ErrorKind::kTarget, "refusing to sync onto " + path + ": it has " + std::to_string(st.st_nlink) +
                                        " hard links, and writing it in place would change every one of them; "
                                        "break the link first (cp --sparse=always " +
                                        path + " " + path + ".new && mv " + path + ".new " + path + ")");
}

}  // namespace

Result<OpenedTarget> open_target(const TargetOpenRequest& req, const ResolvedPath& where) {
  if (!where.exists) return create_target(req, where);
  struct stat st {};
  if (::fstatat(where.dir.get(), where.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    return errno_status(ErrorKind::kTarget, "cannot stat " + where.given, errno);
  }
  if (S_ISBLK(st.st_mode) && !req.dry_run) {
    SPARSYNC_RETURN_IF_ERROR(check_device_not_in_use(where.given, st.st_rdev, !req.force));
  }
  auto opened = FileDevice::open(where, !req.dry_run, ErrorKind::kTarget, req.retry);
  if (!opened.is_ok()) return opened.status();
  std::unique_ptr<FileDevice> dev = opened.take();
  OpenedTarget t;
  const uint64_t old_size = dev->size();
  const bool block = dev->kind() == proto::DeviceKind::kBlockDevice;
  t.reply.path = where.shown();
  t.reply.kind = dev->kind();
  t.reply.state = proto::TargetState::kExisting;
  t.reply.size = old_size;
  if (block) {
    SPARSYNC_RETURN_IF_ERROR(check_device_size(req, where.given, old_size));
    t.readable_size = req.source_size;
  } else {
    SPARSYNC_RETURN_IF_ERROR(check_single_link(req, *dev, where.given));
    t.readable_size = std::min(old_size, req.source_size);
    // An empty file has nothing to compare: stream straight through.
    t.known_zero = old_size == 0;
  }
  if (req.dry_run && req.changes && !block) {
    // Only looked at: a dry run changes nothing, its synced record included.
    auto synced = synced_record_place(where, false);
    if (synced.is_ok()) t.changes_answer = decide_changes(changes_request(req), dev.get(), synced.value(), false);
  }
  if (!req.dry_run) {
    auto place = record_place(where, block);
    if (!place.is_ok()) return place.status();
    t.record = std::move(place.value());
    bool incomplete = false;
    SPARSYNC_RETURN_IF_ERROR(decide_resume(req, *dev, &t, &incomplete));
    SPARSYNC_RETURN_IF_ERROR(take_synced_record(req, *dev, where, block, &t));
    SPARSYNC_RETURN_IF_ERROR(prepare_undo(req, *dev, where, block, incomplete, &t));
    SPARSYNC_RETURN_IF_ERROR(mark_incomplete(req, *dev, where.given, &t));
    // What a shrink cuts off is journaled (and durable) before it goes.
    if (t.undo && !block && req.source_size < old_size) {
      SPARSYNC_RETURN_IF_ERROR(t.undo->preserve(*dev, req.source_size, old_size - req.source_size));
      SPARSYNC_RETURN_IF_ERROR(t.undo->commit());
    }
    // The first change to an existing target, now that nothing can refuse.
    if (!block && old_size != req.source_size) {
      SPARSYNC_RETURN_IF_ERROR(dev->set_size(req.source_size));
      t.checkpoint.target_id = dev->current_identity();
    }
    dev->enable_direct_writes();  // where refused, all writes stay buffered
    if (!req.keep_cache) enable_cold_reads(*dev);
  }
  t.device = std::move(dev);
  return t;
}

Result<OpenedTarget> open_target(const TargetOpenRequest& request, const std::string& path) {
  auto where = resolve_path(path, ErrorKind::kTarget);
  if (!where.is_ok()) return where.status();
  return open_target(request, where.value());
}

}  // namespace sparsync
