// Minimal stderr logging. Every line the tool prints about a problem goes
// through here so that the server side's lines can be told apart (prefix)
// and -q/-v work in one place. Each line is passed through printable(), so
// no control character or invalid UTF-8 reaches the terminal or a log.
// Thread-safety: each call writes one line with
// a single write(2), so lines from threads never interleave.
#pragma once

#include <functional>
#include <string>

namespace sparsync::log {

enum class Level { kError = 0, kInfo = 1, kVerbose = 2, kDebug = 3 };

void set_level(Level level);
Level level();
void set_prefix(const std::string& prefix);  // e.g. "sparsync" or "sparsync[server]"

// While a live progress line is on the terminal, a sink takes over writing:
// it clears the line, writes `text` (one or more whole lines, newline
// included), and redraws the progress. An empty function restores plain
// write(2). Lines go to the sink one at a time (calls are serialised), so the
// sink must not log.
void set_sink(std::function<void(const std::string& text)> sink);

void error(const std::string& line);
void info(const std::string& line);
void verbose(const std::string& line);
void debug(const std::string& line);

}  // namespace sparsync::log
