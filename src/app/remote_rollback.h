// `sparsync --rollback host:TARGET [--to K|WHEN]`: asks the far side's
// server (the same `sparsync --server` a sync starts, so its fence applies)
// to roll TARGET back from the undo journal beside it (docs/undo-journal.md),
// with ROLLBACK instead of OPEN (proto/PROTOCOL.md §4.18). Not with a far
// side whose HELLO lacks kFeatureRollback: it is said in one line, and
// nothing is sent. A rollback can be repeated safely, so a broken link
// is not retried here but reported with "run it again".
// Thread-safety: call from one thread.
#pragma once

#include <cstdint>
#include <string>

#include "common/rollback_to.h"
#include "common/status.h"
#include "transport/transport.h"

namespace sparsync {

// The line to print on success: "HOST: " and the far side's report,
// escaped (it is the peer's text). `timeout` is the idle timeout in seconds
// (--timeout; 0: none).
Result<std::string> run_remote_rollback(Transport& transport, const std::string& path, const RollbackTo& to,
                                        uint32_t timeout);

}  // namespace sparsync
