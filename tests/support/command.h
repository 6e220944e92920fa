// Runs the built sparsync binary (or any program) and captures its exit code,
// stdout and stderr; and parses the one-line summary it prints.
// Thread-safety: run() is reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace sparsync::testing {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  std::string out;
  std::string err;
  // stderr split into non-empty lines.
  std::vector<std::string> err_lines() const;
  // Whether stdout or stderr holds `text`.
  bool mentions(const std::string& text) const;
};

// Runs argv to its end and its output's (any child holding stdout or stderr
// open is waited for too). Bounded: past 50 s ($SPARSYNC_TEST_COMMAND_SECONDS)
// every process still holding its output is described in `err` and killed,
// and exit_code is -1.
CommandResult run_command(const std::vector<std::string>& argv);
// Runs SPARSYNC_BINARY with `args`.
CommandResult run_sparsync(const std::vector<std::string>& args);

// The figures of "synced A -> B: X scanned, Y sent as data, Z sent as holes,
// N blocks unchanged, M changed, ..." (or its dry-run form), with the byte
// counts kept as printed ("4.00 KiB").
struct Summary {
  bool dry_run = false;
  std::string source, target;
  std::string scanned, data, holes;
  uint64_t unchanged = 0, changed = 0;
};
std::optional<Summary> parse_summary(const std::string& line);

}  // namespace sparsync::testing
