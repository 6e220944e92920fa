// What sparsync keeps beside a target file, by path, for tests that look at
// it from outside (docs/undo-journal.md): where its undo journal and its kept
// generations are, and a wait for a run's target process (which may wind down
// after its client is gone) to let go of the target.
// Thread-safety: plain functions.
#pragma once

#include <cstdint>
#include <string>

namespace sparsync::testing {

// "<dir>/.<name>.sparsync-undo" for a target file "<dir>/<name>".
std::string journal_of(const std::string& target);
// "<journal>.gen<seq>".
std::string generation_of(const std::string& target, uint64_t seq);

// True once nobody holds `path`'s image lock (flock, common/image_lock.h),
// polled for up to `seconds`: the target process of a run has ended or let go.
bool wait_until_unlocked(const std::string& path, double seconds);

}  // namespace sparsync::testing
