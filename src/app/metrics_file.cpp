#include "app/metrics_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/checkpoint_store.h"
#include "common/unique_fd.h"

namespace sparsync {
namespace {

constexpr const char* kLastSuccess = "sparsync_last_success_timestamp_seconds";

struct Metric {
  const char* name;
  const char* help;
  std::string value;
};

std::string integer(uint64_t v) { return std::to_string(v); }

std::string seconds_text(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

// A sample value as Prometheus parses it: a float, or +Inf/-Inf/NaN.
bool is_number(const std::string& text) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  (void)std::strtod(text.c_str(), &end);
  return errno == 0 && end != nullptr && *end == '\0';
}

}  // namespace

std::string escape_label_value(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string metrics_text(const MetricsRun& run, const std::optional<std::string>& last_success) {
  const SyncStats& s = run.stats;
  std::string success = run.exit_code == 0 ? seconds_text(std::floor(run.end_time), 0)
                                           : last_success.value_or("0");
  const std::vector<Metric> metrics = {
      {"sparsync_last_run_timestamp_seconds", "Unix time at the end of the last run, successful or not.",
       seconds_text(std::floor(run.end_time), 0)},
      {kLastSuccess, "Unix time at the end of the last successful run (0: none recorded).", success},
      {"sparsync_duration_seconds", "Wall time of the last run.", seconds_text(run.duration, 3)},
      {"sparsync_bytes_scanned", "Bytes of the image the last run compared.", integer(s.bytes_scanned)},
      {"sparsync_bytes_data", "Bytes the last run sent as data.", integer(s.data_bytes)},
      {"sparsync_bytes_holes", "Bytes the last run sent as holes (zero runs).", integer(s.hole_bytes)},
      {"sparsync_bytes_wire_sent", "Protocol bytes this side wrote to the link in the last run.",
       integer(s.wire_bytes_out)},
      {"sparsync_bytes_wire_received", "Protocol bytes this side read from the link in the last run.",
       integer(s.wire_bytes_in)},
      {"sparsync_changed_blocks", "Blocks the last run had to write or zero.", integer(s.changed_blocks)},
      {"sparsync_exit_code", "Exit code of the last run (0 success; see README \"Exit codes\").",
       std::to_string(run.exit_code)},
  };
  std::string label = "{target=\"" + escape_label_value(run.target) + "\"}";
  std::string out;
  for (const Metric& m : metrics) {
    out += std::string("# HELP ") + m.name + " " + m.help + "\n";
    out += std::string("# TYPE ") + m.name + " gauge\n";
    out += std::string(m.name) + label + " " + m.value + "\n";
  }
  return out;
}

std::optional<std::string> find_last_success(const std::string& file_text) {
  std::istringstream in(file_text);
  const std::string prefix = std::string(kLastSuccess) + "{";
  for (std::string line; std::getline(in, line);) {
    if (line.compare(0, prefix.size(), prefix) != 0) continue;
    // The value follows the last space (label values may hold spaces).
    size_t space = line.rfind(' ');
    if (space == std::string::npos || line[space - 1] != '}') continue;
    std::string value = line.substr(space + 1);
    if (is_number(value)) return value;
  }
  return std::nullopt;
}

Status check_metrics_path(const std::string& path) {
  struct stat st {};
  std::string dir = directory_of(path);
  if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return Status(ErrorKind::kUsage, "--metrics-file " + path + ": directory " + dir + " does not exist");
  }
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return Status(ErrorKind::kUsage, "--metrics-file " + path + ": not a regular file");
  }
  return Status::ok();
}

Status write_metrics_file(const std::string& path, const MetricsRun& run) {
  std::optional<std::string> last_success;
  if (run.exit_code != 0) {
    std::ifstream old(path);
    std::stringstream text;
    text << old.rdbuf();
    last_success = find_last_success(text.str());
  }
  std::string text = metrics_text(run, last_success);
  std::string dir = directory_of(path);
  std::string base = path.substr(path.rfind('/') == std::string::npos ? 0 : path.rfind('/') + 1);
  // A dot name: the textfile collector reads only *.prom, and ls hides it.
  std::string tmp = dir + "/." + base + ".XXXXXX";
  std::vector<char> name(tmp.begin(), tmp.end());
  name.push_back('\0');
  UniqueFd fd(::mkstemp(name.data()));
  if (!fd.valid()) return errno_status(ErrorKind::kInternal, "metrics file: cannot create a file in " + dir, errno);
  tmp = name.data();
  int err = 0;
  // mkstemp makes 0600; the collector usually runs as another user.
  if (::fchmod(fd.get(), 0644) != 0) err = errno;
  if (err == 0) err = write_full(fd.get(), text.data(), text.size());
  if (err == 0 && ::fsync(fd.get()) != 0) err = errno;
  if (err == 0 && ::close(fd.release()) != 0) err = errno;
  if (err == 0 && ::rename(tmp.c_str(), path.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlink(tmp.c_str());
    return errno_status(ErrorKind::kInternal, "metrics file " + path, err);
  }
  return fsync_directory(dir);
}

}  // namespace sparsync
