#include "target/rollback.h"

#include <sys/stat.h>

#include <optional>
#include <vector>

#include "common/checkpoint_store.h"
#include "common/device.h"
#include "common/undo_generations.h"
#include "common/undo_journal.h"
#include "common/units.h"

namespace sparsync {
namespace {

Status cannot(const std::string& path, const std::string& why) {
  return Status(ErrorKind::kTarget, "cannot roll back " + path + ": " + why);
}

// What the replays of one rollback restored, for its one line.
struct Restored {
  uint64_t bytes = 0;
  uint64_t zero_bytes = 0;
  uint64_t records = 0;
  uint64_t torn = 0;
  uint64_t size_before = 0;
  bool any = false;
  void add(const UndoReplay& r) {
    if (!any) size_before = r.size_before;
    any = true;
    bytes += r.scan.data_bytes + r.scan.zero_bytes;
    zero_bytes += r.scan.zero_bytes;
    records += r.scan.records;
  }
  std::string text(uint64_t size) const {
    std::string line = "restored " + format_bytes(bytes) + " from " + std::to_string(records) +
                       (records == 1 ? " record (" : " records (") + format_bytes(zero_bytes) + " of it zeros), size " +
                       format_bytes(size);
    if (size_before != size) line += " (was " + format_bytes(size_before) + ")";
    return line;
  }
};

// Everything a rollback works on, opened and locked.
struct RollbackScene {
  std::string path;
  std::unique_ptr<FileDevice> dev;
  RecordPlace record;
  RecordPlace journal;
  bool incomplete = false;  // a checkpoint record: the last run did not complete
  std::string key;
};

// The interrupted run's journal written back, then its record and the
// journal removed (record first: a journal without a record is a finished
// run's). Returns false in *done when there was none to apply.
Status undo_interrupted_run(RollbackScene& s, Restored* restored, bool* done, std::string* torn_note) {
  *done = false;
  auto pending = UndoJournal::open(s.journal);
  if (!pending.is_ok()) return cannot(s.path, pending.status().message());
  std::unique_ptr<UndoJournal> journal = pending.take();
  if (!journal || !s.incomplete) return Status::ok();
  if (journal->header().target_key != s.key) {
    return cannot(s.path, "its undo journal " + journal->shown() +
                              " belongs to another file (the target was replaced since the interrupted run); "
                              "remove the journal");
  }
  const uint64_t torn = journal->opened_scan().torn_bytes();
  journal.reset();
  UndoReplay replay;
  Status st = replay_undo_journal(s.journal, *s.dev, &replay);
  if (!st.is_ok()) return cannot(s.path, st.message() + "; fix that and run --rollback again");
  SPARSYNC_RETURN_IF_ERROR(remove_checkpoint(s.record));
  SPARSYNC_RETURN_IF_ERROR(remove_undo_journal(s.journal));
  s.incomplete = false;
  restored->add(replay);
  if (torn > 0) *torn_note = "; ignored a torn tail of " + std::to_string(torn) + " bytes (writes that never happened)";
  *done = true;
  return Status::ok();
}

// The generations a --to selects, newest first; refused (nothing changed
// yet) when the kept ones do not reach that far.
Result<size_t> select_generations(const RollbackScene& s, const std::vector<UndoGeneration>& kept,
                                  const RollbackTo& to) {
  if (to.kind == RollbackTo::Kind::kRunsBack) {
    if (to.value <= kept.size()) return static_cast<size_t>(to.value);
    if (kept.empty()) {
      return cannot(s.path, "it keeps no generations (sync with --keep N to keep the last N runs' undo journals)");
    }
    return cannot(s.path, "it keeps only " + std::to_string(kept.size()) +
                              (kept.size() == 1 ? " generation" : " generations") + ", back to its state as of " +
                              format_local_time(kept.back().facts.header.created_unix) + "; sparsync --status " +
                              s.path + " lists them");
  }
  // The state at a moment: undo every run that completed after it. The
  // oldest state kept lasted until the run that changed it began; before
  // that, what the target held is not known.
  size_t n = 0;
  while (n < kept.size() && kept[n].facts.modified_unix > to.value) ++n;
  if (n == kept.size() && n > 0 && kept.back().facts.header.created_unix > to.value) {
    return cannot(s.path, "its oldest kept state is as of " + format_local_time(kept.back().facts.header.created_unix) +
                              ", after " + format_local_time(to.value) + "; sparsync --status " + s.path +
                              " lists the kept generations");
  }
  return n;
}

// The selected generations written back, newest first. They are marked
// (renamed "undoing") all together before the first is applied, so an
// interrupted rollback is finished exactly by the next one; each is removed
// once applied and flushed, leaving a consistent older state each time.
Status apply_generations(RollbackScene& s, const std::vector<UndoGeneration>& chosen, Restored* restored) {
  for (const UndoGeneration& g : chosen) {
    const std::string shown = s.journal.dir_shown + "/" + g.name;
    if (g.facts.header.target_key != s.key) {
      return cannot(s.path, "its kept generation " + shown +
                                " belongs to another file (the target was replaced "
                                "since); remove it");
    }
    // Read through before the first byte changes: a generation was whole
    // when kept, so a record that fails its checksum is damage, and
    // applying the part before it would give a state that never was.
    auto place = place_beside(s.journal, g.name);
    if (!place.is_ok()) return place.status();
    UndoScan scan;
    SPARSYNC_RETURN_IF_ERROR(scan_undo_file(place.value(), &scan));
    if (scan.torn_bytes() > 0) {
      return cannot(s.path, "its kept generation " + shown + " is damaged (" + std::to_string(scan.torn_bytes()) +
                                " bytes after its last whole record, at " + std::to_string(scan.whole_end) +
                                ", fail their checksum), so the states from it back cannot be rebuilt exactly; "
                                "newer ones can (--to a smaller K)");
    }
  }
  for (const UndoGeneration& g : chosen) SPARSYNC_RETURN_IF_ERROR(mark_undoing(s.journal, g));
  SPARSYNC_RETURN_IF_ERROR(flush_generations(s.journal));
  for (const UndoGeneration& g : chosen) {
    auto place = place_beside(s.journal, undoing_name(s.journal.name, g.seq));
    if (!place.is_ok()) return place.status();
    UndoReplay replay;
    Status st = replay_undo_journal(place.value(), *s.dev, &replay);
    if (!st.is_ok()) return cannot(s.path, st.message() + "; fix that and run --rollback again to finish");
    SPARSYNC_RETURN_IF_ERROR(remove_undo_journal(place.value()));
    restored->add(replay);
  }
  return Status::ok();
}

// A journal without a record is that of a run that completed and crashed
// before keeping it (docs/undo-journal.md U5): the newest generation when the
// target keeps generations, else a leftover that goes.
Status keep_leftover(RollbackScene& s, std::vector<UndoGeneration>* kept) {
  if (s.incomplete) return Status::ok();
  UndoFileFacts facts;
  bool foreign = false;
  Status read = read_undo_facts(s.journal, &facts, &foreign);
  if (!read.is_ok() && foreign) return Status::ok();
  if (!read.is_ok()) return cannot(s.path, read.message());
  if (!facts.exists) return Status::ok();
  const bool ours = facts.header.target_key == s.key;
  SPARSYNC_RETURN_IF_ERROR(
      retire_undo_journal(s.journal, ours && !kept->empty() ? static_cast<uint32_t>(kept->size() + 1) : 0));
  auto listed = list_undo_generations(s.journal);
  if (!listed.is_ok()) return listed.status();
  *kept = listed.take();
  return Status::ok();
}

Result<RollbackScene> open_scene(const ResolvedPath& where, const std::string& path) {
  if (!where.exists) return cannot(path, "it does not exist");
  auto opened = FileDevice::open(where, true, ErrorKind::kTarget);
  if (!opened.is_ok()) return opened.status();
  RollbackScene s;
  s.path = path;
  s.dev = opened.take();
  s.key = undo_target_key(s.dev->fd());
  const bool block = s.dev->kind() == proto::DeviceKind::kBlockDevice;
  auto record = record_place(where, block);
  if (!record.is_ok()) return record.status();
  s.record = std::move(record.value());
  std::optional<CheckpointRecord> rec;
  bool corrupt = false;
  SPARSYNC_RETURN_IF_ERROR(load_checkpoint(s.record, &rec, &corrupt));
  s.incomplete = rec.has_value() || corrupt;
  auto journal = undo_journal_place(where, block);
  if (!journal.is_ok()) return journal.status();
  s.journal = std::move(journal.value());
  return s;
}

}  // namespace

Result<std::string> rollback_target(const std::string& path, const RollbackTo& to) {
  auto where = resolve_path(path, ErrorKind::kTarget);
  if (!where.is_ok()) return where.status();
  return rollback_target(where.value(), path, to);
}

Result<std::string> rollback_target(const ResolvedPath& where, const std::string& path, const RollbackTo& to) {
  auto scene = open_scene(where, path);
  if (!scene.is_ok()) return scene.status();
  RollbackScene& s = scene.value();
  auto listed = list_undo_generations(s.journal);
  if (!listed.is_ok()) return listed.status();
  std::vector<UndoGeneration> kept = listed.take();
  SPARSYNC_RETURN_IF_ERROR(keep_leftover(s, &kept));
  Restored restored;

  // A rollback to a kept generation that was interrupted is finished first,
  // whatever this one asks: until then the target is between two states.
  std::vector<UndoGeneration> unfinished;
  for (const UndoGeneration& g : kept) {
    if (g.undoing) unfinished.push_back(g);
  }
  if (!unfinished.empty()) {
    SPARSYNC_RETURN_IF_ERROR(apply_generations(s, unfinished, &restored));
    const size_t left = kept.size() - unfinished.size();
    return "finished the interrupted rollback of " + path + " to its state as of " +
           format_local_time(unfinished.back().facts.header.created_unix) + ": " + restored.text(s.dev->size()) + "; " +
           kept_generations_text(left) + " left" +
           (to.kind == RollbackTo::Kind::kInterrupted ? "" : "; run --rollback --to again to go further back");
  }

  // Everything that can refuse is decided before the first byte changes.
  size_t chosen = 0;
  if (to.kind != RollbackTo::Kind::kInterrupted) {
    auto selected = select_generations(s, kept, to);
    if (!selected.is_ok()) return selected.status();
    chosen = selected.value();
  }
  bool undid_run = false;
  std::string torn_note;
  SPARSYNC_RETURN_IF_ERROR(undo_interrupted_run(s, &restored, &undid_run, &torn_note));
  if (to.kind == RollbackTo::Kind::kInterrupted) {
    if (!undid_run && s.incomplete) {
      return cannot(path,
                    "it has no undo journal (the interrupted run created it, or ran with --no-undo), so there is "
                    "no earlier state to return to; run the sync again to complete it, or remove it");
    }
    if (!undid_run) {
      std::string line = path + ": nothing to roll back (no interrupted sync recorded)";
      if (!kept.empty())
        line += "; it keeps " + kept_generations_text(kept.size()) + ": --rollback --to K returns to one";
      return line;
    }
    return "rolled back " + path + " to its state before the interrupted run: " + restored.text(s.dev->size()) +
           "; removed its undo journal and checkpoint record" + torn_note;
  }
  if (s.incomplete) {
    return cannot(path,
                  "its last run was interrupted and left no undo journal, so the kept generations no "
                  "longer lead back from what it holds; run the sync again to complete it");
  }
  const std::vector<UndoGeneration> apply(kept.begin(), kept.begin() + static_cast<ptrdiff_t>(chosen));
  SPARSYNC_RETURN_IF_ERROR(apply_generations(s, apply, &restored));
  std::string line;
  if (chosen == 0) {
    line = path + " already holds its state " + describe_rollback_to(to) + " (no kept generation is newer)";
    if (undid_run) line += "; undid the interrupted run: " + restored.text(s.dev->size()) + torn_note;
    return line;
  }
  line = "rolled back " + path + " to its state as of " + format_local_time(apply.back().facts.header.created_unix) +
         " (" + (chosen == 1 ? std::string("1 run") : std::to_string(chosen) + " runs") +
         " back): " + restored.text(s.dev->size());
  if (undid_run) line += "; undid the interrupted run first" + torn_note;
  line += "; removed the " + kept_generations_text(chosen) + " it used, " +
          kept_generations_text(kept.size() - chosen) + " left";
  return line;
}

}  // namespace sparsync
