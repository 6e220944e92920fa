// Runs a program with its stderr on a pseudo-terminal (openpty), so that a
// test sees exactly what a person at a terminal would: the pty is put in raw
// mode (no "\n" -> "\r\n" translation), so the bytes read are the bytes the
// program wrote. stdout goes to a pipe, stdin is /dev/null.
// Thread-safety: run_with_pty_stderr() is reentrant.
#pragma once

#include <string>
#include <vector>

#include "support/command.h"

namespace sparsync::testing {

// `columns` is the terminal width the program sees (TIOCGWINSZ). The result's
// `err` holds everything written to the pty.
CommandResult run_with_pty_stderr(const std::vector<std::string>& argv, unsigned short columns = 80);

// A person at a terminal: stdin and stderr on a pty that is the program's
// controlling terminal (/dev/tty), stdout on a pipe. Each time the terminal
// shows `answers[i].first` (after the previous one), `answers[i].second` and
// a newline are typed. The pty is in line mode, as a login terminal is.
struct TerminalAnswer {
  std::string when_shown;
  std::string typed;
};
CommandResult run_on_terminal(const std::vector<std::string>& argv, const std::vector<TerminalAnswer>& answers);

}  // namespace sparsync::testing
