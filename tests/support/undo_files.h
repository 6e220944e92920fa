// What an interrupted run leaves beside a target file, for the rollback
// tests (docs/undo-journal.md): where its undo journal is, and a wait for
// the run's target process (which may wind down after its client is gone)
// to let go of the target.
// Thread-safety: plain functions.
#pragma once

#include <string>

namespace sparsync::testing {

// DIR/.NAME.sparsync-undo for the target file DIR/NAME.
std::string journal_of(const std::string& target);

// True once nobody holds `path`'s image lock (flock, common/image_lock.h),
// polled for up to `seconds`: the target process of a run has ended or let go.
bool wait_until_unlocked(const std::string& path, double seconds);

}  // namespace sparsync::testing
