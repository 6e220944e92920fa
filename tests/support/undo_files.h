// Where a target file's undo journal and its kept generations lie, by path,
// for tests that look at them from outside (docs/undo-journal.md).
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

namespace sparsync::testing {

// "<dir>/.<name>.sparsync-undo" for a target file "<dir>/<name>".
std::string journal_of(const std::string& target);
// "<journal>.gen<seq>".
std::string generation_of(const std::string& target, uint64_t seq);

}  // namespace sparsync::testing
