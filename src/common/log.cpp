#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <mutex>

#include "common/printable.h"

namespace sparsync::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::mutex g_prefix_mu;
std::string g_prefix = "sparsync";
std::mutex g_sink_mu;  // serialises sink calls and guards g_sink
std::function<void(const std::string&)> g_sink;

void emit(Level lvl, const std::string& line) {
  if (static_cast<int>(lvl) > g_level.load()) return;
  std::string out;
  {
    std::lock_guard<std::mutex> lock(g_prefix_mu);
    out = g_prefix;
  }
  out += ": ";
  // One line, whatever it holds: text from a peer is escaped where it enters,
  // and this catches what was missed (printable() never escapes twice).
  out += printable(line);
  out += '\n';
  std::lock_guard<std::mutex> lock(g_sink_mu);
  if (g_sink) {
    g_sink(out);
    return;
  }
  ssize_t ignored = ::write(STDERR_FILENO, out.data(), out.size());
  (void)ignored;
}
}  // namespace

void set_level(Level level) { g_level.store(static_cast<int>(level)); }
Level level() { return static_cast<Level>(g_level.load()); }
void set_prefix(const std::string& prefix) {
  std::lock_guard<std::mutex> lock(g_prefix_mu);
  g_prefix = prefix;
}
void set_sink(std::function<void(const std::string& text)> sink) {
  std::lock_guard<std::mutex> lock(g_sink_mu);
  g_sink = std::move(sink);
}
void error(const std::string& line) { emit(Level::kError, line); }
void info(const std::string& line) { emit(Level::kInfo, line); }
void verbose(const std::string& line) { emit(Level::kVerbose, line); }
void debug(const std::string& line) { emit(Level::kDebug, line); }

}  // namespace sparsync::log
