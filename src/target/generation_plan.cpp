#include "target/generation_plan.h"

#include "common/log.h"
#include "common/proto/protocol_constants.h"
#include "common/undo_generations.h"

namespace sparsync {

Result<GenerationPlan> plan_generations(uint16_t requested, bool no_undo, const RecordPlace& journal,
                                        const std::string& key, const std::string& target) {
  auto listed = list_undo_generations(journal);
  if (!listed.is_ok()) return listed.status();
  std::vector<UndoGeneration> kept = listed.take();
  for (const UndoGeneration& g : kept) {
    // The target is torn between two kept states until that rollback ends.
    if (g.undoing) {
      return Status(ErrorKind::kTarget, "refusing to sync onto " + target +
                                            ": a rollback of it to a kept generation was interrupted; finish it "
                                            "with sparsync --rollback " +
                                            target);
    }
  }
  // Reverse increments of the file that was here before: they rebuild
  // nothing of this one, and would only be mistaken for its past.
  if (!kept.empty() && kept.front().facts.header.target_key != key) {
    SPARSYNC_RETURN_IF_ERROR(drop_undo_generations(journal, kept));
    log::info("removed the " + kept_generations_text(kept.size()) + " of " + target +
              ": they belong to the file that was at that name before it was replaced");
    kept.clear();
  }
  GenerationPlan plan;
  plan.keep = requested != proto::kKeepUnchanged ? requested : static_cast<uint32_t>(kept.size());
  plan.needs_journal = plan.keep > 0;
  if (no_undo && !kept.empty()) {
    // A run without a journal leaves no way from its result back to the
    // newest kept state: every generation would rebuild garbage after it.
    if (requested != 0) {
      return Status(ErrorKind::kTarget,
                    "refusing --no-undo onto " + target + ": it has " + kept_generations_text(kept.size()) +
                        ", which a run without an undo journal would cut off from it; run without --no-undo, "
                        "or add --keep 0 to remove them");
    }
    SPARSYNC_RETURN_IF_ERROR(drop_undo_generations(journal, kept));
    log::info("removed the " + kept_generations_text(kept.size()) + " of " + target + " (--keep 0)");
  }
  return plan;
}

}  // namespace sparsync
