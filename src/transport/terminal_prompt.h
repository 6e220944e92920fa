// Questions for the person at the terminal (key passphrases, passwords,
// keyboard-interactive prompts), asked on /dev/tty as ssh asks them: never
// on stdout, which carries the run's result, and with echo off for secrets.
// A live progress line would overdraw the prompt, so whoever draws one
// registers a guard that is told when a prompt starts and ends.
// Thread-safety: ask_on_terminal() from one thread at a time (the one
// connecting); set_prompt_guard() before and after, not during, a prompt.
#pragma once

#include <functional>
#include <string>

namespace sparsync {

// Writes `prompt`, reads one line (without its newline) into `answer`.
// False when there is no terminal or it was closed before a line came.
bool ask_on_terminal(const std::string& prompt, bool echo, std::string* answer);

// `guard(true)` before a prompt is written, `guard(false)` after the answer;
// nullptr removes it.
void set_prompt_guard(std::function<void(bool prompting)> guard);

}  // namespace sparsync
