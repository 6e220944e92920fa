#include "target/rollback.h"

#include <sys/stat.h>

#include <optional>

#include "common/checkpoint_store.h"
#include "common/device.h"
#include "common/undo_journal.h"
#include "common/units.h"

namespace sparsync {
namespace {

Status cannot(const std::string& path, const std::string& why) {
  return Status(ErrorKind::kTarget, "cannot roll back " + path + ": " + why);
}

std::string what_was_done(const std::string& path, const UndoReplay& r, uint64_t old_size, uint64_t torn) {
  std::string line = "rolled back " + path + " to its state before the interrupted run: restored " +
                     format_bytes(r.scan.data_bytes + r.scan.zero_bytes) + " from " + std::to_string(r.scan.records) +
                     " records (" + format_bytes(r.scan.zero_bytes) + " of it zeros), size " + format_bytes(old_size);
  if (r.size_before != old_size) line += " (was " + format_bytes(r.size_before) + ")";
  line += "; removed its undo journal and checkpoint record";
  if (torn > 0) {
    line += "; ignored a torn tail of " + std::to_string(torn) + " bytes (writes that never happened)";
  }
  return line;
}

}  // namespace

Result<std::string> rollback_target(const std::string& path, const RollbackTo& to) {
  auto where = resolve_path(path, ErrorKind::kTarget);
  if (!where.is_ok()) return where.status();
  return rollback_target(where.value(), path, to);
}

Result<std::string> rollback_target(const ResolvedPath& where, const std::string& path, const RollbackTo& to) {
  if (to.kind != RollbackTo::Kind::kInterrupted) {
    return Status(ErrorKind::kUsage, "--rollback --to (kept generations) is not built yet");
  }
  if (!where.exists) return cannot(path, "it does not exist");
  auto opened = FileDevice::open(where, true, ErrorKind::kTarget);
  if (!opened.is_ok()) return opened.status();
  std::unique_ptr<FileDevice> dev = opened.take();
  const bool block = dev->kind() == proto::DeviceKind::kBlockDevice;
  auto record = record_place(where, block);
  if (!record.is_ok()) return record.status();
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  SPARSYNC_RETURN_IF_ERROR(load_checkpoint(record.value(), &rec, &corrupt));
  const bool incomplete = rec.has_value() || corrupt;
  auto place = undo_journal_place(where, block);
  if (!place.is_ok()) return place.status();
  auto pending = UndoJournal::open(place.value());
  if (!pending.is_ok()) return cannot(path, pending.status().message());
  std::unique_ptr<UndoJournal> journal = pending.take();
  if (!journal) {
    if (!incomplete) return path + ": nothing to roll back (no interrupted sync recorded)";
    return cannot(path,
                  "it has no undo journal (the interrupted run created it, or ran with --no-undo), so there is "
                  "no earlier state to return to; run the sync again to complete it, or remove it");
  }
  if (!incomplete) {
    SPARSYNC_RETURN_IF_ERROR(journal->discard());
    return path + ": nothing to roll back (its last sync completed); removed the leftover undo journal " +
           place.value().shown();
  }
  if (journal->header().target_key != undo_target_key(dev->fd())) {
    return cannot(path, "its undo journal " + journal->shown() +
                            " belongs to another file (the target was replaced since the interrupted run); "
                            "remove the journal");
  }
  const uint64_t old_size = journal->header().old_size;
  const uint64_t torn = journal->opened_scan().torn_bytes();
  journal.reset();
  UndoReplay replay;
  Status s = replay_undo_journal(place.value(), *dev, &replay);
  if (!s.is_ok()) return cannot(path, s.message() + "; fix that and run --rollback again");
  SPARSYNC_RETURN_IF_ERROR(remove_checkpoint(record.value()));
  SPARSYNC_RETURN_IF_ERROR(remove_undo_journal(place.value()));
  return what_was_done(path, replay, old_size, torn);
}

}  // namespace sparsync
