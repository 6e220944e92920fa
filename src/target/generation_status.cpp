#include "target/generation_status.h"

#include "common/rollback_to.h"
#include "common/units.h"

namespace sparsync {

std::string generations_text(const std::vector<UndoGeneration>& kept, const std::string& unlisted,
                             const std::string& path) {
  if (!unlisted.empty()) return "\nits kept generations cannot be listed: " + unlisted;
  if (kept.empty()) return {};
  for (const UndoGeneration& g : kept) {
    if (g.undoing) {
      return "\na rollback of it to a kept generation was interrupted; finish it with sparsync --rollback " + path;
    }
  }
  // Appended, not "\n" + ...: GCC 12 warns falsely (-Wrestrict) on inserting
  // before a temporary.
  std::string text = "\n";
  text += std::to_string(kept.size()) + (kept.size() == 1 ? " kept generation" : " kept generations") +
          " (sparsync --rollback " + path + " --to K):";
  for (size_t i = 0; i < kept.size(); ++i) {
    const UndoGeneration& g = kept[i];
    text += "\n  K=" + std::to_string(i + 1) + ": its state as of " + format_local_time(g.facts.header.created_unix) +
            ", size " + format_bytes(g.facts.header.old_size) + "; " + format_bytes(g.facts.bytes) +
            " kept of the run that completed " + format_local_time(g.facts.modified_unix);
  }
  return text;
}

}  // namespace sparsync
