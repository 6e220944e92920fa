// Process: starts a program asynchronously (stdout and stderr captured in
// temporary files), so a test can watch it run, signal it or its children
// mid-run, and then collect its exit code and output. wait_until() polls a
// condition with a deadline.
// Thread-safety: none; one owner per Process.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/command.h"

namespace sparsync::testing {

class Process {
 public:
  // Starts argv[0] (an absolute path) with argv; stdin is /dev/null.
  static std::unique_ptr<Process> start(const std::vector<std::string>& argv);
  ~Process();  // SIGKILLs and reaps a process still running
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  bool signal(int sig) const;
  // True until the process has exited (it is reaped here when it has).
  bool running();
  // Waits up to `seconds` for the exit; on timeout describes it and its
  // children on stderr (support/hang_report.h), SIGKILLs it and returns
  // nullopt. exit_code is -1 when a signal ended it.
  std::optional<CommandResult> wait(double seconds);
  // Direct children of the process, from /proc/<pid>/task/*/children.
  std::vector<pid_t> children() const;
  // Bytes of output so far (files are read, not consumed).
  std::string stdout_so_far() const;
  std::string stderr_so_far() const;

 private:
  Process() = default;
  void reap(int status);
  pid_t pid_ = -1;
  bool exited_ = false;
  int status_ = 0;
  std::string out_path_, err_path_;
};

// Polls `condition` every millisecond until it holds (true) or `seconds`
// pass (false).
bool wait_until(const std::function<bool()>& condition, double seconds);
// True while a process with this pid exists and is not a zombie.
bool pid_alive(pid_t pid);

}  // namespace sparsync::testing
