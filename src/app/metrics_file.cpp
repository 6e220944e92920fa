#include "app/metrics_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <vector>

#include "common/checkpoint_store.h"
#include "common/log.h"
#include "common/unique_fd.h"

namespace sparsync {
namespace {

constexpr const char* kLastSuccess = "sparsync_last_success_timestamp_seconds";
// A file of ours is about 1.6 KiB; this bounds what a planted one costs.
constexpr size_t kPreviousFileCap = size_t{64} * 1024;

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

std::string base_name(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// The previous file's text, to carry the last success over a failed run.
// The directory may be writable by others: a link planted at the name is
// not followed, a FIFO or device is not opened for reading (O_NONBLOCK, then
// only a regular file is read), and no more than kPreviousFileCap bytes are
// read. Anything else counts as no previous file, and says so.
std::string read_previous(int dirfd, const std::string& name, const std::string& path) {
  UniqueFd fd(::openat(dirfd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
  struct stat st {};
  if (!fd.valid() && errno == ENOENT) return "";
  if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode)) {
    log::error("metrics file " + path + " is not a regular file (" +
               (fd.valid() ? std::string("a FIFO, device or directory") : std::string(std::strerror(errno))) +
               "); not reading it, replacing it");
    return "";
  }
  std::string text(kPreviousFileCap, '\0');
  size_t got = 0;
  (void)read_full(fd.get(), text.data(), text.size(), &got);
  text.resize(got);
  return text;
}

// A new file beside the metrics file, under a name no one can guess in
// advance: O_EXCL and O_NOFOLLOW, so nothing planted there is written
// through. A dot name: the textfile collector reads only *.prom, and ls
// hides it.
UniqueFd create_temporary(int dirfd, const std::string& name, std::string* tmp) {
  for (int attempt = 0; attempt < 16; ++attempt) {
    uint8_t r[8];
    if (::getrandom(r, sizeof r, 0) != static_cast<ssize_t>(sizeof r)) return UniqueFd();
    char hex[17];
    for (size_t i = 0; i < sizeof r; ++i) std::snprintf(hex + 2 * i, 3, "%02x", r[i]);
    *tmp = "." + name + "." + hex;
    UniqueFd fd(::openat(dirfd, tmp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (fd.valid() || errno != EEXIST) return fd;
  }
  return UniqueFd();
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

std::vector<MetricSample> metric_samples(const MetricsRun& run, const std::optional<std::string>& last_success) {
  const SyncStats& s = run.stats;
  std::string success = run.exit_code == 0 ? seconds_text(std::floor(run.end_time), 0) : last_success.value_or("0");
  return {
      {"sparsync_last_run_timestamp_seconds", "Unix time at the end of the last run, successful or not.",
       seconds_text(std::floor(run.end_time), 0)},
      {kLastSuccess, "Unix time at the end of the last successful run (0: none recorded).", success},
      {"sparsync_duration_seconds", "Wall time of the last run.", seconds_text(run.duration, 3)},
      {"sparsync_bytes_scanned", "Bytes of the image the last run compared.", integer(s.bytes_scanned)},
      {"sparsync_bytes_read", "Source bytes the last run read.", integer(s.bytes_read)},
      {"sparsync_target_bytes_hashed", "Target bytes the last run read to hash.", integer(s.target_bytes_hashed)},
      {"sparsync_change_list_used", "1 when the last run compared only what --changes listed, else 0.",
       run.change_list_used ? "1" : "0"},
      {"sparsync_bytes_data", "Bytes the last run sent as data.", integer(s.data_bytes)},
      {"sparsync_bytes_holes", "Bytes the last run sent as holes (zero runs).", integer(s.hole_bytes)},
      {"sparsync_bytes_wire_sent", "Protocol bytes this side wrote to the link in the last run.",
       integer(s.wire_bytes_out)},
      {"sparsync_bytes_wire_received", "Protocol bytes this side read from the link in the last run.",
       integer(s.wire_bytes_in)},
      {"sparsync_changed_blocks", "Blocks the last run had to write or zero.", integer(s.changed_blocks)},
      {"sparsync_undo_journal_bytes", "Size of the last run's undo journal on the target (0: none kept).",
       integer(s.undo_bytes)},
      {"sparsync_undo_generations_kept", "Generations of the undo journal the target keeps after the last run.",
       integer(s.generations_kept)},
      {"sparsync_exit_code", "Exit code of the last run (0 success; see README \"Exit codes\").",
       std::to_string(run.exit_code)},
  };
}

std::optional<ChangeInfo> change_info(const MetricsRun& run) {
  if (run.change_source.empty()) return std::nullopt;
  return ChangeInfo{"change_source=\"" + escape_label_value(run.change_source) + "\",fallback_reason=\"" +
                    escape_label_value(run.fallback_reason) + "\""};
}

std::string metrics_text(const MetricsRun& run, const std::optional<std::string>& last_success) {
  const std::string target = "target=\"" + escape_label_value(run.target) + "\"";
  const std::string label = "{" + target + "}";
  std::string out;
  for (const MetricSample& m : metric_samples(run, last_success)) {
    out += std::string("# HELP ") + m.name + " " + m.help + "\n";
    out += std::string("# TYPE ") + m.name + " gauge\n";
    out += std::string(m.name) + label + " " + m.value + "\n";
  }
  if (auto info = change_info(run)) {
    out += std::string("# HELP ") + kChangeInfoName + " " + kChangeInfoHelp + "\n";
    out += std::string("# TYPE ") + kChangeInfoName + " gauge\n";
    out += std::string(kChangeInfoName) + "{" + target + "," + info->labels + "} 1\n";
  }
  return out;
}

std::optional<std::string> find_last_success(const std::string& file_text, const std::string& labels_start) {
  std::istringstream in(file_text);
  const std::string prefix = std::string(kLastSuccess) + "{" + labels_start;
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
  // lstat: in a directory others can write, a link there may be planted.
  if (::lstat(path.c_str(), &st) == 0 && S_ISLNK(st.st_mode)) {
    return Status(ErrorKind::kUsage, "--metrics-file " + path +
                                         " is a symbolic link; give the file's own path (sparsync replaces the "
                                         "file and never writes or reads through a link)");
  }
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    return Status(ErrorKind::kUsage, "--metrics-file " + path + ": not a regular file");
  }
  return Status::ok();
}

Status replace_metrics_file(const std::string& path, const std::function<std::string(const std::string&)>& text_for) {
  std::string dir = directory_of(path);
  std::string name = base_name(path);
  UniqueFd dirfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dirfd.valid()) return errno_status(ErrorKind::kInternal, "metrics file: cannot open directory " + dir, errno);
  std::string text = text_for(read_previous(dirfd.get(), name, path));
  std::string tmp;
  UniqueFd fd = create_temporary(dirfd.get(), name, &tmp);
  if (!fd.valid()) return errno_status(ErrorKind::kInternal, "metrics file: cannot create a file in " + dir, errno);
  int err = 0;
  // Whatever the umask: the collector usually runs as another user.
  if (::fchmod(fd.get(), 0644) != 0) err = errno;
  if (err == 0) err = write_full(fd.get(), text.data(), text.size());
  if (err == 0 && ::fsync(fd.get()) != 0) err = errno;
  if (err == 0 && ::close(fd.release()) != 0) err = errno;
  // renameat replaces whatever is at the name (a planted link or FIFO
  // included) and never follows it.
  if (err == 0 && ::renameat(dirfd.get(), tmp.c_str(), dirfd.get(), name.c_str()) != 0) err = errno;
  if (err != 0) {
    ::unlinkat(dirfd.get(), tmp.c_str(), 0);
    return errno_status(ErrorKind::kInternal, "metrics file " + path, err);
  }
  if (::fsync(dirfd.get()) != 0) return errno_status(ErrorKind::kInternal, "metrics file: fsync of " + dir, errno);
  return Status::ok();
}

Status write_metrics_file(const std::string& path, const MetricsRun& run) {
  return replace_metrics_file(path, [&run](const std::string& previous) {
    std::optional<std::string> last_success;
    if (run.exit_code != 0) last_success = find_last_success(previous);
    return metrics_text(run, last_success);
  });
}

}  // namespace sparsync
