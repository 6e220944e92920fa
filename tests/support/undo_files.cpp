#include "support/undo_files.h"

#include "common/checkpoint_store.h"
#include "common/undo_generations.h"

namespace sparsync::testing {

std::string journal_of(const std::string& target) {
  auto slash = target.rfind('/');
  return target.substr(0, slash + 1) + undo_journal_name(target.substr(slash + 1));
}

std::string generation_of(const std::string& target, uint64_t seq) {
  auto slash = target.rfind('/');
  return target.substr(0, slash + 1) + generation_name(undo_journal_name(target.substr(slash + 1)), seq);
}

}  // namespace sparsync::testing
