#include "support/command.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <regex>
#include <sstream>
#include <stdexcept>

#include "support/hang_report.h"

extern char** environ;

namespace sparsync::testing {

namespace {

// How long one command may run: below ctest's bound for a whole test (60 s
// for the ssh tests), so that a hang ends in a report of what it waited on
// rather than in ctest's kill, which says nothing.
// $SPARSYNC_TEST_COMMAND_SECONDS overrides it.
int command_seconds() {
  const char* v = std::getenv("SPARSYNC_TEST_COMMAND_SECONDS");
  const int seconds = v != nullptr ? std::atoi(v) : 0;
  return seconds > 0 ? seconds : 50;
}

ino_t inode_of(int fd) {
  struct stat st {};
  return ::fstat(fd, &st) == 0 ? st.st_ino : 0;
}

}  // namespace

bool CommandResult::mentions(const std::string& text) const {
  return out.find(text) != std::string::npos || err.find(text) != std::string::npos;
}

std::vector<std::string> CommandResult::err_lines() const {
  std::vector<std::string> lines;
  std::istringstream in(err);
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) lines.push_back(l);
  return lines;
}

CommandResult run_command(const std::vector<std::string>& argv) {
  int out_pipe[2], err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0 || ::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(out_pipe[0]);
    ::close(err_pipe[0]);
    throw std::runtime_error("cannot start " + argv[0]);
  }
  CommandResult r;
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  const std::vector<ino_t> pipes{inode_of(out_pipe[0]), inode_of(err_pipe[0])};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_count = 2;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(command_seconds());
  bool hung = false;
  while (open_count > 0) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      // The command, or a child of it holding its output, has not ended:
      // say what each waits on, then end them all.
      const std::vector<pid_t> holders = processes_holding(pid, pipes);
      r.err += "\n[test] " + argv[0] + " did not end within " + std::to_string(command_seconds()) +
               " s; what was still running:\n" + describe_processes(holders);
      for (pid_t p : holders) ::kill(p, SIGKILL);
      for (pollfd& f : fds) {
        if (f.fd >= 0) ::close(f.fd);
      }
      hung = true;
      break;
    }
    if (::poll(fds, 2, static_cast<int>(std::min<long long>(left, 1000))) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        sinks[i]->append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
      }
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.exit_code = WIFEXITED(status) && !hung ? WEXITSTATUS(status) : -1;
  return r;
}

CommandResult run_sparsync(const std::vector<std::string>& args) {
  std::vector<std::string> argv{SPARSYNC_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

std::optional<Summary> parse_summary(const std::string& text) {
  static const std::regex re(
      R"((synced|dry run) (.*) -> (.*): (.+) scanned, (.+) (?:sent as data|data would be sent), )"
      R"((.+) (?:sent as holes|would be zeroed), (\d+) blocks unchanged, (\d+) changed, )");
  std::smatch m;
  if (!std::regex_search(text, m, re)) return std::nullopt;
  Summary s;
  s.dry_run = m[1] == "dry run";
  s.source = m[2];
  s.target = m[3];
  s.scanned = m[4];
  s.data = m[5];
  s.holes = m[6];
  s.unchanged = std::stoull(m[7]);
  s.changed = std::stoull(m[8]);
  return s;
}

}  // namespace sparsync::testing
