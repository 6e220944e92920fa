// `sparsync --rollback TARGET`: returns a target whose sync was interrupted
// to exactly its state before that run, from its undo journal alone
// (docs/undo-journal.md), without the source. Every before-image is written
// back, the target is sized back to its old size and flushed, and only then
// do its checkpoint record and journal go (record first: a journal without
// a record is a finished run's leftover). Idempotent, so an interrupted
// rollback is simply run again. Takes the target's exclusive lock, so it
// never runs beside a sync of the same target.
// Thread-safety: plain function.
#pragma once

#include <string>

#include "common/rollback_to.h"
#include "common/safe_path.h"
#include "common/status.h"

namespace sparsync {

// The one line to print on success. `path` is resolved here (a local
// --rollback); a server passes what its fence resolved, and `shown` is the
// name its lines use.
Result<std::string> rollback_target(const std::string& path, const RollbackTo& to = {});
Result<std::string> rollback_target(const ResolvedPath& where, const std::string& shown, const RollbackTo& to);

}  // namespace sparsync
