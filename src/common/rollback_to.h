// Which earlier state `sparsync --rollback TARGET [--to WHEN]` returns a
// target to (docs/undo-journal.md "Generations"): the state before an
// interrupted run (no --to), the state K completed runs ago (--to K), or the
// state the target was in at a moment (--to 2026-12-01T03:00, --to @UNIX).
// The same value travels in the ROLLBACK request to a far host
// (proto/PROTOCOL.md). Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace sparsync {

struct RollbackTo {
  enum class Kind : uint8_t {
    kInterrupted = 0,  // before the interrupted run (what --rollback alone means)
    kRunsBack = 1,     // `value` completed runs ago (1 = before the last completed run)
    kTime = 2,         // as it was at unix time `value` (seconds)
  };
  Kind kind = Kind::kInterrupted;
  uint64_t value = 0;

  bool operator==(const RollbackTo&) const = default;
};

// --to's argument: a whole number K >= 1 (runs back), "@SECONDS" (unix
// time), or a local date and time "YYYY-MM-DD[THH:MM[:SS]]" (a space may
// stand for the T). nullopt when it is none of these.
std::optional<RollbackTo> parse_rollback_to(const std::string& text);

// "before the interrupted run", "2 runs back", "as of 2026-12-01 03:00:00".
std::string describe_rollback_to(const RollbackTo& to);

// "2026-12-01 03:00:00" in local time: how generations and --to show a moment.
std::string format_local_time(uint64_t unix_seconds);

}  // namespace sparsync
