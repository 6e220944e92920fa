// run_program(): runs a helper program (qemu-img, say) from an argv list,
// never through a shell, found on PATH, and collects its exit status, stdout
// and stderr, waiting at most a given time: past it the program is killed.
// Its stdin is /dev/null. It runs in a process group of its own, with the
// default signal mask and dispositions, so a Ctrl-C meant for sparsync does
// not cut a helper off halfway through rewriting an image's metadata: the
// caller notices the interrupt at its own safe point, and the bound still
// ends a helper that hangs.
//
// The output is returned as the program wrote it (capped): whoever shows
// any of it escapes it first (common/printable.h); first_line() does.
// Thread-safety: reentrant; several programs may run at once.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"

namespace sparsync {

struct ProgramRun {
  int exit_code = -1;      // -1 when a signal ended it (or it was killed)
  bool timed_out = false;  // killed at the bound
  std::string out, err;    // capped at the limits given
  // The first non-empty line of `err` (else of `out`), escaped for one line.
  std::string first_line() const;
};

struct ProgramLimits {
  int timeout_seconds = 60;
  size_t max_stdout = size_t{4} << 20;
  size_t max_stderr = size_t{64} << 10;
};

// A failure to start at all is a Status: kUsage naming `package` when the
// program is not on PATH ("qemu-img is not on PATH (Debian: apt install
// qemu-utils)"), else `role` with the errno text. A program that started
// and failed, timed out or was killed is a ProgramRun with that outcome.
Result<ProgramRun> run_program(const std::vector<std::string>& argv, const ProgramLimits& limits, ErrorKind role,
                               const std::string& package);

}  // namespace sparsync
