#include "support/hang_report.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>

namespace sparsync::testing {
namespace {

// Not files.h's directory_entries, which dies on a directory it cannot
// open: processes end while this walks /proc, and that is no error here.
std::vector<std::string> numeric_entries(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (!name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) { return std::isdigit(c); })) {
      names.push_back(name);
    }
  }
  ::closedir(d);
  return names;
}

// The first line of a small /proc file ("?" when it cannot be read).
std::string first_line(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  if (!std::getline(in, line)) return "?";
  return line.empty() ? "-" : line;
}

std::string command_line(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline", std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::replace(text.begin(), text.end(), '\0', ' ');
  return text.empty() ? "?" : text;
}

// The state letter from /proc/PID/stat (after the parenthesised name).
std::string state_of(const std::string& stat_path) {
  const std::string stat = first_line(stat_path);
  const size_t close = stat.rfind(')');
  return close == std::string::npos || close + 2 >= stat.size() ? "?" : stat.substr(close + 2, 1);
}

}  // namespace

std::vector<pid_t> processes_holding(pid_t pid, const std::vector<ino_t>& pipe_inodes) {
  std::vector<pid_t> holders{pid};
  std::vector<std::string> links;
  for (ino_t ino : pipe_inodes) links.push_back("pipe:[" + std::to_string(ino) + "]");
  for (const std::string& entry : numeric_entries("/proc")) {
    const pid_t p = static_cast<pid_t>(std::stol(entry));
    if (p == pid || p == ::getpid()) continue;
    const std::string fd_dir = "/proc/" + entry + "/fd";
    for (const std::string& fd : numeric_entries(fd_dir)) {
      char target[64] = {};
      const ssize_t n = ::readlink((fd_dir + "/" + fd).c_str(), target, sizeof target - 1);
      if (n > 0 && std::find(links.begin(), links.end(), std::string(target, static_cast<size_t>(n))) != links.end()) {
        holders.push_back(p);
        break;
      }
    }
  }
  return holders;
}

std::string describe_processes(const std::vector<pid_t>& pids) {
  std::ostringstream out;
  for (pid_t pid : pids) {
    const std::string proc = "/proc/" + std::to_string(pid);
    out << "  pid " << pid << " [" << state_of(proc + "/stat") << "] " << command_line(pid) << "\n";
    for (const std::string& tid : numeric_entries(proc + "/task")) {
      const std::string task = proc + "/task/" + tid;
      out << "    thread " << tid << " " << first_line(task + "/comm") << " [" << state_of(task + "/stat") << "] wchan "
          << first_line(task + "/wchan") << ", syscall " << first_line(task + "/syscall") << "\n";
    }
  }
  return out.str();
}

}  // namespace sparsync::testing
