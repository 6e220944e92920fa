// Kept generations of a target's undo journal (docs/undo-journal.md
// "Generations"). When a target keeps generations (--keep N), the journal of
// a completed run is not removed but renamed, in its directory, to
// "<journal name>.gen<seq>", seq one more than the newest kept. Each holds
// the before-images of its run, so applied newest first they rebuild the
// target's state before each of the last N runs (reverse increments).
//
// While a rollback applies some of them they are renamed
// "<journal name>.undoing<seq>" first: a rollback interrupted then is
// finished by the next --rollback, whatever it asks, and a sync refuses the
// target until it is. Names that no sparsync run wrote (symlinks, FIFOs,
// other users' files, a header that is not a journal's) are skipped: never
// applied, never counted, never removed.
// Thread-safety: plain functions; callers hold the target's lock.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/checkpoint_store.h"
#include "common/status.h"
#include "common/undo_journal.h"

namespace sparsync {

struct UndoGeneration {
  uint64_t seq = 0;
  bool undoing = false;  // marked by a rollback that has not finished
  std::string name;      // in the journal's directory
  // header.created_unix: when the run it undoes began (the state it rebuilds
  // lasted until then); modified_unix: when that run completed.
  UndoFileFacts facts;
};

std::string generation_name(const std::string& journal_name, uint64_t seq);
// "1 kept generation", "3 kept generations": how lines count them.
std::string kept_generations_text(size_t n);
std::string undoing_name(const std::string& journal_name, uint64_t seq);

// Every generation of the journal at `journal`, newest (highest seq) first.
Result<std::vector<UndoGeneration>> list_undo_generations(const RecordPlace& journal);

// A place in the journal's directory (its descriptor duplicated).
Result<RecordPlace> place_beside(const RecordPlace& journal, const std::string& name);

// The journal at `journal`, of a run that completed, becomes the newest
// generation: its time set to now (when the run completed), renamed to the
// next seq, the directory flushed; then generations past the newest `keep`
// are removed. `keep` 0 removes the journal and every generation. *kept
// says how many generations are left.
Status retire_undo_journal(const RecordPlace& journal, uint32_t keep, uint32_t* kept = nullptr);

// Removes the generations past the newest `keep` of `generations` (as
// listed, newest first), undoing ones included; the directory flushed.
Status drop_undo_generations(const RecordPlace& journal, const std::vector<UndoGeneration>& generations,
                             uint32_t keep = 0);

// Renames a generation to its "undoing" name (rollback's first step) or
// removes it; the directory is flushed by flush_generations.
Status mark_undoing(const RecordPlace& journal, const UndoGeneration& generation);
Status flush_generations(const RecordPlace& journal);

}  // namespace sparsync
