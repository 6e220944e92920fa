// What a sync does with the kept generations of an existing target
// (docs/undo-journal.md "Generations"), decided before anything changes:
// how many it keeps when it completes, whether it must keep a journal for
// them, and the refusals (a rollback left unfinished, --no-undo that would
// cut the chain of reverse increments).
// Thread-safety: plain function; the caller holds the target's lock.
#pragma once

#include <cstdint>
#include <string>

#include "common/checkpoint_store.h"
#include "common/status.h"

namespace sparsync {

struct GenerationPlan {
  uint32_t keep = 0;           // generations kept when the run completes (0: none, and all go)
  bool needs_journal = false;  // the target keeps generations (or is to): a journal even without --undo
};

// `requested`: OPEN's keep (proto::kKeepUnchanged when not given: the
// target keeps as many as it has). `key`: the target's undo_target_key.
// Generations of another file (the target was replaced) are removed, said
// in one line; --no-undo with --keep 0 removes them all first.
Result<GenerationPlan> plan_generations(uint16_t requested, bool no_undo, const RecordPlace& journal,
                                        const std::string& key, const std::string& target);

}  // namespace sparsync
